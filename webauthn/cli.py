"""The passkey feature's CLI commands: sweeping expired challenges and ended sessions,
unblocking a device, and loading the FIDO Metadata Service BLOB (``mds load``)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core import db as database
from core import policy, retention
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError
from core.sessions import purge_ended
from webauthn import metadata
from webauthn.challenges import purge_expired
from webauthn.devices import unblock

mds_group = AppGroup("mds", help="The FIDO Metadata Service: authenticator models.")


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


@mds_group.command("load")
@click.argument("blob_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trust-root",
    type=click.Path(exists=True, dir_okay=False),
    help="The certificate (PEM or DER) the BLOB must chain to (default: MDS_TRUST_ROOT, else "
    "the FIDO Alliance root).",
)
def load_mds(blob_file: str, trust_root: str | None) -> None:
    """Load a FIDO Metadata Service BLOB (downloaded from https://mds3.fidoalliance.org/):
    its signature, certificate chain and number are checked, then its models replace the
    loaded ones. Audited."""
    db_session = database.session()
    who = actor()
    try:
        with open(blob_file, "rb") as handle:
            blob = handle.read(metadata.MAX_BLOB_BYTES + 1)
        info = metadata.load_blob(
            db_session,
            RequestContext.outside_request(who),
            blob,
            trust_root_path=trust_root or current_app.config["MDS_TRUST_ROOT"],
            actor=who,
        )
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    click.echo(
        f"Loaded {info.entries} authenticator models from BLOB number {info.no}; "
        f"next update due {info.next_update.isoformat()}."
    )
    if info.next_update < info.loaded_at.date():
        click.echo("Warning: this BLOB's next update is already past; fetch a newer one.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(purge)
    app.cli.add_command(unblock_device)
    app.cli.add_command(mds_group)
