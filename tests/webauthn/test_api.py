"""The JSON API's contract: happy paths, shapes (checked against the OpenAPI document), devices,
sessions and cookies."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.conftest import Api
from tests.openapi_check import check_response, spec
from tools.softauthn import SoftAuthenticator


def checked(method: str, path: str, response):  # noqa: ANN001, ANN201
    check_response(method, path, response.status_code, response.get_json(silent=True))
    return response


def session_cookie(client):  # noqa: ANN001, ANN201
    cookie = client.get_cookie("keystead_session")
    return cookie.value if cookie else None


def test_sign_up_signs_in_and_describes_the_first_device(api: Api, authenticator):
    response = checked(
        "POST", "/api/register/complete", api.sign_up(authenticator, confirm_email=False)
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["display_name"] == "alice"
    device = body["device"]
    assert device["name"] == "Alice's laptop"
    assert device["current"] is True and device["status"] == "active"
    assert device["authenticator"] == "Keystead software authenticator (tests)"
    assert device["backup_eligible"] is False and device["backed_up"] is False
    me = checked("GET", "/api/me", api.get("/api/me"))
    assert me.status_code == 200
    assert me.get_json()["user"] == body["user"]
    assert [d["id"] for d in me.get_json()["devices"]] == [device["id"]]


def test_session_cookie_is_httponly_lax_and_not_secure_on_http(api: Api, authenticator):
    response = api.sign_up(authenticator)
    header = next(h for h in response.headers.getlist("Set-Cookie") if "keystead_session" in h)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header


def test_session_cookie_is_secure_when_the_origin_is_https(migrated, tmp_path):
    from app import create_app
    from tests.conftest import base_config, empty_tables

    origin = "https://localhost:8443"
    app = create_app({**base_config(migrated, tmp_path), "ORIGIN": origin})
    empty_tables(app)
    api = Api(app.test_client(), origin=origin)
    response = api.sign_up(SoftAuthenticator(origin=origin))
    assert response.status_code == 201, response.get_json()
    header = next(h for h in response.headers.getlist("Set-Cookie") if "keystead_session" in h)
    assert "Secure" in header


def test_usernames_are_unique_ignoring_case(signed_in: Api):
    response = checked(
        "POST",
        "/api/register/begin",
        signed_in.post("/api/register/begin", {"username": "ALICE", "email": "a@example.com"}),
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "username_taken"


def test_a_username_taken_between_begin_and_complete_is_refused(app, api: Api):
    first, second = SoftAuthenticator(), SoftAuthenticator()
    other = Api(app.test_client())
    begin_a = api.post("/api/register/begin", {"username": "carol", "email": "c@example.com"})
    begin_b = other.post("/api/register/begin", {"username": "Carol", "email": "c2@example.com"})
    assert api.post("/api/register/complete", first.create(begin_a.get_json())).status_code == 201
    late = other.post("/api/register/complete", second.create(begin_b.get_json()))
    assert late.status_code == 409 and late.get_json()["error"] == "username_taken"


def test_sign_up_input_rules(api: Api):
    for body in (
        {"username": "ab", "email": "a@example.com"},
        {"username": "x" * 65, "email": "a@example.com"},
        {"username": "bad name", "email": "a@example.com"},
        {"username": "bob", "email": "not-an-email"},
        {"username": "bob", "email": "b@example.com", "display_name": "x" * 129},
        {"username": "bob"},
        {"username": 5, "email": "b@example.com"},
    ):
        response = checked("POST", "/api/register/begin", api.post("/api/register/begin", body))
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid_input"


def test_options_carry_the_configured_timeout_and_rp(app, api: Api):
    options = api.post(
        "/api/register/begin", {"username": "dave", "email": "d@example.com"}
    ).get_json()["publicKey"]
    assert options["timeout"] == app.config["CHALLENGE_TTL"] * 1000
    assert options["rp"] == {"id": "localhost", "name": "Keystead Test"}
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert len(options["user"]["id"]) == 43  # 32 random bytes, base64url


def test_username_first_and_usernameless_sign_in(signed_in: Api, authenticator):
    signed_in.post("/api/logout")
    begin = signed_in.post("/api/authenticate/begin", {"username": "Alice"})
    check_response("POST", "/api/authenticate/begin", 200, begin.get_json())
    allowed = begin.get_json()["publicKey"]["allowCredentials"]
    assert [c["id"] for c in allowed] == [
        __import__("tools.softauthn").softauthn.b64u(cid) for cid in authenticator.credentials
    ]
    response = signed_in.post("/api/authenticate/complete", authenticator.get(begin.get_json()))
    checked("POST", "/api/authenticate/complete", response)
    assert response.status_code == 200
    signed_in.post("/api/logout")
    begin = signed_in.post("/api/authenticate/begin", {})
    assert begin.get_json()["publicKey"].get("allowCredentials", []) == []
    response = signed_in.post("/api/authenticate/complete", authenticator.get(begin.get_json()))
    assert response.status_code == 200
    assert response.get_json()["device"]["current"] is True


def test_sign_in_rotates_the_session_id_and_ends_the_previous_session(
    app, signed_in: Api, authenticator
):
    first = session_cookie(signed_in.client)
    assert signed_in.sign_in(authenticator).status_code == 200
    second = session_cookie(signed_in.client)
    assert first and second and first != second
    replay = app.test_client()
    replay.set_cookie("keystead_session", first)
    assert replay.get("/api/me").status_code == 401
    replay.set_cookie("keystead_session", second)
    assert replay.get("/api/me").status_code == 200


def test_logout_revokes_the_server_side_session(app, signed_in: Api):
    token = session_cookie(signed_in.client)
    assert checked("POST", "/api/logout", signed_in.post("/api/logout")).status_code == 204
    assert session_cookie(signed_in.client) is None
    stolen = app.test_client()
    stolen.set_cookie("keystead_session", token)
    assert stolen.get("/api/me").status_code == 401
    assert checked("GET", "/api/me", stolen.get("/api/me")).get_json()["error"] == "not_signed_in"


def test_sessions_record_device_ip_and_user_agent(app, signed_in: Api):
    with app.extensions["keystead.engine"].connect() as conn:
        row = conn.execute(sa.text("SELECT device_id, ip, user_agent FROM login_sessions")).one()
    assert row.device_id is not None and row.ip == "127.0.0.1"
    assert row.user_agent.startswith("Werkzeug")


def test_idle_and_expired_sessions_end(app, signed_in: Api, clock):
    clock.advance(app.config["SESSION_IDLE_TIMEOUT"] + 1)
    assert signed_in.get("/api/me").status_code == 401


def test_add_rename_and_remove_devices(app, signed_in: Api, authenticator):
    second = SoftAuthenticator(attachment="cross-platform", backup_eligible=True, backed_up=True)
    begin = signed_in.post("/api/devices/register/begin", {"device_name": "YubiKey"})
    checked("POST", "/api/devices/register/begin", begin)
    excluded = begin.get_json()["publicKey"]["excludeCredentials"]
    assert len(excluded) == 1
    response = signed_in.post(
        "/api/devices/register/complete",
        {**second.create(begin.get_json()), "device_name": "YubiKey"},
    )
    checked("POST", "/api/devices/register/complete", response)
    assert response.status_code == 201
    added = response.get_json()["device"]
    assert added["name"] == "YubiKey" and added["current"] is False
    assert added["backup_eligible"] is True and added["backed_up"] is True
    assert added["last_used_at"] is None

    listing = checked("GET", "/api/devices", signed_in.get("/api/devices")).get_json()["devices"]
    assert [d["current"] for d in listing] == [True, False]

    renamed = signed_in.patch(f"/api/devices/{added['id']}", {"name": "  Work   key "})
    checked("PATCH", f"/api/devices/{added['id']}", renamed)
    assert renamed.get_json()["device"]["name"] == "Work key"
    for bad in ({"name": ""}, {"name": "x" * 65}, {"name": 3}, {}):
        response = signed_in.patch(f"/api/devices/{added['id']}", bad)
        checked("PATCH", f"/api/devices/{added['id']}", response)
        assert response.status_code == 400

    # Remove the first device (the one this session used): its sessions end with it.
    first_id = listing[0]["id"]
    assert (
        checked(
            "DELETE", f"/api/devices/{first_id}", signed_in.delete(f"/api/devices/{first_id}")
        ).status_code
        == 204
    )
    assert signed_in.get("/api/me").status_code == 401
    # The second device signs in and is now the last one: it cannot be removed.
    assert signed_in.sign_in(second).status_code == 200
    # The removed passkey still sits on its authenticator, but no longer signs in.
    assert signed_in.sign_in(authenticator, username=None).status_code == 401
    last = signed_in.delete(f"/api/devices/{added['id']}")
    checked("DELETE", f"/api/devices/{added['id']}", last)
    assert last.status_code == 409 and last.get_json()["error"] == "last_device"


def test_another_ids_devices_are_not_found(app, signed_in: Api):
    bob = Api(app.test_client())
    bob_key = SoftAuthenticator()
    assert bob.sign_up(bob_key, username="bob").status_code == 201
    bob_device = bob.get("/api/devices").get_json()["devices"][0]["id"]
    for response in (
        signed_in.patch(f"/api/devices/{bob_device}", {"name": "mine now"}),
        signed_in.delete(f"/api/devices/{bob_device}"),
    ):
        assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert bob.get("/api/devices").get_json()["devices"][0]["name"] == "Alice's laptop"


def test_signed_out_callers_get_401_everywhere(api: Api):
    for method, path in (
        ("GET", "/api/me"),
        ("GET", "/api/devices"),
        ("POST", "/api/devices/register/begin"),
        ("PATCH", "/api/devices/1"),
        ("DELETE", "/api/devices/1"),
    ):
        if method == "GET":
            response = api.get(path)
        elif method == "POST":
            response = api.post(path, {})
        elif method == "PATCH":
            response = api.patch(path, {"name": "x"})
        else:
            response = api.delete(path)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"] == "not_signed_in"


def test_every_api_route_is_documented_and_every_documented_route_exists(app):
    documented = {
        (path, method.upper())
        for path, item in spec()["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete", "put")
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served == documented


def test_openapi_document_is_served(api: Api):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_purge_deletes_expired_challenges_and_old_sessions(app, signed_in: Api, clock):
    signed_in.post("/api/authenticate/begin", {})
    signed_in.post("/api/logout")
    clock.advance(31 * 24 * 3600)
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 expired challenges, 1 ended sessions" in result.output


def test_openapi_json_is_written_from_docs_openapi_py():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "openapi.py"
    spec_module = importlib.util.spec_from_file_location("keystead_openapi_doc", path)
    module = importlib.util.module_from_spec(spec_module)
    spec_module.loader.exec_module(module)
    assert module.OUTPUT.read_text() == module.render(), "run: python docs/openapi.py"
