"""The passkey feature's CLI commands: sweeping expired challenges and ended sessions, and
unblocking a device."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from core import db as database
from core import policy, retention
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError
from core.sessions import purge_ended
from webauthn.challenges import purge_expired
from webauthn.devices import unblock


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete expired challenges, sessions that ended over 30 days ago, and what other
    features registered (``core.retention``: expired website codes and tokens, audit events
    older than AUDIT_RETENTION_DAYS) (for cron)."""
    db_session = database.session()
    now = database.utcnow()
    challenges, ended = purge_expired(db_session, now), purge_ended(db_session, now)
    others = retention.sweep_registered(db_session, now, policy.current())
    db_session.commit()
    more = "".join(f", {count} {what}" for what, count in others.items())
    click.echo(f"deleted {challenges} expired challenges, {ended} ended sessions{more}")


@click.command("unblock-device")
@click.argument("device_id", type=int)
@with_appcontext
def unblock_device(device_id: int) -> None:
    """Unblock DEVICE_ID (e.g. the owner blocked their last device by mistake). Audited;
    every device of the ID and its address are told."""
    db_session = database.session()
    try:
        who = actor()
        device = unblock(
            db_session, RequestContext.outside_request(who), device_id=device_id, actor=who
        )
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    click.echo(f"Unblocked device {device.id} ({device.name}); it can sign in again.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(purge)
    app.cli.add_command(unblock_device)
