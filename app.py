"""Keystead's one way in: ``create_app()`` builds the Flask app from layered configuration,
wires extensions, blueprints, the error handlers and each package's CLI commands.

Serve with ``gunicorn 'app:create_app()'`` (see the README) or ``make run`` in development.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request, send_from_directory
from pydantic import ConfigDict
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import notify
from core import audit, branding, policy, users, web
from core import config as settings
from core import db as database
from core.errors import (
    AppError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
)
from core.ratelimit import install_rate_limits, limit_retry_after
from core.schemas import Answer, Endpoint, document
from core.users import TextRule

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

    from admin import audit as admin_audit
    from admin import audit_views as admin_audit_views
    from admin import authenticator_views, branding_views, website_views
    from admin import cli as admin_cli
    from admin import invitations as admin_invitations
    from admin import roles as admin_roles
    from admin import stats_views as admin_stats_views
    from admin.invitation_views import api as admin_invitations_api
    from admin.page_views import pages as admin_pages
    from admin.views import api as admin_api
    from core import cli as core_cli
    from embed import cli as embed_cli
    from embed import connection_views
    from embed import provider as oidc_provider
    from embed import tokens as oidc_tokens
    from embed.frame_views import bp as embed_frame
    from embed.views import oidc as oidc_views
    from notify import cli as notify_cli
    from recovery import address_views
    from recovery import cli as recovery_cli
    from recovery import erasure as recovery_erasure
    from recovery import views as recovery_views
    from webauthn import account_views
    from webauthn import cli as webauthn_cli
    from webauthn.views import api as webauthn_api
    from webauthn.views import pages as webauthn_pages

    app.register_blueprint(webauthn_pages)
    app.register_blueprint(webauthn_api)
    app.register_blueprint(account_views.api)
    account_views.register_page_extras()
    app.register_blueprint(recovery_views.pages)
    app.register_blueprint(recovery_views.api)
    app.register_blueprint(address_views.api)
    recovery_views.register_answer_extras()
    recovery_erasure.connect()
    oidc_provider.init_app(app)
    app.register_blueprint(oidc_views)
    app.register_blueprint(embed_frame)
    app.register_blueprint(admin_api)
    app.register_blueprint(admin_pages)
    app.register_blueprint(authenticator_views.api)
    app.register_blueprint(admin_audit_views.api)
    app.register_blueprint(admin_stats_views.api)
    admin_audit.connect()  # `flask purge` sweeps audit events past their retention
    app.register_blueprint(admin_invitations_api)
    admin_invitations.connect()  # an invitation's role, granted when its ID is created
    app.register_blueprint(branding_views.api)
    app.register_blueprint(branding_views.public)
    app.register_blueprint(website_views.api)
    app.register_blueprint(connection_views.connections)
    connection_views.register_page_extras()  # the account page's "Connected websites"
    oidc_tokens.connect()  # what websites hold dies with the device and the ID
    admin_roles.connect()  # a deleted ID keeps no role
    notify.init_app(app)  # Flask-Mail, the delivery worker, the dev mailbox
    app.add_url_rule("/api/openapi.json", "openapi", _openapi)
    app.jinja_env.globals["rules"] = _input_rules()
    install_rate_limits(app)
    _register_error_handlers(app)
    for package_cli in (core_cli, webauthn_cli, recovery_cli, notify_cli, embed_cli, admin_cli):
        package_cli.register_cli(app)  # each package adds its own commands

    @app.context_processor
    def _page_globals() -> dict[str, Any]:
        brand = _branding(app)
        # ``rp_name``: the organisation's name as pages show it (the branding's, not the
        # WebAuthn relying party's, which stays RP_NAME).
        return {"rp_name": brand.name, "branding": brand}

    return app


def _branding(app: Flask) -> branding.Brand:
    """The branding for a page; its defaults when the database cannot say (the page that
    tells a database failure must still render)."""
    try:
        return web.current_branding()
    except SQLAlchemyError:
        database.session().rollback()
        log.warning("branding unavailable: the page shows the defaults", exc_info=True)
        return branding.read_defaults(app.config["RP_NAME"])


def _input_rules() -> dict[str, TextRule]:
    """What the pages' inputs render as minlength, maxlength and pattern (the ``limits``
    macro): the rules the server checks, declared once where they are checked."""
    from recovery.pairing import CONFIRMATION
    from webauthn.devices import DEVICE_NAME

    return {
        "username": users.USERNAME,
        "email": users.EMAIL,
        "display_name": users.DISPLAY_NAME,
        "device_name": DEVICE_NAME,
        "pairing_number": CONFIRMATION,
    }


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


class OpenApiDocument(Answer):
    """OpenAPI 3.1 document"""

    model_config = ConfigDict(extra="allow")
    openapi: str


document(None, openapi=Endpoint("This document", tag="meta", responses={200: OpenApiDocument}))


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
        return _answer(InternalError())

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error: SQLAlchemyError) -> tuple[Response | str, int]:
        database.session().rollback()
        log.exception("database error on %s %s", request.method, request.path)
        # No Retry-After: nobody knows when the database answers again.
        return _answer(ServiceUnavailable())
