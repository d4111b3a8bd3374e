"""``flask --app app admin grant|revoke USERNAME --role admin|helpdesk``: how the first
administrator is made (there is no default one) and how a lost one is repaired. Audited with
the command's actor."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from admin import roles
from admin.models import Role
from core import db as database
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError
from core.users import find_user

admin_group = AppGroup("admin", help="Administrators and helpdesk staff.")
ROLE = click.Choice([r.value for r in Role])


def _change(username: str, role: str, grant: bool) -> bool:
    db = database.session()
    user = find_user(db, username)
    if user is None or user.deleted_at is not None:
        raise click.ClickException(f"No ID is called {username!r}.")
    who = actor()
    ctx = RequestContext.outside_request(who)
    change = roles.grant if grant else roles.revoke
    try:
        changed = change(db, ctx, user, Role(role), actor=who)
    except AppError as error:
        db.rollback()
        raise click.ClickException(error.message) from error
    db.commit()
    return changed


@admin_group.command("grant")
@click.argument("username")
@click.option("--role", type=ROLE, required=True)
def grant(username: str, role: str) -> None:
    """Give USERNAME a role."""
    changed = _change(username, role, grant=True)
    click.echo(f"{username} {'is now' if changed else 'was already'} {role}.")


@admin_group.command("revoke")
@click.argument("username")
@click.option("--role", type=ROLE, required=True)
def revoke(username: str, role: str) -> None:
    """Take a role from USERNAME (never the last admin's)."""
    changed = _change(username, role, grant=False)
    click.echo(f"{username} {'is no longer' if changed else 'was not'} {role}.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(admin_group)
