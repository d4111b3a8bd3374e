"""``flask --app app admin grant|revoke USERNAME --role admin|helpdesk``: how the first
administrator is made (there is no default one) and how a lost one is repaired;
``admin invite --role … --email ADDRESS``: a single-use enrollment link (24 hours) for a new
administrator or helpdesk, which works whatever REGISTRATION says (so a closed server gets its
first administrator). Audited with the command's actor."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from admin import invitations, roles
from admin.models import Role
from core import db as database
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError
from core.users import find_user
from webauthn.models import InvitationDelivery

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


ENROLLMENT_LINK_TTL = 86400  # the CLI's link: 24 hours, whatever INVITATION_TTL says


@admin_group.command("invite")
@click.option("--role", type=ROLE, required=True)
@click.option("--email", required=True, help="The new ID's address.")
@click.option("--username", default=None, help="The username the new ID must take.")
def invite(role: str, email: str, username: str | None) -> None:
    """Print a single-use enrollment link (valid 24 hours) for a new ID with ROLE. It works
    even when registration is closed or by invitation only."""
    db = database.session()
    who = actor()
    try:
        created = invitations.invite(
            db,
            RequestContext.outside_request(who),
            email=email,
            username=username,
            role=Role(role),
            delivery=InvitationDelivery.DISPLAY,
            ttl=ENROLLMENT_LINK_TTL,
            origin=current_app.config["ORIGIN"],
            actor=who,
        )
    except AppError as error:
        db.rollback()
        raise click.ClickException(error.message) from error
    db.commit()
    expires = created.invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Enrollment link for {created.invitation.email} ({role}), once, until {expires}:")
    click.echo(created.url)


def register_cli(app: Flask) -> None:
    app.cli.add_command(admin_group)
