"""Partner websites from the admin API (``/api/admin/websites``): admins register, edit,
rotate the secret of and delete the OpenID Connect clients ``flask clients …`` manages, with
the same strict rules; a secret is shown once and never again; every change needs a fresh
verification and is audited with the administrator as actor; nobody else changes anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.admin.test_admin_api import grant, person
from tests.clock import Clock, stale
from tests.conftest import Api, error, execute
from tests.embed.conftest import WEBSITE, Website, sign_in_to

NEW = {
    "name": "Shop",
    "redirect_uris": [f"{WEBSITE}/callback"],
    "origins": [WEBSITE],
    "post_logout_redirect_uris": [f"{WEBSITE}/"],
    "trusted": True,
}


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def create(api: Api, **changes: Any) -> Any:
    return api.post("/api/admin/websites", {**NEW, **changes})


def clients(app: Flask) -> list[Any]:
    return sorted(tuple(row) for row in execute(app, "SELECT * FROM oauth_clients"))


def audited(app: Flask, kind: str) -> list[dict[str, Any]]:
    rows = execute(app, "SELECT data FROM audit_events WHERE kind = :k ORDER BY id", k=kind)
    return [data if isinstance(data, dict) else json.loads(data) for (data,) in rows]


def root_id(app: Flask) -> int:
    return int(execute(app, "SELECT id FROM users WHERE username = 'root'").scalar_one())


# ---- registering ---------------------------------------------------------------------------


def test_admin_registers_a_website_and_sees_its_secret_once(app: Flask, admin: Api) -> None:
    answer = create(admin)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    website, secret = body["website"], body["client_secret"]
    assert website["name"] == "Shop" and website["trusted"] is True
    assert website["public"] is False
    assert website["token_endpoint_auth_method"] == "client_secret_basic"
    assert website["origins"] == [WEBSITE] and website["id_token_alg"] == "RS256"
    assert audited(app, "client_registered")[0]["actor_user_id"] == root_id(app)
    listed = admin.get("/api/admin/websites").get_json()
    one = admin.get(f"/api/admin/websites/{website['client_id']}").get_json()
    for shown in (json.dumps(listed), json.dumps(one)):
        assert secret not in shown and "secret_hash" not in shown and '"client_secret"' not in shown
    assert listed["websites"] == [website] and one["website"] == website
    # The secret works: a person signs in to the website with it.
    person_api = person(app, "alice")
    tokens = sign_in_to(
        person_api, Website(app, website["client_id"], secret, f"{WEBSITE}/callback")
    )
    assert "id_token" in tokens


def test_a_public_website_has_no_secret(admin: Api) -> None:
    body = create(admin, public=True, id_token_alg="ES256").get_json()
    assert "client_secret" not in body
    assert body["website"]["public"] is True and body["website"]["id_token_alg"] == "ES256"
    answer = admin.post(f"/api/admin/websites/{body['website']['client_id']}/secret", {})
    assert error(answer) == (400, "invalid_client_settings")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"redirect_uris": ["http://shop.example/callback"]}, "'redirect_uris'"),
        ({"redirect_uris": ["https://shop.example/cb#frag"]}, "'redirect_uris'"),
        ({"redirect_uris": ["https://user:pw@shop.example/cb"]}, "'redirect_uris'"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "'redirect_uris'"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"origins": ["https://shop.example/path"]}, "'origins'"),
        ({"origins": ["https://*.example"]}, "'origins'"),
        ({"post_logout_redirect_uris": ["http://evil.example/"]}, "'post_logout_redirect_uris'"),
        ({"name": "   "}, "'name'"),
        ({"id_token_alg": "none"}, "id_token_alg"),
        ({"redirect_uris": [f"{WEBSITE}/{i}" for i in range(21)]}, "redirect_uris"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    app: Flask, admin: Api, changes: dict[str, Any], field: str
) -> None:
    answer = create(admin, **changes)
    assert error(answer) == (400, "invalid_input")
    assert field in answer.get_json()["message"]
    assert clients(app) == []


# ---- editing, rotating, deleting -----------------------------------------------------------


def test_admin_edits_a_website_audited(app: Flask, admin: Api) -> None:
    client_id = create(admin).get_json()["website"]["client_id"]
    changes = {
        "name": "Shop Two",
        "redirect_uris": [f"{WEBSITE}/callback", "https://shop2.example/callback"],
        "origins": ["https://SHOP2.example"],
        "trusted": False,
    }
    answer = admin.patch(f"/api/admin/websites/{client_id}", changes)
    assert answer.status_code == 200, answer.get_json()
    website = answer.get_json()["website"]
    assert website["name"] == "Shop Two" and website["trusted"] is False
    assert website["origins"] == ["https://shop2.example"]
    assert website["post_logout_redirect_uris"] == [f"{WEBSITE}/"]  # not sent: unchanged
    assert '"client_secret"' not in json.dumps(answer.get_json())
    (updated,) = audited(app, "client_updated")
    assert updated["actor_user_id"] == root_id(app)
    assert updated["changes"]["origins"] == {"old": [WEBSITE], "new": ["https://shop2.example"]}
    assert updated["changes"]["trusted"] == {"old": True, "new": False}
    assert set(updated["changes"]) == {"name", "redirect_uris", "origins", "trusted"}


def test_an_edit_is_checked_like_a_registration(app: Flask, admin: Api) -> None:
    client_id = create(admin).get_json()["website"]["client_id"]
    before = clients(app)
    for changes, field in (
        ({"redirect_uris": ["http://evil.example/cb"]}, "'redirect_uris'"),
        ({"name": "Fine", "origins": ["ftp://shop.example"]}, "'origins'"),
        ({"redirect_uris": []}, "redirect_uris"),
    ):
        answer = admin.patch(f"/api/admin/websites/{client_id}", changes)
        assert error(answer) == (400, "invalid_input")
        assert field in answer.get_json()["message"]
    assert clients(app) == before and audited(app, "client_updated") == []


def test_a_redirect_uri_removed_is_refused_at_once(app: Flask, admin: Api) -> None:
    client_id = create(admin, trusted=True).get_json()["website"]["client_id"]
    admin.patch(f"/api/admin/websites/{client_id}", {"redirect_uris": [f"{WEBSITE}/other"]})
    stale_site = Website(app, client_id, None, f"{WEBSITE}/callback")
    answer = person(app, "alice").get(stale_site.authorize_url())
    assert answer.status_code == 400  # a page, never a redirect to the removed URI


def test_rotating_shows_the_new_secret_once_and_the_old_stops(app: Flask, admin: Api) -> None:
    created = create(admin).get_json()
    client_id, old = created["website"]["client_id"], created["client_secret"]
    answer = admin.post(f"/api/admin/websites/{client_id}/secret", {})
    assert answer.status_code == 200, answer.get_json()
    new = answer.get_json()["client_secret"]
    assert new != old and answer.get_json()["website"]["secret_rotated_at"]
    assert new not in json.dumps(admin.get("/api/admin/websites").get_json())
    assert audited(app, "client_secret_rotated")[0]["actor_user_id"] == root_id(app)
    alice = person(app, "alice")
    stale_site = Website(app, client_id, old, f"{WEBSITE}/callback")
    code = alice.get(stale_site.authorize_url()).headers["Location"].split("code=")[1]
    assert stale_site.redeem(code.split("&")[0]).status_code == 401
    assert "id_token" in sign_in_to(alice, Website(app, client_id, new, f"{WEBSITE}/callback"))


def test_deleting_revokes_what_the_website_holds(app: Flask, admin: Api) -> None:
    created = create(admin).get_json()
    client_id = created["website"]["client_id"]
    site = Website(app, client_id, created["client_secret"], f"{WEBSITE}/callback")
    tokens = sign_in_to(person(app, "alice"), site)
    assert admin.delete(f"/api/admin/websites/{client_id}").status_code == 204
    assert clients(app) == []
    assert execute(app, "SELECT count(*) FROM oauth_tokens").scalar_one() == 0
    info = app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 401
    removed = audited(app, "client_removed")[0]
    assert removed["client_id"] == client_id and removed["actor_user_id"] == root_id(app)
    assert error(admin.delete(f"/api/admin/websites/{client_id}")) == (404, "client_not_found")


def test_an_unknown_website_is_404(admin: Api) -> None:
    assert error(admin.get("/api/admin/websites/nope")) == (404, "client_not_found")
    answer = admin.patch("/api/admin/websites/nope", {"name": "x"})
    assert error(answer) == (404, "client_not_found")
    assert error(admin.post("/api/admin/websites/nope/secret", {})) == (404, "client_not_found")


def test_changes_need_a_fresh_verification(app: Flask, admin: Api, clock: Clock) -> None:
    client_id = create(admin).get_json()["website"]["client_id"]
    before = clients(app)
    stale(clock, app)
    assert error(create(admin, name="Other")) == (401, "reauth_required")
    for answer in (
        admin.patch(f"/api/admin/websites/{client_id}", {"name": "x"}),
        admin.post(f"/api/admin/websites/{client_id}/secret", {}),
        admin.delete(f"/api/admin/websites/{client_id}"),
    ):
        assert error(answer) == (401, "reauth_required")
    assert clients(app) == before
    assert admin.get("/api/admin/websites").status_code == 200


# ---- who may -------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/admin/websites", None),
    ("post", "/api/admin/websites", {**NEW, "name": "Mallory's"}),
    ("get", "/api/admin/websites/{client_id}", None),
    ("patch", "/api/admin/websites/{client_id}", {"redirect_uris": ["https://evil.example/cb"]}),
    ("post", "/api/admin/websites/{client_id}/secret", {}),
    ("delete", "/api/admin/websites/{client_id}", None),
]


def _call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    if method == "patch":
        return api.patch(path, body)
    return api.post(path, body)


@pytest.mark.parametrize("role", [None, "helpdesk"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_admins_see_or_change_websites(
    app: Flask, admin: Api, role: str | None, method: str, path: str, body: Any
) -> None:
    client_id = create(admin).get_json()["website"]["client_id"]
    someone = person(app, "mallory")
    if role:
        grant(app, "mallory", role)
    before = clients(app)
    kinds = execute(app, "SELECT count(*) FROM audit_events WHERE kind LIKE 'client_%'")
    count = kinds.scalar_one()
    answer = _call(someone, method, path.format(client_id=client_id), body)
    assert error(answer) == (403, "forbidden")
    assert clients(app) == before
    after = execute(app, "SELECT count(*) FROM audit_events WHERE kind LIKE 'client_%'")
    assert after.scalar_one() == count


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(app: Flask, method: str, path: str, body: Any) -> None:
    anonymous = Api(app.test_client())
    answer = _call(anonymous, method, path.format(client_id="x"), body)
    assert error(answer) == (401, "not_signed_in")
    assert clients(app) == []
