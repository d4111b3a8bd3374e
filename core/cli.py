"""Core's CLI commands: the database schema and the configuration reference. Each package adds
its own commands the same way (``register_cli``, called by ``create_app``)."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core import config as settings
from core import db as database

db_group = AppGroup("db", help="Database schema (Alembic migrations).")


@db_group.command("upgrade")
@click.argument("revision", default="heads")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    database.upgrade(app, revision)
    click.echo(f"database at {revision}: {database.describe(app)}")


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
    app.cli.add_command(config_table)
