"""The recovery feature's CLI command: re-issuing a lost backup code."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from core import db as database
from core import policy
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError, NotFound
from core.users import find_user
from recovery.backup import reissue_code
from recovery.settings import BackupSettings


@click.command("reissue-backup-code")
@click.argument("username")
@click.option(
    "--deliver",
    type=click.Choice(["email", "display"]),
    required=True,
    help="Mail the new code to the ID's address, or print it here.",
)
@with_appcontext
def reissue_backup_code(username: str, deliver: str) -> None:
    """Re-issue USERNAME's backup code (the owner lost it). Audited; the owner is told."""
    db_session = database.session()
    try:
        who = actor()
        user = find_user(db_session, username)
        if user is None or user.deleted_at is not None:
            raise NotFound("No such ID.")
        new_code = reissue_code(
            db_session,
            BackupSettings.from_config(policy.effective(db_session, current_app.config)),
            RequestContext.outside_request(who),
            user=user,
            deliver=deliver,
            actor=who,
        )
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    if new_code.code is None:
        click.echo(f"A new backup code for {username} was mailed to the ID's address.")
    else:
        click.echo(f"New backup code for {username} (shown once): {new_code.code}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(reissue_backup_code)
