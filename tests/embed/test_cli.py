"""``flask clients …`` and ``flask oidc rotate-keys``: what an operator registers, and that
every change is audited."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from tests.conftest import Api, execute
from tests.embed.conftest import WEBSITE, Website, sign_in_to


def _run(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _create(app: Flask, *extra: str) -> dict[str, object]:
    output = _run(
        app,
        "clients",
        "create",
        "--name",
        "Shop",
        "--redirect-uri",
        f"{WEBSITE}/callback",
        "--origin",
        WEBSITE,
        "--post-logout-redirect-uri",
        f"{WEBSITE}/",
        "--json",
        *extra,
    )
    return json.loads(output)


def _audited(app: Flask, kind: str) -> list[dict[str, object]]:
    rows = execute(app, "SELECT data FROM audit_events WHERE kind = :kind", kind=kind)
    return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]


def test_create_prints_the_secret_once_and_stores_its_hash(app: Flask) -> None:
    created = _create(app)
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    secret = str(created["client_secret"])
    assert len(secret) >= 40
    stored = execute(app, "SELECT secret_hash FROM oauth_clients").scalar_one()
    assert secret.encode() not in bytes(stored)
    listed = _run(app, "clients", "list", "--json")
    assert secret not in listed
    assert json.loads(listed)[0]["client_id"] == created["client_id"]
    assert _audited(app, "client_registered")[0]["client_id"] == created["client_id"]


def test_public_client_has_no_secret(app: Flask) -> None:
    created = _create(app, "--public")
    assert created["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in created


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://shop.example/callback",  # plain http off loopback
        "https://shop.example/callback#frag",
        "https://user:pw@shop.example/callback",
        "javascript:alert(1)",
        "/callback",
    ],
)
def test_bad_redirect_uris_are_refused(app: Flask, redirect_uri: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "--name", "Shop", "--redirect-uri", redirect_uri]
    )
    assert result.exit_code != 0
    assert execute(app, "SELECT count(*) FROM oauth_clients").scalar_one() == 0


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://localhost:8000/cb", "http://127.0.0.1:8000/cb", "http://[::1]:8000/cb"],
)
def test_http_is_allowed_on_loopback(app: Flask, redirect_uri: str) -> None:
    _run(app, "clients", "create", "--name", "Dev", "--redirect-uri", redirect_uri)


def test_rotate_secret_stops_the_old_one(app: Flask, signed_in: Api) -> None:
    created = _create(app, "--trusted")
    client_id, old = str(created["client_id"]), str(created["client_secret"])
    output = _run(app, "clients", "rotate-secret", client_id)
    new = output.split("client_secret: ")[1].split()[0]
    stale = Website(app, client_id, old, f"{WEBSITE}/callback")
    code = signed_in.get(stale.authorize_url()).headers["Location"].split("code=")[1].split("&")[0]
    assert stale.redeem(code).status_code == 401
    fresh = Website(app, client_id, new, f"{WEBSITE}/callback")
    assert "id_token" in sign_in_to(signed_in, fresh)
    assert _audited(app, "client_secret_rotated")


def test_delete_removes_the_website_and_what_it_holds(app: Flask, signed_in: Api) -> None:
    created = _create(app, "--trusted")
    website = Website(
        app, str(created["client_id"]), str(created["client_secret"]), f"{WEBSITE}/callback"
    )
    tokens = sign_in_to(signed_in, website)
    _run(app, "clients", "delete", website.client_id)
    assert execute(app, "SELECT count(*) FROM oauth_tokens").scalar_one() == 0
    info = app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 401
    assert _audited(app, "client_removed")[0]["client_id"] == website.client_id


def test_rotate_keys_keeps_the_old_key_published(app: Flask, signed_in: Api) -> None:
    created = _create(app, "--trusted")
    website = Website(
        app, str(created["client_id"]), str(created["client_secret"]), f"{WEBSITE}/callback"
    )
    before = {k["kid"] for k in app.test_client().get("/oauth/jwks").get_json()["keys"]}
    old_token = sign_in_to(signed_in, website)["id_token"]
    _run(app, "oidc", "rotate-keys")
    after = {k["kid"] for k in app.test_client().get("/oauth/jwks").get_json()["keys"]}
    assert before < after and len(after) == 4
    # A token signed before still verifies; a new one is signed with a new key.
    website.id_token_claims(old_token)
    new_token = sign_in_to(signed_in, website)["id_token"]
    from joserfc import jws

    assert jws.extract_compact(new_token.encode()).headers()["kid"] not in before
    assert _audited(app, "signing_keys_rotated")


def test_es256_client_gets_es256_id_tokens(app: Flask, signed_in: Api) -> None:
    created = _create(app, "--trusted", "--id-token-alg", "ES256")
    website = Website(
        app, str(created["client_id"]), str(created["client_secret"]), f"{WEBSITE}/callback"
    )
    token = sign_in_to(signed_in, website)["id_token"]
    from joserfc import jws

    assert jws.extract_compact(token.encode()).headers()["alg"] == "ES256"
    assert website.id_token_claims(token)["aud"] == website.client_id


def test_purge_sweeps_expired_codes_and_tokens(app: Flask, signed_in: Api, clock: object) -> None:
    created = _create(app, "--trusted")
    website = Website(
        app, str(created["client_id"]), str(created["client_secret"]), f"{WEBSITE}/callback"
    )
    sign_in_to(signed_in, website)  # a used code, an access token, a refresh token
    assert "0 expired website codes and tokens" in _run(app, "purge")
    clock.advance(app.config["OIDC_REFRESH_TOKEN_TTL"])  # type: ignore[attr-defined]
    assert "3 expired website codes and tokens" in _run(app, "purge")
    assert execute(app, "SELECT count(*) FROM oauth_tokens").scalar_one() == 0


def test_rotate_secret_of_a_public_client_is_refused(app: Flask) -> None:
    created = _create(app, "--public")
    result = app.test_cli_runner().invoke(
        args=["clients", "rotate-secret", str(created["client_id"])]
    )
    assert result.exit_code != 0 and "no secret" in result.output
    assert execute(app, "SELECT secret_hash FROM oauth_clients").scalar_one() is None


@pytest.mark.parametrize(("count", "ok"), [(20, True), (21, False)])
def test_at_most_twenty_redirect_uris(app: Flask, count: int, ok: bool) -> None:
    args = ["clients", "create", "--name", "Many"]
    for n in range(count):
        args += ["--redirect-uri", f"{WEBSITE}/cb{n}"]
    assert (app.test_cli_runner().invoke(args=args).exit_code == 0) is ok


@pytest.mark.parametrize(("name", "ok"), [("n" * 128, True), ("n" * 129, False), ("  ", False)])
def test_client_name_rules(app: Flask, name: str, ok: bool) -> None:
    args = ["clients", "create", "--name", name, "--redirect-uri", f"{WEBSITE}/cb"]
    assert (app.test_cli_runner().invoke(args=args).exit_code == 0) is ok


def test_create_stores_what_it_was_given(app: Flask) -> None:
    created = _create(app)
    assert created["origins"] == [WEBSITE]
    assert created["redirect_uris"] == [f"{WEBSITE}/callback"]
    assert created["post_logout_redirect_uris"] == [f"{WEBSITE}/"]


@pytest.mark.parametrize(
    "settings",
    [{"redirect_uris": []}, {"id_token_alg": "HS256"}, {"id_token_alg": "none"}],
)
def test_the_service_refuses_what_the_cli_cannot_send(
    app: Flask, settings: dict[str, object]
) -> None:
    from core import db as database
    from core.context import RequestContext
    from embed import clients
    from embed.errors import InvalidClientSettings

    options: dict[str, object] = {"name": "Shop", "redirect_uris": [f"{WEBSITE}/cb"], **settings}
    with app.app_context(), pytest.raises(InvalidClientSettings):
        clients.create_client(database.session(), RequestContext.outside_request("t"), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["delete", "rotate-secret"])
def test_unknown_client_id_is_an_error(app: Flask, command: str) -> None:
    result = app.test_cli_runner().invoke(args=["clients", command, "nobody"])
    assert result.exit_code != 0 and "No website" in result.output
