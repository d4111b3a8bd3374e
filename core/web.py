"""The HTTP edge shared by every blueprint: JSON parsing, the per-request value services get
(``request_context``), the Origin (CSRF) check, security headers, the browser and session
cookies, and Flask-Login's loader over server-side sessions. Services never see ``request``;
they get what this module extracts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import qrcode
import qrcode.image.svg
from flask import Flask, Response, current_app, g, request
from flask_login import LoginManager, current_user

from core import branding, browser_ids, policy, sessions
from core import db as database
from core.clock import utcnow
from core.context import RequestContext
from core.db import ROW_ID_MAX
from core.errors import CsrfFailed, InvalidInput, NotFound, NotSignedIn, UnsupportedMediaType
from core.models import LoginSession, User
from core.security import ClientInfo, origin_allowed, token_hash

V = TypeVar("V", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
login_manager = LoginManager()
BRANDING_KEY = "keystead.branding"

# Every page's Content-Security-Policy, directive by directive; ``page_csp`` is the one place
# that varies it for a page.
_PAGE_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# An origin as a CSP source expression: scheme://host[:port] and nothing that could end the
# directive or the header (``embed.clients.normalise_origin`` made it; this makes sure).
CSP_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def page_csp(
    *, form_action: Iterable[str] = (), frame_ancestors: Iterable[str] | None = None
) -> str:
    """The pages' policy; ``form_action``: origins a form's answer may also redirect to (CSP's
    ``form-action`` governs that redirect too); ``frame_ancestors``: the only origins that may
    frame the page (none given, or none valid: no frame at all). An origin that is not a plain
    ``scheme://host[:port]`` is left out, so nothing can end a directive."""
    directives = dict(_PAGE_DIRECTIVES)
    extra = sorted({o for o in form_action if CSP_ORIGIN.fullmatch(o)})
    if extra:
        directives["form-action"] = " ".join(["'self'", *extra])
    if frame_ancestors is not None:
        allowed = [o for o in frame_ancestors if CSP_ORIGIN.fullmatch(o)]
        directives["frame-ancestors"] = " ".join(allowed) if allowed else "'none'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


PAGE_CSP = page_csp()
# Sent only when ORIGIN is https: two years, as browsers' preload lists expect.
HSTS = "max-age=63072000; includeSubDomains"


def _row_ids_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Every ``<int:…>`` in a URL is a row id: one no database column can hold is simply not
    found, before a view or the driver sees it (an OverflowError would be a 500). Checked here
    rather than by the converter, whose refusal Werkzeug reports as 405 when another rule
    shares the path."""
    for value in (values or {}).values():
        if isinstance(value, int) and not 1 <= value <= ROW_ID_MAX:
            raise NotFound()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.extensions[BRANDING_KEY] = branding.BrandingCache(app.config)
    # No Flask cookie session at all: sign-in state lives in the server-side session table.
    login_manager.session_protection = None
    login_manager.request_loader(_load_user_from_session_cookie)
    app.url_value_preprocessor(_row_ids_in_range)
    app.before_request(_check_origin)
    app.before_request(_check_api_content_type)
    app.after_request(_finish_response)
    # Pages render the policies in force (core.policy), never their own copy of a default.
    app.add_template_global(_policy_value, "policy_value")
    app.add_template_filter(duration_words, "duration")


def _policy_value(key: str) -> Any:
    return policy.current()[key]


def duration_words(seconds: int) -> str:
    """``300`` → "5 minutes", ``3600`` → "1 hour", ``90`` → "90 seconds": a policy's seconds
    as a page says them."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def qr_svg(url: str) -> str:
    """``url`` as an SVG QR code (no Pillow needed), for a page to show beside the link."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def current_branding() -> branding.Brand:
    """The organisation's branding for this request (pages and mail), read at its first use:
    from the process's cache while the policy stamp, which the request reads anyway, has not
    moved (``core.branding``)."""
    if "branding" not in g:
        stamp = policy.current().stamp
        g.branding = current_app.extensions[BRANDING_KEY].current(database.session(), stamp)
    return g.branding


def session_policy() -> sessions.SessionPolicy:
    """Session lifetimes are policies: read per request (``core.policy``)."""
    return policy.current().settings(sessions.SessionPolicy.from_config)


# ---- request parsing -----------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request's JSON object; 415 for another content type, 400 for anything malformed."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # json.loads recurses: a deeply nested body is malformed input, not a server error.
        data = None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.")
    return data


def client_info() -> ClientInfo:
    """Who is calling: IP (after ProxyFix), user agent, the hashed browser id and the device
    this browser is signed in with. The browser id is issued by this server (signed), never
    taken as the client says: an unknown or forged value is replaced, so nobody can plant an
    id in another browser to share its pending recovery or pairing."""
    if "client_info" not in g:
        name = current_app.config["BROWSER_COOKIE_NAME"]
        secret = current_app.config["SECRET_KEY"]
        browser_token = browser_ids.verified(secret, request.cookies.get(name))
        if browser_token is None:
            browser_token = browser_ids.issue()
            g.new_browser_cookie = browser_ids.cookie_value(secret, browser_token)
        login_session = current_login_session()
        g.client_info = ClientInfo(
            ip=request.remote_addr or "",
            user_agent=(request.user_agent.string or "")[:512],
            browser=token_hash(browser_token),
            device_id=login_session.device_id if login_session else None,
        )
    return g.client_info


def request_now() -> datetime:
    """The request's one instant, read from the app's clock once."""
    if "request_now" not in g:
        g.request_now = utcnow()
    return g.request_now


def request_context() -> RequestContext:
    """What services get about this request, built once per request: the client, the
    request's instant, the sign-in session and the session cookie as sent."""
    if "request_context" not in g:
        g.request_context = RequestContext(
            client=client_info(),
            now=request_now(),
            login_session=current_login_session(),
            session_token=current_session_token(),
        )
    return g.request_context


# ---- where a page may send the browser next -----------------------------------------------

_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next_path(target: str | None, fallback: str = "/account") -> str:
    """``target`` (a ``?next=``) if it is a path on this site, else ``fallback``: an open
    redirect after sign-in would be a phishing aid. Browsers drop tabs and newlines from URLs
    and read a backslash as a slash, so ``?next=/%09/evil.example`` (a tab) and
    ``?next=/%5Cevil.example`` both leave the site. Refused: anything not starting with ``/``,
    any ``//``, backslash or control character, also after decoding percent-escapes (a value
    can be decoded again when it is put in another URL). Pages render the verdict;
    ``safeLocalPath`` in static/js/ui.js is the same rule, as a fallback."""
    if not target:
        return fallback
    layer = target
    while True:
        if not layer.startswith("/") or "//" in layer or "\\" in layer or _CONTROL.search(layer):
            return fallback
        decoded = _PERCENT_ESCAPE.sub(lambda escape: chr(int(escape.group(1), 16)), layer)
        if decoded == layer:  # each pass shortens the value, so this ends
            return target
        layer = decoded


# ---- sign-in state -------------------------------------------------------------------------


def _load_user_from_session_cookie(_request: Any) -> User | None:
    token = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    if not token or len(token) > 128:
        return None
    now = request_now()
    found = sessions.lookup(database.session(), token, policy=session_policy(), now=now)
    if found is None:
        return None
    login_session, user = found
    g.login_session = login_session
    # lookup moved last_seen_at (at most once a minute): the response commits it.
    g.session_seen_now = login_session.last_seen_at == now
    return user


def signed_in_user() -> User:
    if not current_user.is_authenticated:
        raise NotSignedIn()
    return current_user._get_current_object()


def current_login_session() -> LoginSession | None:
    _ = current_user.is_authenticated  # loads the session
    return g.get("login_session")


def current_session_token() -> str | None:
    return request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])


def set_session_cookie(response: Response, token: str) -> None:
    config = current_app.config
    response.set_cookie(
        config["SESSION_COOKIE_NAME"],
        token,
        max_age=session_policy().lifetime,
        httponly=True,
        secure=config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    config = current_app.config
    response.delete_cookie(
        config["SESSION_COOKIE_NAME"],
        httponly=True,
        secure=config["SESSION_COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )


# ---- hooks ---------------------------------------------------------------------------------


def csrf_exempt(view: Any) -> Any:
    """Marks a view that no browser's cookies can drive (an OAuth endpoint a website's server
    calls with its own credentials or a bearer token): the Origin check does not apply."""
    view.csrf_exempt = True
    return view


def _check_origin() -> None:
    """CSRF defence for every state-changing request: browsers send ``Origin`` on them, and it
    must be one of ours. Cookies are SameSite=Lax as well, but Lax alone lets a top-level form
    POST from a sibling site through. Views marked ``csrf_exempt`` authenticate otherwise."""
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "csrf_exempt", False):
        return
    if not origin_allowed(request.headers.get("Origin"), current_app.config["ALLOWED_ORIGINS"]):
        raise CsrfFailed()


def raw_body(*types: str, max_length: int) -> Callable[[V], V]:
    """Marks an API view that reads a body other than JSON (an uploaded image): the JSON-only
    rule lets through a body of the same major type as ``types`` (``image/…``; the view checks
    which exactly and answers 400 for the rest), and this view alone may read up to
    ``max_length`` bytes instead of MAX_CONTENT_LENGTH. docs/openapi.py documents ``types``."""

    def mark(view: V) -> V:
        view.raw_body_types = types  # type: ignore[attr-defined]
        view.raw_body_max_length = max_length  # type: ignore[attr-defined]
        return view

    return mark


def body_text(mimetype: str) -> str:
    """The request's body as text, for a view marked ``raw_body`` with ``mimetype`` (415 for
    any other type; 400 when it is not UTF-8)."""
    if request.mimetype != mimetype:
        raise UnsupportedMediaType(f"Send {mimetype}.")
    try:
        return request.get_data(cache=False).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The body must be UTF-8 text.") from None


def _check_api_content_type() -> None:
    """The API speaks JSON only: a body of any other type is refused before a view runs, so
    no endpoint can be driven by a form or a text/plain request (the classic CSRF shapes).
    A view marked ``raw_body`` takes its own kind of body instead, of its own size."""
    if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    raw_types = getattr(view, "raw_body_types", None)
    if raw_types:
        request.max_content_length = view.raw_body_max_length  # type: ignore[union-attr]
        major_types = {kind.split("/", 1)[0] for kind in raw_types}
        if request.mimetype.split("/", 1)[0] not in major_types:
            raise UnsupportedMediaType(f"Send {' or '.join(raw_types)}.")
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if (has_body or request.mimetype) and request.mimetype != "application/json":
        raise UnsupportedMediaType()


def _keep_last_seen(response: Response) -> None:
    """A request that only reads (GET /api/me, a page) still moved the session's last-seen time
    (``sessions.lookup``): commit it, or a person who only reads would be signed out
    SESSION_IDLE_TIMEOUT after their last write. Failed requests were rolled back already."""
    if g.pop("session_seen_now", False) and response.status_code < 400:
        database.session().commit()


def _finish_response(response: Response) -> Response:
    _keep_last_seen(response)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    config = current_app.config
    if response.mimetype == "text/html":
        csp = headers.setdefault("Content-Security-Policy", PAGE_CSP)
        # For browsers without CSP's frame-ancestors; a page a view made frameable for named
        # origins (the embedded sign-in) keeps only its CSP.
        if "frame-ancestors 'none'" in csp:
            headers.setdefault("X-Frame-Options", "DENY")
    # Pages show an ID's devices, sessions and codes: no shared or back-button cache may keep
    # them. Static files are not text/html and stay cacheable.
    if request.path.startswith("/api/") or response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    if config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", HSTS)
    new_browser_cookie = g.pop("new_browser_cookie", None)
    if new_browser_cookie:
        response.set_cookie(
            config["BROWSER_COOKIE_NAME"],
            new_browser_cookie,
            max_age=400 * 24 * 3600,
            httponly=True,
            secure=config["SESSION_COOKIE_SECURE"],
            samesite="Lax",
            path="/",
        )
    return response
