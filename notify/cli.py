"""The notification feature's CLI command: delivering the outbox now."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from core import db as database
from core.clock import utcnow
from notify import delivery, outbox


@click.command("send-mail")
@click.option("--test", "test_to", metavar="ADDRESS", help="First queue a test mail.")
@with_appcontext
def send_mail(test_to: str | None) -> None:
    """Deliver all undelivered mail now, ignoring retry backoff (for cron or a manual push)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["MAIL_SERVER"]:
        raise click.ClickException("MAIL_SERVER is not set: mail stays in the outbox")
    if test_to:
        db_session = database.session()
        try:
            outbox.enqueue(
                db_session, utcnow(), to=test_to, template="test", context={}, kind="test"
            )
        except ValueError as error:
            raise click.ClickException(str(error)) from error
        db_session.commit()
    summary = delivery.deliver_all(app)
    click.echo(f"sent {summary.sent}, failed {summary.failed}, undelivered {summary.waiting}")
    if summary.failed:
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    app.cli.add_command(send_mail)
