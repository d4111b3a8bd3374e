"""Branding: the admin API (``/api/admin/branding``: admins only, changes with a fresh
verification, audited) and what every page and mail loads from it, public: the logo
(``/branding/logo``) and the accent colour's style sheet (``/branding.css``)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from admin.branding_schemas import BrandingAnswer, BrandingChanges
from admin.roles import Action
from admin.web import allowed
from core import branding, logo
from core import db as database
from core.branding import LogoImage
from core.errors import NotFound
from core.schemas import answer, parse_body
from core.web import current_branding, raw_body, request_context

api = Blueprint("admin_branding", __name__, url_prefix="/api/admin")
public = Blueprint("branding", __name__)

YEAR = 365 * 24 * 3600
# The image alone: no script, style, frame or plugin may run if someone opens it as a page.
LOGO_CSP = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
)


def _rp_name() -> str:
    return str(current_app.config["RP_NAME"])


@api.get("/branding")
def show() -> Response:
    allowed(Action.MANAGE_BRANDING)
    brand = branding.read(database.session(), _rp_name())
    return answer(BrandingAnswer.from_brand(brand, current_app.config))


@api.patch("/branding")
def update() -> Response:
    actor = allowed(Action.MANAGE_BRANDING, changes=True)
    body = parse_body(BrandingChanges)
    db = database.session()
    brand = branding.update(
        db, request_context(), body.changes, configured_name=_rp_name(), actor_user_id=actor.id
    )
    db.commit()
    return answer(BrandingAnswer.from_brand(brand, current_app.config))


@api.put("/branding/logo")
@raw_body(*logo.FORMATS, max_length=logo.MAX_BYTES)
def upload_logo() -> Response:
    actor = allowed(Action.MANAGE_BRANDING, changes=True)
    db = database.session()
    brand = branding.set_logo(
        db,
        request_context(),
        request.get_data(cache=False),
        request.mimetype,
        configured_name=_rp_name(),
        actor_user_id=actor.id,
    )
    db.commit()
    return answer(BrandingAnswer.from_brand(brand, current_app.config))


@api.delete("/branding/logo")
def remove_logo() -> Response:
    actor = allowed(Action.MANAGE_BRANDING, changes=True)
    db = database.session()
    branding.remove_logo(db, request_context(), configured_name=_rp_name(), actor_user_id=actor.id)
    db.commit()
    return Response(status=204)


# ---- public: what pages and mail load ------------------------------------------------------


def _image(image: LogoImage | None, cache_control: str) -> Response:
    if image is None:
        raise NotFound()
    response = Response(image.data, mimetype=image.content_type)
    response.headers.update(
        {
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": LOGO_CSP,
            "Cache-Control": cache_control,
            # Mail clients load it from their own origin.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
    )
    response.set_etag(image.sha256)
    response.make_conditional(request)
    return response


@public.get("/branding/logo/<digest>")
def logo_by_hash(digest: str) -> Response:
    """The logo whose hash is in the path: it never changes, so browsers keep it a year."""
    image = branding.logo_image(database.session(), digest)
    return _image(image, f"public, max-age={YEAR}, immutable")


@public.get("/branding/logo")
def current_logo() -> Response:
    """The logo now (mail links here: an old mail shows the current logo), revalidated."""
    return _image(branding.logo_image(database.session()), "public, no-cache")


@public.get("/branding.css")
def stylesheet() -> Response:
    """The accent colour as CSS custom properties (a style sheet: the pages' CSP allows no
    inline style). Pages link it with its version in the query, kept a year."""
    brand = current_branding()
    response = Response(brand.stylesheet, mimetype="text/css")
    fresh = request.args.get("v") == brand.version
    response.headers["Cache-Control"] = (
        f"public, max-age={YEAR}, immutable" if fresh else "public, no-cache"
    )
    response.set_etag(brand.version)
    response.make_conditional(request)
    return response
