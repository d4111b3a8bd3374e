"""An example partner website that signs its visitors in with Keystead over OpenID Connect.

Everything OIDC is done by Authlib's Flask client, as any website would: discovery, the code
flow with PKCE (S256), the nonce, and the ID token's signature, issuer, audience and expiry
checked against the keys the discovery document names. Keystead wrote none of the client side,
which is the point: ``tests/embed/test_example_website.py`` drives this app against a running
Keystead.

Configuration comes from environment variables; a mapping given to ``create_app`` overrides
them (the tests use that):

``KEYSTEAD_ISSUER``  Keystead's origin, e.g. ``http://localhost:5000`` (required)
``CLIENT_ID``        from ``flask --app app clients create`` (required)
``CLIENT_SECRET``    likewise; leave it out for a public client (PKCE only)
``SECRET_KEY``       signs this site's session cookie; a random one per start if unset
``EXAMPLE_ORIGIN``   this site's own origin (default ``http://127.0.0.1:8000``)

Run it: ``flask --app examples/website/app run --port 8000`` (see README.md beside this file).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from joserfc.errors import JoseError

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = ("KEYSTEAD_ISSUER", "CLIENT_ID", "CLIENT_SECRET", "SECRET_KEY", "EXAMPLE_ORIGIN")
SCOPE = "openid profile email"
# The ID token claims the home page shows, in this order.
SHOWN_CLAIMS = (
    "sub",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "amr",
    "acr",
    "auth_time",
)
# What can go wrong talking to the provider: an error it answered (OAuthError and friends), an
# ID token that fails verification (joserfc), or no answer at all.
PROVIDER_ERRORS = (AuthlibBaseError, JoseError, requests.RequestException)
ERROR_CODE = re.compile(r"[A-Za-z_]{1,64}")

log = logging.getLogger(__name__)
bp = Blueprint("site", __name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, root_path=HERE)
    app.config.update({key: os.environ.get(key) for key in SETTINGS})
    app.config.update(config or {})

    issuer = _required(app, "KEYSTEAD_ISSUER").rstrip("/")
    _check_issuer(issuer)
    app.config["KEYSTEAD_ISSUER"] = issuer
    _required(app, "CLIENT_ID")
    origin = (app.config["EXAMPLE_ORIGIN"] or "http://127.0.0.1:8000").rstrip("/")
    app.config["EXAMPLE_ORIGIN"] = origin
    if not app.config["SECRET_KEY"]:
        # Good enough for an example: sessions simply end when the process restarts.
        log.warning("SECRET_KEY is not set: using a random one, sessions end on restart")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: the cookie comes along when Keystead redirects the browser back to /callback
        # (a top-level GET), and stays home on cross-site POSTs.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=origin.startswith("https://"),
    )

    client_kwargs = {"scope": SCOPE, "code_challenge_method": "S256"}
    if not app.config["CLIENT_SECRET"]:
        # A public client has no secret: it identifies itself by client_id, PKCE does the rest.
        client_kwargs["token_endpoint_auth_method"] = "none"  # noqa: S105 (a method's name)
    oauth = OAuth(app)
    oauth.register(
        "keystead",
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"] or None,
        server_metadata_url=issuer + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    app.register_blueprint(bp)
    app.before_request(_check_origin)
    app.after_request(_security_headers)
    return app


def _required(app: Flask, key: str) -> str:
    value = app.config.get(key)
    if not value:
        raise RuntimeError(f"{key} is not set (see examples/website/README.md)")
    return str(value)


def _check_issuer(issuer: str) -> None:
    """https, or plain http on this machine only.

    Authlib's client does not refuse plain http itself (1.9 checks transport only on the server
    side, where loopback http is allowed), so this is the one place that does: tokens and the
    ID token's keys must not cross a network in clear text. No AUTHLIB_INSECURE_TRANSPORT is
    needed for a loopback issuer, and none is set: it would switch the check off for every
    Authlib server in the process, for every host."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise RuntimeError(
        f"KEYSTEAD_ISSUER must be an https origin (plain http only on this machine): {issuer!r}"
    )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def keystead() -> Any:
    """The Authlib client registered for Keystead in this app, its discovery document checked:
    the issuer it names must be the one configured (OpenID Connect Discovery §4.3), since
    Authlib checks the ID token's ``iss`` against that document."""
    client = current_app.extensions["authlib.integrations.flask_client"].keystead
    named = client.load_server_metadata().get("issuer")
    if named != current_app.config["KEYSTEAD_ISSUER"]:
        raise RuntimeError(f"the discovery document names another issuer: {named!r}")
    return client


def _issuer_mismatch(iss: Any) -> bool:
    """RFC 9207: the authorization response names its issuer; a different one (or none, from a
    provider that promises it) means the code did not come from Keystead."""
    if iss is None:
        metadata = keystead().load_server_metadata()
        return bool(metadata.get("authorization_response_iss_parameter_supported"))
    return iss != current_app.config["KEYSTEAD_ISSUER"]


def _check_origin() -> Response | None:
    """CSRF: browsers send Origin on every POST, and ours must be this site's own."""
    if (
        request.method == "POST"
        and request.headers.get("Origin") != current_app.config["EXAMPLE_ORIGIN"]
    ):
        abort(403)
    return None


def _security_headers(response: Response) -> Response:
    issuer = current_app.config["KEYSTEAD_ISSUER"]
    # Keystead's embed.js is the only script from elsewhere; the inline button frames Keystead.
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; script-src 'self' {issuer}; frame-src {issuer}; "
        "object-src 'none'; base-uri 'none'; form-action 'self' " + issuer,
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" on this
    # site's own form POSTs (Fetch: serializing a request origin), which _check_origin refuses.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _sign_in(token: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
    """Keeps who signed in, and the ID token to hint at sign-out. The access and refresh
    tokens are not needed here (everything shown is in the ID token): they are dropped."""
    session.clear()
    session["claims"] = dict(claims)
    session["id_token"] = token["id_token"]


# ---- pages ---------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    signed_out_of_keystead = False
    if "state" in request.args and "claims" not in session:
        # Back from Keystead's end-session endpoint: the state is the one /logout stored.
        try:
            keystead().validate_logout_response()
            signed_out_of_keystead = True
        except AuthlibBaseError:
            pass
    claims = session.get("claims") or {}
    rows = [(name, _shown(name, claims[name])) for name in SHOWN_CLAIMS if name in claims]
    return render_template("index.html", rows=rows, signed_out=signed_out_of_keystead)


def _shown(name: str, value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "auth_time" and isinstance(value, int):
        return f"{value} ({datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M:%S} UTC)"
    return str(value)


@bp.get("/login")
def login() -> Response:
    return keystead().authorize_redirect(current_app.config["EXAMPLE_ORIGIN"] + "/callback")


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    if "error" in request.args:
        # Back without a code: the person declined, say. Only the error code is shown; an
        # error_description is text from the URL, which anyone could have written.
        return _error_page(request.args["error"])
    if _issuer_mismatch(request.args.get("iss")):
        return _error_page("wrong_issuer")
    try:
        token = keystead().authorize_access_token()
    except PROVIDER_ERRORS as exc:
        return _error_page(getattr(exc, "error", None) or type(exc).__name__)
    claims = token.get("userinfo")
    if not claims:
        return _error_page("no_id_token")
    _sign_in(token, claims)
    return redirect("/")


def _error_page(error: str) -> tuple[str, int]:
    shown = error if ERROR_CODE.fullmatch(error) else "invalid_response"
    log.info("sign-in failed: %s", shown)
    return render_template("error.html", error=shown), 400


@bp.post("/logout")
def logout() -> Response:
    """Ends the session here, then asks Keystead to end its own (RP-initiated logout): Keystead
    sends the browser back to ``/`` with the state Authlib stored for the round trip."""
    id_token = session.get("id_token")
    session.clear()
    if not id_token:
        return redirect("/")
    config = current_app.config
    return keystead().logout_redirect(
        post_logout_redirect_uri=config["EXAMPLE_ORIGIN"] + "/",
        id_token_hint=id_token,
        client_id=config["CLIENT_ID"],
    )


# ---- the embedded sign-in button -----------------------------------------------------------


@bp.get("/embedded")
def embedded() -> str:
    """Keystead's ``<keystead-signin>`` element runs the sign-in in a popup (or inline, with
    ``?mode=inline``) and hands back a code; this server made the state, nonce and PKCE
    verifier, keeps them, and renders only the state, nonce and the verifier's S256 hash."""
    pending = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "code_verifier": secrets.token_urlsafe(48),
    }
    session["embedded"] = pending
    config = current_app.config
    return render_template(
        "embedded.html",
        issuer=config["KEYSTEAD_ISSUER"],
        client_id=config["CLIENT_ID"],
        redirect_uri=config["EXAMPLE_ORIGIN"] + "/callback",
        scope=SCOPE,
        state=pending["state"],
        nonce=pending["nonce"],
        code_challenge=create_s256_code_challenge(pending["code_verifier"]),
        inline=request.args.get("mode") == "inline",
    )


@bp.post("/embedded/complete")
def embedded_complete() -> tuple[Response, int]:
    """The page script posts the element's ``{code, state, iss}`` here. The pending values
    are taken out of the session first, so each page load's state serves one attempt."""
    pending = session.pop("embedded", None)
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else None
    state = body.get("state") if isinstance(body, dict) else None
    if (
        not pending
        or not isinstance(code, str)
        or not isinstance(state, str)
        or not hmac.compare_digest(state.encode(), pending["state"].encode())
    ):
        return jsonify(ok=False, error="bad_state"), 400
    if _issuer_mismatch(body.get("iss")):
        return jsonify(ok=False, error="wrong_issuer"), 400
    client = keystead()
    try:
        token = client.fetch_access_token(
            redirect_uri=current_app.config["EXAMPLE_ORIGIN"] + "/callback",
            code=code,
            code_verifier=pending["code_verifier"],
        )
        claims = client.parse_id_token(token, nonce=pending["nonce"])
    except PROVIDER_ERRORS as exc:
        log.info("embedded sign-in failed: %s", exc)
        error = getattr(exc, "error", None) or type(exc).__name__
        return jsonify(ok=False, error="exchange_failed", detail=error), 400
    if not claims:
        return jsonify(ok=False, error="exchange_failed", detail="no_id_token"), 400
    _sign_in(token, claims)
    return jsonify(ok=True), 200
