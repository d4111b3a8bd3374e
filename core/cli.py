"""Core's CLI commands: the database schema, policies and the configuration reference. Each
package adds its own commands the same way (``register_cli``, called by ``create_app``)."""

from __future__ import annotations

import json
import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core import config as settings
from core import db as database
from core import policy
from core.context import RequestContext
from core.errors import AppError

db_group = AppGroup("db", help="Database schema (Alembic migrations).")


@db_group.command("upgrade")
@click.argument("revision", default="heads")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    database.upgrade(app, revision)
    click.echo(f"database at {revision}: {database.describe(app)}")


policy_group = AppGroup(
    "policy", help="Policies: settings that change while the server runs (core/policy.py)."
)


@policy_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per policy.")
def policy_list(as_json: bool) -> None:
    """Each policy's default, configured, stored and effective value."""
    described = policy.describe(database.session(), current_app.config)
    if as_json:
        click.echo(json.dumps([d.to_json() for d in described], indent=2))
        return
    for d in described:
        line = f"{d.key} = {json.dumps(d.effective)}"
        if d.stored is not None:
            line += f"  (stored {json.dumps(d.stored)}; configured {json.dumps(d.configured)})"
        click.echo(line)


@policy_group.command("set")
@click.argument("key")
@click.argument("value")
def policy_set(key: str, value: str) -> None:
    """Store VALUE for KEY: every server process applies it from its next request."""
    db_session = database.session()
    try:
        parsed = policy.parse_value(key, value)
        policy.set_policy(db_session, RequestContext.outside_request(), key, parsed, actor=actor())
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    click.echo(f"{key} = {json.dumps(parsed)} (stored)")


@policy_group.command("unset")
@click.argument("key")
def policy_unset(key: str) -> None:
    """Remove KEY's stored value: the configured one applies again."""
    db_session = database.session()
    try:
        removed = policy.unset_policy(
            db_session, RequestContext.outside_request(), key, actor=actor()
        )
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    configured = json.dumps(current_app.config[key])
    if removed:
        click.echo(f"{key} = {configured} (configured; the stored value was removed)")
    else:
        click.echo(f"{key} = {configured} (configured; nothing was stored)")


@click.command("config-table")
@with_appcontext
def config_table() -> None:
    """Print the configuration reference as a Markdown table (the README's)."""
    click.echo(settings.markdown_table())


def actor() -> str:
    """Who ran an audited command, as the audit trail names it."""
    return f"cli:{os.environ.get('USER', 'admin')}"


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(policy_group)
    app.cli.add_command(config_table)
