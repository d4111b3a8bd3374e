"""The OpenID Connect provider's endpoints. Discovery names every other one. Authlib
(``embed.provider``) answers the token, userinfo, revocation, introspection and end-session
requests; the authorization endpoint decides what a request still needs
(``embed.authorize.decide``: a sign-in, consent, or nothing) and lets Authlib issue the code.

The token, userinfo, revocation and introspection endpoints are called by websites' servers
with client credentials or a bearer token, never with Keystead's cookies: they are exempt from
the Origin (CSRF) check. The authorization and end-session endpoints act on the browser's
Keystead session and keep it."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import MultiDict

from core import db as database
from core.encoding import b64url
from core.models import LoginSession
from core.security import keyed_hash
from core.web import (
    clear_session_cookie,
    csrf_exempt,
    page_csp,
    request_context,
    signed_in_user,
)
from embed import keys, tokens
from embed.authorize import BadPrompt, Facts, Next, decide, parse_max_age, parse_prompt
from embed.clients import origin_of
from embed.errors import UnknownWebsite
from embed.models import Client
from embed.provider import ParamsRequest, SignedInUser, issuer, server
from embed.requests import RequestRefused, code_request, registered_client

oidc = Blueprint("oidc", __name__)

# How long the sign-in page may take before it comes back to the authorization request.
CONTINUATION_TTL = 600


def _config(key: str) -> Any:
    return current_app.config[key]


# ---- discovery and keys --------------------------------------------------------------------


@oidc.get("/.well-known/openid-configuration")
def discovery() -> Response:
    base = issuer()
    metadata = OpenIDProviderMetadata(
        issuer=base,
        authorization_endpoint=base + url_for("oidc.authorize"),
        token_endpoint=base + url_for("oidc.token"),
        userinfo_endpoint=base + url_for("oidc.userinfo"),
        jwks_uri=base + url_for("oidc.jwks"),
        revocation_endpoint=base + url_for("oidc.revoke"),
        introspection_endpoint=base + url_for("oidc.introspect"),
        end_session_endpoint=base + url_for("oidc.end_session"),
        scopes_supported=list(tokens.SCOPES_SUPPORTED),
        response_types_supported=["code"],
        response_modes_supported=["query", "web_message"],
        grant_types_supported=["authorization_code", "refresh_token"],
        subject_types_supported=[_config("OIDC_SUBJECT_TYPE")],
        id_token_signing_alg_values_supported=["RS256", "ES256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        revocation_endpoint_auth_methods_supported=[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "at_hash",
            "amr",
            "acr",
            "name",
            "preferred_username",
            "email",
            "email_verified",
        ],
        acr_values_supported=["phrh", "phr"],
        prompt_values_supported=["none", "login", "consent"],
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        authorization_response_iss_parameter_supported=True,
    )
    metadata.validate()
    return _public_json(dict(metadata))


@oidc.get("/oauth/jwks")
def jwks() -> Response:
    db = database.session()
    body = keys.public_jwks(db, request_context().now, id_token_ttl=_config("OIDC_ID_TOKEN_TTL"))
    db.commit()  # the first keys, made on first use
    return _public_json(body)


def _public_json(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    # Public documents any website's script may read.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# ---- authorization -------------------------------------------------------------------------


@oidc.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    return _authorize(request.args, requested_at=None)


@oidc.route("/oauth/continue/<token>", methods=["GET", "POST"])
def resume(token: str) -> ResponseReturnValue:
    """The same authorization request, after the sign-in page."""
    args, requested_at = _read_continuation(token)
    return _authorize(args, requested_at=requested_at)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(_config("SECRET_KEY"), salt="oidc-continue")


def _continuation(args: MultiDict[str, str], now: datetime) -> str:
    """A signed link back to this authorization request (its parameters and when it was
    made), short enough for ``?next=`` and free of anything ``safe_next_path`` refuses."""
    token = _serializer().dumps(
        {"q": urlencode(list(args.items(multi=True))), "t": now.timestamp()}
    )
    return url_for("oidc.resume", token=token)


def _read_continuation(token: str) -> tuple[MultiDict[str, str], datetime]:
    try:
        data = _serializer().loads(token)
        requested_at = datetime.fromtimestamp(float(data["t"]), UTC)
        args = MultiDict(parse_qsl(str(data["q"]), keep_blank_values=True))
    except (BadSignature, KeyError, TypeError, ValueError) as error:
        raise UnknownWebsite() from error
    if (request_context().now - requested_at).total_seconds() > CONTINUATION_TTL:
        raise UnknownWebsite("This sign-in link expired. Go back to the website and try again.")
    return args, requested_at


def _consent_token(login_session: LoginSession, path: str) -> str:
    """The consent form's CSRF field: bound to the Keystead session and to this request."""
    return b64url(
        keyed_hash(_config("SECRET_KEY"), "oidc-consent", login_session.token_hash + path.encode())
    )


def _authorize(args: MultiDict[str, str], *, requested_at: datetime | None) -> ResponseReturnValue:
    db = database.session()
    ctx = request_context()
    client, redirect_uri = registered_client(db, args)  # a page (400), never a redirect
    mode = args.get("response_mode") or "query"
    if mode == "web_message" and origin_of(redirect_uri) not in client.origins:
        raise UnknownWebsite()
    state = args.get("state")

    def refuse(error: str, description: str) -> ResponseReturnValue:
        return _answer(
            client,
            redirect_uri,
            mode,
            {"error": error, "error_description": description, "state": state},
        )

    if mode not in ("query", "web_message"):
        mode = "query"
        return refuse("invalid_request", "response_mode must be query or web_message.")
    try:
        checked = code_request(client, redirect_uri, args)
        prompts, max_age = parse_prompt(args.get("prompt")), parse_max_age(args.get("max_age"))
    except RequestRefused as error:
        return refuse(error.error, error.description)
    except BadPrompt as error:
        return refuse("invalid_request", f"Invalid {error}.")

    who = None
    if current_user.is_authenticated and ctx.login_session is not None:
        who = tokens.authentication_of(db, ctx.login_session, signed_in_user())
    scopes = checked.scope.split()
    consent_given = False
    if request.method == "POST" and who is not None and ctx.login_session is not None:
        expected = _consent_token(ctx.login_session, request.full_path)
        if not hmac.compare_digest(request.form.get("csrf", ""), expected):
            raise UnknownWebsite("This page expired. Go back to the website and try again.")
        if request.form.get("decision") == "deny":
            return refuse("access_denied", "The person declined to sign in to this website.")
        if request.form.get("decision") == "allow":
            tokens.record_consent(db, ctx, who.user.id, client, scopes)
            consent_given = True
    facts = Facts(
        prompts=prompts,
        max_age=max_age,
        now=ctx.now,
        auth_time=who.auth_time if who else None,
        user_verified=who.user_verified if who else False,
        requested_at=requested_at,
        consent_needed=who is not None and tokens.consent_needed(db, who.user.id, client, scopes),
        consent_given=consent_given,
    )
    match decide(facts):
        case Next.SIGN_IN:
            fresh = "login" in prompts or max_age is not None
            target = url_for(
                "pages.signin",
                next=_continuation(args, ctx.now),
                direct=1,
                fresh=1 if fresh and who is not None else None,
                hint=(args.get("login_hint") or "")[:64] or None,
            )
            return redirect(target)
        case Next.LOGIN_REQUIRED:
            return refuse("login_required", "A sign-in is required.")
        case Next.CONSENT_REQUIRED:
            return refuse("consent_required", "The person has not agreed to share this yet.")
        case Next.CONSENT:
            assert who is not None and ctx.login_session is not None
            page = render_template(
                "embed/consent.html",
                website=client.name,
                origin=tokens.website_origin(client),
                scopes=[tokens.SCOPE_WORDS[s] for s in scopes],
                csrf=_consent_token(ctx.login_session, request.full_path),
                action=request.full_path,
                user=who.user,
            )
            return _form_may_leave_for(page, redirect_uri)
    assert who is not None
    oauth_request = ParamsRequest("GET", MultiDict(args), MultiDict())
    try:
        grant = server.get_consent_grant(oauth_request, end_user=SignedInUser(who))
    except OAuth2Error as error:
        return refuse(error.error, error.description or "")
    response = server.create_authorization_response(
        oauth_request, grant_user=SignedInUser(who), grant=grant
    )
    db.commit()
    if mode == "web_message":
        params = dict(parse_qsl(urlsplit(response.location or "").query))
        return _web_message(redirect_uri, params)
    return response


def _form_may_leave_for(page: str, *uris: str) -> Response:
    """A page whose form's answer redirects to the website: CSP's ``form-action`` also
    governs where a form submission may be redirected, so it names the website's origin."""
    response = Response(page)
    response.headers["Content-Security-Policy"] = page_csp(
        form_action=[origin_of(uri) for uri in uris]
    )
    return response


def _answer(
    client: Client, redirect_uri: str, mode: str, params: dict[str, Any]
) -> ResponseReturnValue:
    """An authorization response to the (registered) redirect URI: a redirect, or a message
    to the page that opened the popup. Always names the issuer (RFC 9207)."""
    body = {k: v for k, v in params.items() if v is not None}
    body["iss"] = issuer()
    if mode == "web_message":
        return _web_message(redirect_uri, body)
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return redirect(redirect_uri + separator + urlencode(body))


def _web_message(redirect_uri: str, params: dict[str, Any]) -> ResponseReturnValue:
    """``response_mode=web_message``: the popup posts the answer to the page that opened it,
    addressed to the redirect URI's origin only (registered as one of the client's origins),
    never to ``*``."""
    message = {"type": "keystead-signin", **params}
    return render_template(
        "embed/web_message.html", target_origin=origin_of(redirect_uri), message=message
    )


# ---- what websites call with their credentials ----------------------------------------------


@oidc.post("/oauth/token")
@csrf_exempt
def token() -> Response:
    response: Response = server.create_token_response()
    # Also on an error: a replayed code or refresh token revoked its grant, and that stays.
    database.session().commit()
    return response


@oidc.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf_exempt
def userinfo() -> Response:
    response: Response = server.create_endpoint_response("userinfo")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@oidc.post("/oauth/revoke")
@csrf_exempt
def revoke() -> Response:
    response: Response = server.create_endpoint_response("revocation")
    database.session().commit()
    return response


@oidc.post("/oauth/introspect")
@csrf_exempt
def introspect() -> Response:
    response: Response = server.create_endpoint_response("introspection")
    return response


# ---- RP-initiated logout -------------------------------------------------------------------


@oidc.route("/oauth/logout", methods=["GET", "POST"])
def end_session() -> ResponseReturnValue:
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        raise UnknownWebsite(f"This sign-out link is not valid ({error.description}).") from error
    website = validated.client.row.name if validated.client else None
    if validated.needs_confirmation and request.method == "GET":
        page = render_template(
            "embed/logout.html", website=website, confirm=True, action=request.full_path
        )
        uris = validated.client.row.post_logout_redirect_uris if validated.client else []
        return _form_may_leave_for(page, *uris)
    response = server.create_endpoint_response("end_session", validated)
    database.session().commit()
    if response is None:
        response = Response(render_template("embed/logout.html", website=website, confirm=False))
    if g.pop("ended_browser_session", False):
        clear_session_cookie(response)
    return response
