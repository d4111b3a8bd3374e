"""Keystead's one way in: ``create_app()`` builds the Flask app from layered configuration,
wires extensions, blueprints, the error handlers and the CLI commands.

Serve with ``gunicorn 'app:create_app()'`` (see the README) or ``make run`` in development.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click
from flask import Flask, Response, jsonify, render_template, request, send_from_directory
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import notify
from core import audit, policy, web
from core import config as settings
from core import db as database
from core.errors import AppError, MethodNotAllowed, NotFound, PayloadTooLarge, RateLimited
from core.security import install_rate_limits, limit_retry_after

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("keystead")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("KEYSTEAD_INSTANCE_PATH", str(ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    _configure(app, test_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if app.config["TRUSTED_PROXY_COUNT"]:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]

    database.init_app(app)
    policy.init_app(app)
    web.init_app(app)
    audit.connect()

    from recovery import erasure as recovery_erasure
    from recovery import views as recovery_views
    from webauthn import account_views
    from webauthn.views import api as webauthn_api
    from webauthn.views import pages as webauthn_pages

    app.register_blueprint(webauthn_pages)
    app.register_blueprint(webauthn_api)
    app.register_blueprint(account_views.api)
    account_views.register_page_extras()
    app.register_blueprint(recovery_views.pages)
    app.register_blueprint(recovery_views.api)
    recovery_views.register_answer_extras()
    recovery_erasure.connect()
    notify.init_app(app)  # Flask-Mail, the delivery worker, the dev mailbox
    app.add_url_rule("/api/openapi.json", "openapi", _openapi)
    install_rate_limits(app)
    _register_error_handlers(app)
    _register_commands(app)

    @app.context_processor
    def _page_globals() -> dict[str, Any]:
        return {"rp_name": app.config["RP_NAME"]}

    return app


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.from_mapping(settings.defaults())
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(settings.from_environment(os.environ))
    if test_config:
        app.config.from_mapping(test_config)
    settings.finalise(app.config, app.instance_path)
    app.config["TESTING"] = bool(app.config.get("TESTING"))
    # Flask's own signed-cookie session is unused (sign-in state is server-side); keep its
    # cookie, should anything ever touch it, as strict as ours.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")


def _openapi() -> Response:
    return send_from_directory(ROOT / "static", "openapi.json", mimetype="application/json")


# ---- errors: one place maps every failure to JSON (API) or a page (everything else) ---------


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.mimetype == "application/json"


def _answer(error: AppError) -> tuple[Response | str, int]:
    if _wants_json():
        response = jsonify(error=error.code, message=error.message)
        response.status_code = error.status
        response.headers.update(error.headers)
        return response, error.status
    page = render_template(
        "error.html", status=error.status, error=error.code, message=error.message
    )
    return page, error.status


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(error: AppError) -> tuple[Response | str, int]:
        db_session = database.session()
        if error.keep_changes:
            db_session.commit()
        else:
            db_session.rollback()
        if error.detail:
            log.info("%s %s: %s (%s)", request.method, request.path, error.code, error.detail)
        return _answer(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response | str, int]:
        database.session().rollback()
        mapped: AppError
        if error.code == 404:
            mapped = NotFound()
        elif error.code == 405:
            mapped = MethodNotAllowed()
        elif error.code == 413:
            mapped = PayloadTooLarge()
        elif error.code == 429:
            mapped = RateLimited(limit_retry_after())
        else:
            mapped = AppError(error.description)
            mapped.status = error.code or 400
            mapped.code = (error.name or "error").lower().replace(" ", "_")
        return _answer(mapped)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response | str, int]:
        # A bug, not bad input: log it whole, answer without details, change nothing.
        database.session().rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        internal = AppError("Something went wrong on our side; nothing was changed.")
        internal.status, internal.code = 500, "internal_error"
        return _answer(internal)

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error: SQLAlchemyError) -> tuple[Response | str, int]:
        database.session().rollback()
        log.exception("database error on %s %s", request.method, request.path)
        unavailable = AppError("The service is busy; try again in a moment.")
        unavailable.status, unavailable.code = 503, "unavailable"
        return _answer(unavailable)


# ---- CLI -----------------------------------------------------------------------------------


def _register_commands(app: Flask) -> None:
    @app.cli.group("db")
    def db_group() -> None:
        """Database schema (Alembic migrations)."""

    @db_group.command("upgrade")
    @click.argument("revision", default="heads")
    def upgrade(revision: str) -> None:
        """Apply migrations up to REVISION (default: head)."""
        database.upgrade(app, revision)
        click.echo(f"database at {revision}: {database.describe(app)}")

    @app.cli.command("purge")
    def purge() -> None:
        """Delete expired challenges and sessions that ended over 30 days ago (for cron)."""
        from core.sessions import purge_ended
        from webauthn.challenges import purge_expired

        db_session = database.session()
        now = database.utcnow()
        challenges, ended = purge_expired(db_session, now), purge_ended(db_session, now)
        db_session.commit()
        click.echo(f"deleted {challenges} expired challenges, {ended} ended sessions")

    @app.cli.command("reissue-backup-code")
    @click.argument("username")
    @click.option(
        "--deliver",
        type=click.Choice(["email", "display"]),
        required=True,
        help="Mail the new code to the ID's address, or print it here.",
    )
    def reissue_backup_code(username: str, deliver: str) -> None:
        """Re-issue USERNAME's backup code (the owner lost it). Audited; the owner is told."""
        from recovery.backup import reissue_code
        from recovery.settings import BackupSettings

        db_session = database.session()
        try:
            new_code = reissue_code(
                db_session,
                BackupSettings.from_config(policy.effective(db_session, app.config)),
                username=username,
                deliver=deliver,
                actor=f"cli:{os.environ.get('USER', 'admin')}",
                now=database.utcnow(),
            )
        except AppError as error:
            db_session.rollback()
            raise click.ClickException(error.message) from error
        db_session.commit()
        if new_code.code is None:
            click.echo(f"A new backup code for {username} was mailed to the ID's address.")
        else:
            click.echo(f"New backup code for {username} (shown once): {new_code.code}")

    @app.cli.command("unblock-device")
    @click.argument("device_id", type=int)
    def unblock_device(device_id: int) -> None:
        """Unblock DEVICE_ID (e.g. the owner blocked their last device by mistake). Audited;
        every device of the ID and its address are told."""
        from webauthn.devices import unblock

        db_session = database.session()
        try:
            device = unblock(
                db_session,
                device_id=device_id,
                actor=f"cli:{os.environ.get('USER', 'admin')}",
                now=database.utcnow(),
            )
        except AppError as error:
            db_session.rollback()
            raise click.ClickException(error.message) from error
        db_session.commit()
        click.echo(f"Unblocked device {device.id} ({device.name}); it can sign in again.")

    @app.cli.command("send-mail")
    @click.option("--test", "test_to", metavar="ADDRESS", help="First queue a test mail.")
    def send_mail(test_to: str | None) -> None:
        """Deliver all undelivered mail now, ignoring retry backoff (for cron or a manual push)."""
        from notify import delivery, outbox

        if not app.config["MAIL_SERVER"]:
            raise click.ClickException("MAIL_SERVER is not set: mail stays in the outbox")
        if test_to:
            db_session = database.session()
            try:
                outbox.enqueue(db_session, to=test_to, template="test", context={}, kind="test")
            except ValueError as error:
                raise click.ClickException(str(error)) from error
            db_session.commit()
        summary = delivery.deliver_all(app)
        click.echo(f"sent {summary.sent}, failed {summary.failed}, undelivered {summary.waiting}")
        if summary.failed:
            raise SystemExit(1)

    _register_policy_commands(app)

    @app.cli.command("config-table")
    def config_table() -> None:
        """Print the configuration reference as a Markdown table (the README's)."""
        click.echo(settings.markdown_table())


def _register_policy_commands(app: Flask) -> None:
    @app.cli.group("policy")
    def policy_group() -> None:
        """Policies: settings that change while the server runs (core/policy.py)."""

    @policy_group.command("list")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per policy.")
    def policy_list(as_json: bool) -> None:
        """Each policy's default, configured, stored and effective value."""
        described = policy.describe(database.session(), app.config)
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
            policy.set_policy(
                db_session,
                key,
                parsed,
                now=database.utcnow(),
                actor=f"cli:{os.environ.get('USER', 'admin')}",
            )
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
                db_session,
                key,
                now=database.utcnow(),
                actor=f"cli:{os.environ.get('USER', 'admin')}",
            )
        except AppError as error:
            db_session.rollback()
            raise click.ClickException(error.message) from error
        db_session.commit()
        configured = json.dumps(app.config[key])
        if removed:
            click.echo(f"{key} = {configured} (configured; the stored value was removed)")
        else:
            click.echo(f"{key} = {configured} (configured; nothing was stored)")
