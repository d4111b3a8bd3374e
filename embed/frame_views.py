"""The embeddable sign-in's edge: the frame page a website embeds (``/embed/signin``), its
JSON API (``/api/embed/…``) and the web component websites load (``/embed.js``). Each view
parses, calls one service function (``embed.frame``), commits, answers.

No view here reads or sets a cookie: a third-party frame gets none of Keystead's, so its
requests carry a transaction secret instead (``embed.frame``)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from core import db as database
from core import policy
from core.context import RequestContext
from core.ratelimit import rate_limited
from core.schemas import answer, parse_body
from core.security import ClientInfo
from core.web import current_branding, page_csp, request_now
from embed import frame as frame_service
from embed.frame import REQUEST_PARAMETERS, FrameSettings
from embed.schemas import EmbedAssertion, EmbedBegin, EmbedDecision, EmbedOptions, EmbedResult

bp = Blueprint("embed_frame", __name__)

# The line of static/embed.js that GET /embed.js writes RP_NAME into.
RP_NAME_LINE = 'const RP_NAME = "Keystead";'
# How long browsers and proxies may keep /embed.js (an ETag revalidates it after).
COMPONENT_MAX_AGE = 3600


def _settings() -> FrameSettings:
    return policy.current().settings(FrameSettings.from_config)


def _context() -> RequestContext:
    """The request without Keystead's cookies: a third-party frame sends none, and nothing
    here sets one (``core.web.request_context`` would issue a browser cookie). The service
    binds each step to its transaction instead."""
    return RequestContext(
        client=ClientInfo(
            ip=request.remote_addr or "",
            user_agent=(request.user_agent.string or "")[:512],
            browser=b"",
        ),
        now=request_now(),
    )


# ---- the frame -----------------------------------------------------------------------------


@bp.get("/embed/signin")
def signin() -> ResponseReturnValue:
    """The one page that may be framed, and only by the website's registered origins."""
    params = {key: value for key in REQUEST_PARAMETERS if (value := request.args.get(key))}
    website = frame_service.website(database.session(), params)
    page = render_template(
        "embed/frame.html",
        website=website.name,
        origins=website.origins,
        request_parameters=params,
    )
    response = make_response(page)
    _frameable_by(response, website.origins)
    return response


def _frameable_by(response: Response, origins: list[str]) -> None:
    """The page's CSP with ``frame-ancestors`` set to ``origins`` (every other directive as
    on every page), and so no ``X-Frame-Options``, which would forbid any frame (core.web adds
    it only where the CSP forbids every frame)."""
    response.headers["Content-Security-Policy"] = page_csp(frame_ancestors=origins)


# ---- its JSON API --------------------------------------------------------------------------


@bp.post("/api/embed/begin")
@rate_limited
def begin() -> Response:
    body = parse_body(EmbedBegin)
    begun = frame_service.begin(database.session(), _settings(), _context(), body.parameters())
    database.session().commit()
    return answer(EmbedOptions.model_validate({**begun.options, "transaction": begun.transaction}))


@bp.post("/api/embed/complete")
@rate_limited
def complete() -> Response:
    body = parse_body(EmbedAssertion)
    result = frame_service.complete(
        database.session(), _settings(), _context(), body.transaction, body.credential
    )
    database.session().commit()
    return answer(EmbedResult.of(result))


@bp.post("/api/embed/consent")
def consent() -> Response:
    body = parse_body(EmbedDecision)
    result = frame_service.decide(
        database.session(),
        _settings(),
        _context(),
        body.transaction,
        allow=body.decision == "allow",
    )
    database.session().commit()
    return answer(EmbedResult.of(result))


# ---- the web component ---------------------------------------------------------------------


@bp.get("/embed.js")
def component() -> Response:
    """static/embed.js with the organisation's name (its branding) written in: any website may
    load it (CORS), and browsers keep it for an hour."""
    source = (Path(current_app.static_folder or "static") / "embed.js").read_text("utf-8")
    if RP_NAME_LINE not in source:
        raise RuntimeError(f"static/embed.js lost its line {RP_NAME_LINE!r}")
    name = json.dumps(current_branding().name)
    response = Response(
        source.replace(RP_NAME_LINE, f"const RP_NAME = {name};", 1), mimetype="text/javascript"
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.cache_control.public = True
    response.cache_control.max_age = COMPONENT_MAX_AGE
    response.add_etag()
    response.make_conditional(request)
    return response
