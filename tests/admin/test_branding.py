"""Branding from the admin API (``/api/admin/branding``): admins only, a change needs a fresh
verification and is audited with its old and new value (never the image); a logo is a PNG or
JPEG the server re-encoded, anything else refused with nothing changed; the logo is served
inert (its own type, nosniff, a CSP that allows nothing); every page and mail shows the
organisation's name, logo and colour, and another worker sees a change on its next request."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from core import db as database
from core import web
from tests.admin.test_admin_api import grant, person
from tests.clock import Clock, stale
from tests.conftest import Api, error, execute
from tests.core.test_branding import HTML, SVG, gif, jpeg, png, png_declaring
from tests.mail import Mailbox


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def put_logo(api: Api, data: bytes, content_type: str) -> Any:
    return api.client.put(
        "/api/admin/branding/logo",
        data=data,
        headers={"Origin": api.origin, "Content-Type": content_type},
    )


def patch(api: Api, body: Any) -> Any:
    return api.patch("/api/admin/branding", body)


def stored(app: Flask) -> list[Any]:
    """Everything the branding routes could change (the image's bytes included)."""
    return [tuple(row) for row in execute(app, "SELECT * FROM branding")]


def audited(app: Flask) -> list[dict[str, Any]]:
    rows = execute(app, "SELECT data FROM audit_events WHERE kind = 'branding_changed' ORDER BY id")
    return [data if isinstance(data, dict) else json.loads(data) for (data,) in rows]


# ---- name and colour -----------------------------------------------------------------------


def test_defaults_are_the_configured_name_and_the_style_sheets_colour(admin: Api) -> None:
    branding = admin.get("/api/admin/branding").get_json()["branding"]
    assert branding["name"] == branding["default_name"] == "Keystead Test"
    assert branding["accent_color"] == branding["default_accent_color"] == "#4f46e5"
    assert branding["logo"] is None and branding["updated_by"] is None


def test_admin_sets_name_and_colour_audited(app: Flask, admin: Api) -> None:
    answer = patch(admin, {"name": "  Acme   Corp ", "accent_color": "#0A7F3C"})
    assert answer.status_code == 200, answer.get_json()
    branding = answer.get_json()["branding"]
    assert (branding["name"], branding["accent_color"]) == ("Acme Corp", "#0a7f3c")
    root = int(execute(app, "SELECT id FROM users WHERE username = 'root'").scalar_one())
    assert branding["updated_by"] == root
    assert audited(app) == [
        {"field": "accent_color", "value": "#0a7f3c", "previous": None, "actor_user_id": root},
        {"field": "name", "value": "Acme Corp", "previous": None, "actor_user_id": root},
    ]
    # Only what is sent changes; null goes back to the default.
    answer = patch(admin, {"name": None})
    assert answer.get_json()["branding"]["name"] == "Keystead Test"
    assert answer.get_json()["branding"]["accent_color"] == "#0a7f3c"
    assert audited(app)[-1]["previous"] == "Acme Corp"


def test_a_patch_that_changes_nothing_records_nothing(app: Flask, admin: Api) -> None:
    assert patch(admin, {}).status_code == 200
    assert patch(admin, {"name": None}).status_code == 200
    assert stored(app) == [] and audited(app) == []
    patch(admin, {"name": "Acme"})
    assert patch(admin, {"name": " Acme "}).status_code == 200
    assert len(audited(app)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "'name'"),
        ({"name": "x" * 65}, "'name'"),
        ({"name": "Evil\nCorp"}, "'name'"),
        ({"name": "Evil\u202eCorp"}, "'name'"),
        ({"name": 5}, "'name'"),
        ({"accent_color": "red"}, "'accent_color'"),
        ({"accent_color": "#fff"}, "'accent_color'"),
        ({"accent_color": "#123456;} body{display:none"}, "'accent_color'"),
        ({"name": "Good", "accent_color": "url(x)"}, "'accent_color'"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    app: Flask, admin: Api, body: dict[str, Any], field: str
) -> None:
    answer = patch(admin, body)
    assert error(answer) == (400, "invalid_input")
    assert field in answer.get_json()["message"]
    assert stored(app) == [] and audited(app) == []


def test_a_change_needs_a_fresh_verification(app: Flask, admin: Api, clock: Clock) -> None:
    stale(clock, app)
    assert error(patch(admin, {"name": "Acme"})) == (401, "reauth_required")
    assert error(put_logo(admin, png(), "image/png")) == (401, "reauth_required")
    assert error(admin.delete("/api/admin/branding/logo")) == (401, "reauth_required")
    assert stored(app) == []
    assert admin.get("/api/admin/branding").status_code == 200  # reading needs none


# ---- the logo ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upload", "content_type", "marker"),
    [
        (png(text="png-text-marker"), "image/png", b"png-text-marker"),
        (jpeg(comment=b"jpeg-comment-marker"), "image/jpeg", b"jpeg-comment-marker"),
    ],
)
def test_a_logo_is_stored_re_encoded_and_served_inert(
    app: Flask, admin: Api, upload: bytes, content_type: str, marker: bytes
) -> None:
    answer = put_logo(admin, upload, content_type)
    assert answer.status_code == 200, answer.get_json()
    logo = answer.get_json()["branding"]["logo"]
    assert logo["content_type"] == content_type
    assert logo["url"] == f"/branding/logo/{logo['sha256']}"
    (kept,) = execute(app, "SELECT logo FROM branding").one()
    kept = bytes(kept)
    assert kept != upload and marker not in kept
    for path in (logo["url"], "/branding/logo"):
        served = admin.client.get(path)
        assert served.status_code == 200 and served.data == kept
        assert served.mimetype == content_type
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in served.headers["Content-Security-Policy"]
        assert served.headers["ETag"] == f'"{logo["sha256"]}"'
    assert "immutable" in admin.client.get(logo["url"]).headers["Cache-Control"]
    again = admin.client.get(logo["url"], headers={"If-None-Match": f'"{logo["sha256"]}"'})
    assert again.status_code == 304
    # Audited by type, hash and size: never the bytes.
    facts = audited(app)[-1]
    assert facts["field"] == "logo" and facts["previous"] is None
    assert facts["value"] == {
        "content_type": content_type,
        "sha256": logo["sha256"],
        "bytes": len(kept),
    }


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (SVG, "image/svg+xml"),
        (SVG, "image/png"),
        (gif(), "image/gif"),
        (HTML, "image/png"),  # the right type, the wrong bytes
        (png(), "image/jpeg"),
        (png_declaring(50_000, 50_000), "image/png"),  # decompression bomb
        (b"", "image/png"),
    ],
)
def test_anything_but_a_png_or_jpeg_is_refused_changing_nothing(
    app: Flask, admin: Api, data: bytes, content_type: str
) -> None:
    assert put_logo(admin, png(), "image/png").status_code == 200
    before, trail = stored(app), audited(app)
    assert error(put_logo(admin, data, content_type)) == (400, "invalid_input")
    assert stored(app) == before and audited(app) == trail


def test_a_body_that_is_not_an_image_is_415(app: Flask, admin: Api) -> None:
    for content_type in ("text/html", "application/x-www-form-urlencoded", "text/plain"):
        assert error(put_logo(admin, HTML, content_type)) == (415, "unsupported_media_type")
    assert stored(app) == []


def test_a_logo_may_be_larger_than_other_bodies_but_not_over_256_kib(
    app: Flask, admin: Api
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] < 100 * 1024
    padded = png() + b"\0" * (100 * 1024)  # trailing bytes: re-encoding drops them
    assert put_logo(admin, padded, "image/png").status_code == 200
    before = stored(app)
    too_big = png() + b"\0" * (256 * 1024)
    assert error(put_logo(admin, too_big, "image/png")) == (413, "payload_too_large")
    assert stored(app) == before
    # Other routes keep MAX_CONTENT_LENGTH.
    big_json = {"name": "x" * (100 * 1024)}
    assert error(patch(admin, big_json))[0] == 413


def test_removing_the_logo(app: Flask, admin: Api) -> None:
    url = put_logo(admin, png(), "image/png").get_json()["branding"]["logo"]["url"]
    assert admin.delete("/api/admin/branding/logo").status_code == 204
    assert admin.get("/api/admin/branding").get_json()["branding"]["logo"] is None
    assert admin.client.get(url).status_code == 404
    assert admin.client.get("/branding/logo").status_code == 404
    assert audited(app)[-1]["value"] is None
    assert admin.delete("/api/admin/branding/logo").status_code == 204  # nothing to remove
    assert len(audited(app)) == 2


def test_an_old_logo_url_is_gone(admin: Api) -> None:
    first = put_logo(admin, png(), "image/png").get_json()["branding"]["logo"]["url"]
    put_logo(admin, jpeg(), "image/jpeg")
    assert admin.client.get(first).status_code == 404


# ---- who may ------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/admin/branding", None),
    ("patch", "/api/admin/branding", {"name": "Mallory Inc"}),
    ("put", "/api/admin/branding/logo", png()),
    ("delete", "/api/admin/branding/logo", None),
]


def _call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    if method == "put":
        return put_logo(api, body, "image/png")
    return api.patch(path, body)


@pytest.mark.parametrize("role", [None, "helpdesk"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_admins_see_or_change_branding(
    app: Flask, admin: Api, role: str | None, method: str, path: str, body: Any
) -> None:
    put_logo(admin, png(), "image/png")
    someone = person(app, "mallory")
    if role:
        grant(app, "mallory", role)
    before, trail = stored(app), audited(app)
    assert error(_call(someone, method, path, body)) == (403, "forbidden")
    assert stored(app) == before and audited(app) == trail


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(app: Flask, method: str, path: str, body: Any) -> None:
    anonymous = Api(app.test_client())
    assert error(_call(anonymous, method, path, body)) == (401, "not_signed_in")
    assert stored(app) == []


# ---- pages and mail ------------------------------------------------------------------------


def test_pages_show_the_name_logo_and_colour(app: Flask, admin: Api) -> None:
    visitor = app.test_client()
    page = visitor.get("/signin").get_data(as_text=True)
    assert "Keystead Test" in page and "/branding.css" not in page and "brand__logo" not in page
    patch(admin, {"name": "Acme <Corp>", "accent_color": "#0a7f3c"})
    logo = put_logo(admin, png(), "image/png").get_json()["branding"]["logo"]
    for page in (
        visitor.get("/signin").get_data(as_text=True),
        admin.client.get("/account").get_data(as_text=True),
    ):
        assert "Acme &lt;Corp&gt;" in page and "Acme <Corp>" not in page
        assert f'src="{logo["url"]}"' in page
        sheet = re.search(r'href="(/branding\.css\?v=[0-9a-f]+)"', page)
        assert sheet is not None
    css = admin.client.get(sheet.group(1))
    assert css.mimetype == "text/css" and "--accent: #0a7f3c;" in css.get_data(as_text=True)
    assert "immutable" in css.headers["Cache-Control"]
    # The embeddable button partner websites load names the organisation too.
    assert 'const RP_NAME = "Acme <Corp>";' in visitor.get("/embed.js").get_data(as_text=True)
    # The passkey dialog's relying party name stays the configured one.
    options = admin.post("/api/register/begin", {"username": "newbie", "email": "n@example.com"})
    assert options.get_json()["publicKey"]["rp"]["name"] == "Keystead Test"


def test_pages_send_no_inline_style(app: Flask, admin: Api) -> None:
    patch(admin, {"accent_color": "#0a7f3c"})
    page = app.test_client().get("/signin")
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert "<style" not in page.get_data(as_text=True)


def test_mail_shows_the_name_and_logo(app: Flask, admin: Api, mailbox: Mailbox) -> None:
    patch(admin, {"name": "Acme Corp"})
    put_logo(admin, png(), "image/png")
    result = app.test_cli_runner().invoke(args=["send-mail", "--test", "it@example.com"])
    assert result.exit_code == 0, result.output
    message = mailbox.wait_for(to="it@example.com")[0]
    assert "Acme Corp" in message["Subject"]
    assert mailbox.text(message).startswith("Acme Corp")
    html = mailbox.html(message)
    assert "Acme Corp" in html and 'src="http://localhost:5000/branding/logo"' in html


def test_another_worker_sees_a_change_on_its_next_request(app: Flask, admin: Api) -> None:
    from app import create_app

    other = create_app(dict(app.config, TESTING=True))
    other_client = Api(other.test_client())
    assert "Keystead Test" in other_client.client.get("/signin").get_data(as_text=True)
    patch(admin, {"name": "Acme Corp"})
    assert "Acme Corp" in other_client.client.get("/signin").get_data(as_text=True)
    other.extensions[database.ENGINE_KEY].dispose()


def test_json_requests_never_read_branding(
    app: Flask, signed_in: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-in path is JSON: branding costs it nothing. A page reads the row only when the
    policy stamp moved (here: once, for the first page after the cache was emptied)."""
    cache = app.extensions[web.BRANDING_KEY]
    asked = []
    current = cache.current
    monkeypatch.setattr(cache, "current", lambda db, stamp: asked.append(1) or current(db, stamp))
    signed_in.get("/api/me")
    signed_in.get("/api/devices")
    signed_in.post("/api/authenticate/begin", {})
    assert asked == []
    cache._cached = None
    reads = cache.reads
    signed_in.client.get("/account")
    signed_in.client.get("/account")
    assert len(asked) == 2 and cache.reads == reads + 1
