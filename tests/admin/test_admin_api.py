"""Who is an admin, and the first admin endpoints: roles granted from the CLI (no default
admin), the last admin kept, every /api/admin route refused to the signed out (401), to an ID
without a role and to a helpdesk acting on an admin (403, changing nothing), a change without
a fresh verification (401 reauth_required), and what an admin sees of an ID (never a secret)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.clock import Clock, stale
from tests.conftest import Api, error, execute
from tools.softauthn import SoftAuthenticator


def grant(app: Flask, username: str, role: str) -> None:
    result = app.test_cli_runner().invoke(args=["admin", "grant", username, "--role", role])
    assert result.exit_code == 0, result.output


def person(app: Flask, username: str) -> Api:
    api = Api(app.test_client())
    assert (
        api.sign_up(
            SoftAuthenticator(origin="http://localhost:5000"), username=username
        ).status_code
        == 201
    )
    return api


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def _roles(app: Flask) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in execute(app, "SELECT user_id, role FROM user_roles"))


def _user_id(app: Flask, username: str) -> int:
    return int(execute(app, "SELECT id FROM users WHERE username = :u", u=username).scalar_one())


# ---- roles from the CLI --------------------------------------------------------------------


def test_nobody_is_an_admin_until_the_cli_says_so(app: Flask, signed_in: Api) -> None:
    assert _roles(app) == []
    assert error(signed_in.get("/api/admin/users")) == (403, "forbidden")
    grant(app, "alice", "admin")
    assert signed_in.get("/api/admin/users").status_code == 200


def test_grant_and_revoke_are_audited(app: Flask, signed_in: Api) -> None:
    grant(app, "alice", "helpdesk")
    result = app.test_cli_runner().invoke(args=["admin", "revoke", "alice", "--role", "helpdesk"])
    assert result.exit_code == 0 and "no longer" in result.output
    kinds = [
        row[0]
        for row in execute(
            app, "SELECT kind FROM audit_events WHERE kind LIKE 'role_%' ORDER BY id"
        )
    ]
    assert kinds == ["role_granted", "role_revoked"]
    data = execute(app, "SELECT data FROM audit_events WHERE kind = 'role_granted'").scalar_one()
    data = data if isinstance(data, dict) else json.loads(data)
    assert data["role"] == "helpdesk" and data["actor"].startswith("cli:")


def test_the_last_admin_cannot_be_revoked(app: Flask, admin: Api) -> None:
    result = app.test_cli_runner().invoke(args=["admin", "revoke", "root", "--role", "admin"])
    assert result.exit_code != 0 and "last administrator" in result.output
    assert _roles(app) == [(_user_id(app, "root"), "admin")]
    person(app, "second")
    grant(app, "second", "admin")
    result = app.test_cli_runner().invoke(args=["admin", "revoke", "root", "--role", "admin"])
    assert result.exit_code == 0


def test_grant_to_an_unknown_username_fails(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["admin", "grant", "nobody", "--role", "admin"])
    assert result.exit_code != 0 and _roles(app) == []


# ---- the gate ------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/admin/users", None),
    ("get", "/api/admin/users/{target}", None),
    ("put", "/api/admin/users/{target}/roles", {"roles": ["admin"]}),
]


def _call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    return api.client.put(path, json=body, headers={"Origin": api.origin})


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(app: Flask, admin: Api, method: str, path: str, body: Any) -> None:
    anonymous = Api(app.test_client())
    target = _user_id(app, "root")
    assert _call(anonymous, method, path.format(target=target), body).status_code == 401
    assert _roles(app) == [(target, "admin")]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_an_id_without_a_role_gets_403_and_changes_nothing(
    app: Flask, admin: Api, method: str, path: str, body: Any
) -> None:
    nobody = person(app, "mallory")
    before = _roles(app)
    target = _user_id(app, "mallory")
    assert error(_call(nobody, method, path.format(target=target), body)) == (403, "forbidden")
    assert _roles(app) == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES[1:])
def test_helpdesk_acting_on_an_admin_gets_403(
    app: Flask, admin: Api, method: str, path: str, body: Any
) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    before = _roles(app)
    target = _user_id(app, "root")
    assert error(_call(helpdesk, method, path.format(target=target), body)) == (403, "forbidden")
    assert _roles(app) == before


def test_helpdesk_sees_users_but_cannot_manage_roles(app: Flask, admin: Api) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    person(app, "user")
    target = _user_id(app, "user")
    assert helpdesk.get("/api/admin/users").status_code == 200
    assert helpdesk.get(f"/api/admin/users/{target}").status_code == 200
    answer = _call(helpdesk, "put", f"/api/admin/users/{target}/roles", {"roles": ["helpdesk"]})
    assert error(answer) == (403, "forbidden")


def test_unknown_id_is_404_only_for_those_with_a_role(app: Flask, admin: Api) -> None:
    assert error(admin.get("/api/admin/users/999999")) == (404, "user_not_found")
    nobody = person(app, "mallory")
    assert error(nobody.get("/api/admin/users/999999")) == (403, "forbidden")


# ---- roles from the API --------------------------------------------------------------------


def test_admin_sets_roles_with_a_fresh_verification(app: Flask, admin: Api, clock: Clock) -> None:
    person(app, "helen")
    target = _user_id(app, "helen")
    stale(clock, app)
    answer = _call(admin, "put", f"/api/admin/users/{target}/roles", {"roles": ["helpdesk"]})
    assert error(answer) == (401, "reauth_required")
    assert (target, "helpdesk") not in _roles(app)
    clock.set(clock.start)
    answer = _call(admin, "put", f"/api/admin/users/{target}/roles", {"roles": ["helpdesk"]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["user"]["roles"] == ["helpdesk"]
    audited = execute(
        app, "SELECT data FROM audit_events WHERE kind = 'role_granted' AND user_id = :u", u=target
    ).scalar_one()
    audited = audited if isinstance(audited, dict) else json.loads(audited)
    assert audited["actor_user_id"] == _user_id(app, "root")


def test_admin_cannot_remove_the_last_admin_through_the_api(app: Flask, admin: Api) -> None:
    root = _user_id(app, "root")
    answer = _call(admin, "put", f"/api/admin/users/{root}/roles", {"roles": []})
    assert error(answer) == (409, "last_admin")
    assert _roles(app) == [(root, "admin")]


def test_unknown_role_is_invalid_input(app: Flask, admin: Api) -> None:
    root = _user_id(app, "root")
    answer = _call(admin, "put", f"/api/admin/users/{root}/roles", {"roles": ["owner"]})
    assert error(answer)[0] == 400


# ---- the list and one ID -------------------------------------------------------------------


def test_list_searches_filters_and_pages(app: Flask, admin: Api) -> None:
    for name in ("anna", "anton", "bert"):
        person(app, name)
    grant(app, "bert", "helpdesk")
    found = admin.get("/api/admin/users?q=AN&per_page=1").get_json()
    assert found["total"] == 2 and found["per_page"] == 1 and len(found["users"]) == 1
    second = admin.get("/api/admin/users?q=an&per_page=1&page=2").get_json()
    assert {found["users"][0]["username"], second["users"][0]["username"]} == {"anna", "anton"}
    helpdesk = admin.get("/api/admin/users?role=helpdesk").get_json()
    assert [u["username"] for u in helpdesk["users"]] == ["bert"]
    # A wildcard is a plain character.
    assert admin.get("/api/admin/users?q=%25").get_json()["total"] == 0
    row = admin.get("/api/admin/users?q=bert").get_json()["users"][0]
    assert set(row) == {
        "id",
        "username",
        "email",
        "display_name",
        "status",
        "roles",
        "created_at",
        "last_sign_in_at",
        "backup_active",
        "device_count",
    }
    assert row["status"] == "active" and row["device_count"] == 1 and row["backup_active"] is False
    assert admin.get("/api/admin/users?status=deactivated").get_json()["total"] == 0


@pytest.mark.parametrize("query", ["per_page=101", "page=0", "role=owner", "status=gone"])
def test_bad_list_queries_are_invalid_input(admin: Api, query: str) -> None:
    assert error(admin.get(f"/api/admin/users?{query}"))[0] == 400


def test_one_id_shows_devices_sessions_and_backup_but_no_secret(app: Flask, admin: Api) -> None:
    person(app, "user")
    target = _user_id(app, "user")
    profile = admin.get(f"/api/admin/users/{target}").get_json()
    assert set(profile) == {"user", "devices", "sessions", "websites", "backup"}
    assert profile["user"]["username"] == "user"
    assert len(profile["devices"]) == 1 and len(profile["sessions"]) == 1
    assert profile["backup"] == {"active": False, "activated_at": None}
    text = json.dumps(profile)
    for secret_column in ("token_hash", "code_hash", "secret_hash", "public_key", "user_handle"):
        assert secret_column not in text


def test_deleted_ids_are_not_listed(app: Flask, admin: Api) -> None:
    person(app, "gone")
    execute(app, "UPDATE users SET deleted_at = CURRENT_TIMESTAMP WHERE username = 'gone'")
    assert admin.get("/api/admin/users?q=gone").get_json()["total"] == 0
    assert error(admin.get(f"/api/admin/users/{_user_id(app, 'gone')}")) == (404, "user_not_found")


def test_granting_twice_or_revoking_what_is_not_held_changes_and_audits_nothing(
    app: Flask, signed_in: Api
) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["admin", "grant", "alice", "--role", "helpdesk"])
    assert first.exit_code == 0 and "is now helpdesk" in first.output
    again = runner.invoke(args=["admin", "grant", "alice", "--role", "helpdesk"])
    assert again.exit_code == 0 and "was already helpdesk" in again.output
    missing = runner.invoke(args=["admin", "revoke", "alice", "--role", "admin"])
    assert missing.exit_code == 0 and "was not admin" in missing.output
    kinds = execute(app, "SELECT kind FROM audit_events WHERE kind LIKE 'role_%'").scalars().all()
    assert kinds == ["role_granted"]
