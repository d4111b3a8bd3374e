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
    ("post", "/api/admin/users/{target}/sessions/end", {}),
    ("post", "/api/admin/devices/{device}/block", {}),
    ("post", "/api/admin/devices/{device}/unblock", {}),
    ("delete", "/api/admin/devices/{device}", None),
    ("get", "/api/admin/policy", None),
    ("patch", "/api/admin/policy", {"BACKUP_PROMPT_AFTER_SIGNINS": 9}),
    ("post", "/api/admin/users/{target}/deactivate", {}),
    ("post", "/api/admin/users/{target}/reactivate", {}),
    ("delete", "/api/admin/users/{target}", {"confirm": "{username}"}),
    ("delete", "/api/admin/users/{target}/sessions/{session}", None),
    ("post", "/api/admin/users/{target}/backup-code", {"deliver": "display"}),
]


def _call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    if method == "delete" and body is None:
        return api.delete(path)
    if method == "delete":
        return api.client.delete(path, json=body, headers={"Origin": api.origin})
    call = {"put": api.client.put, "patch": api.client.patch}.get(method, api.client.post)
    return call(path, json=body, headers={"Origin": api.origin})


def _path(app: Flask, path: str, username: str) -> str:
    """``path`` for the ID ``username`` (``{target}``), its first device (``{device}``) and its
    first session (``{session}``)."""
    target = _user_id(app, username)
    device = execute(app, "SELECT min(id) FROM devices WHERE user_id = :u", u=target).scalar_one()
    session = execute(
        app, "SELECT min(id) FROM login_sessions WHERE user_id = :u", u=target
    ).scalar_one()
    return path.format(target=target, device=device, session=session)


def _body(body: Any, username: str) -> Any:
    """``body`` with ``{username}`` filled in (the typed confirmation of a deletion)."""
    if isinstance(body, dict):
        return {
            key: value.format(username=username) if isinstance(value, str) else value
            for key, value in body.items()
        }
    return body


def _state(app: Flask) -> list[Any]:
    """What an admin action could change: roles, devices, sessions, policies, the IDs' state,
    backup codes."""
    return [
        _roles(app),
        sorted(
            tuple(r)
            for r in execute(app, "SELECT id, username, deactivated_at, deleted_at FROM users")
        ),
        sorted(tuple(r) for r in execute(app, "SELECT user_id, code_hash FROM backup_codes")),
        sorted(tuple(r) for r in execute(app, "SELECT id, status FROM devices")),
        sorted(tuple(r) for r in execute(app, "SELECT id, revoked_at FROM login_sessions")),
        sorted(tuple(r) for r in execute(app, "SELECT key, value FROM policy_values")),
    ]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(app: Flask, admin: Api, method: str, path: str, body: Any) -> None:
    anonymous = Api(app.test_client())
    before = _state(app)
    answer = _call(anonymous, method, _path(app, path, "root"), _body(body, "root"))
    assert answer.status_code == 401
    assert _state(app) == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_an_id_without_a_role_gets_403_and_changes_nothing(
    app: Flask, admin: Api, method: str, path: str, body: Any
) -> None:
    nobody = person(app, "mallory")
    before = _state(app)
    answer = _call(nobody, method, _path(app, path, "mallory"), _body(body, "mallory"))
    assert error(answer) == (403, "forbidden")
    assert _state(app) == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES[1:])
def test_helpdesk_acting_on_an_admin_gets_403(
    app: Flask, admin: Api, method: str, path: str, body: Any
) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    before = _state(app)
    answer = _call(helpdesk, method, _path(app, path, "root"), _body(body, "root"))
    assert error(answer) == (403, "forbidden")
    assert _state(app) == before


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


# ---- acting on devices and sessions --------------------------------------------------------


def _device_of(app: Flask, username: str) -> int:
    return int(
        execute(
            app, "SELECT min(id) FROM devices WHERE user_id = :u", u=_user_id(app, username)
        ).scalar_one()
    )


def _audit(app: Flask, kind: str) -> dict[str, Any]:
    data = execute(app, "SELECT data FROM audit_events WHERE kind = :k", k=kind).scalar_one()
    return data if isinstance(data, dict) else json.loads(data)


def test_admin_blocks_and_unblocks_a_device(app: Flask, admin: Api) -> None:
    user = person(app, "user")
    device = _device_of(app, "user")
    blocked = admin.post(f"/api/admin/devices/{device}/block")
    assert blocked.status_code == 200, blocked.get_json()
    assert blocked.get_json()["device"]["status"] == "blocked"
    assert user.get("/api/me").status_code == 401  # its session ended with it
    audited = _audit(app, "device_blocked")
    assert audited["via"] == "admin" and audited["actor_user_id"] == _user_id(app, "root")
    # The address is told (a mail waits in the outbox).
    mails = execute(app, "SELECT kind FROM outbox_mail WHERE user_id = :u", u=_user_id(app, "user"))
    assert "notice_device_blocked" in mails.scalars().all()
    unblocked = admin.post(f"/api/admin/devices/{device}/unblock")
    assert unblocked.status_code == 200 and unblocked.get_json()["device"]["status"] == "active"
    assert _audit(app, "device_unblocked")["actor_user_id"] == _user_id(app, "root")


def test_admin_removes_even_the_last_device(app: Flask, admin: Api) -> None:
    user = person(app, "user")
    device = _device_of(app, "user")
    assert admin.delete(f"/api/admin/devices/{device}").status_code == 204
    status = execute(app, "SELECT status FROM devices WHERE id = :d", d=device).scalar_one()
    assert status == "removed"
    assert user.get("/api/me").status_code == 401
    assert _audit(app, "device_removed")["reason"] == "admin"
    assert error(admin.delete(f"/api/admin/devices/{device}")) == (404, "not_found")


def test_admin_ends_every_session_of_an_id(app: Flask, admin: Api) -> None:
    user = person(app, "user")
    answer = admin.post(f"/api/admin/users/{_user_id(app, 'user')}/sessions/end")
    assert answer.status_code == 200 and answer.get_json() == {"ended": 1}
    assert user.get("/api/me").status_code == 401
    assert _audit(app, "sessions_ended_by_admin")["actor_user_id"] == _user_id(app, "root")


def test_helpdesk_acts_on_an_ordinary_id(app: Flask, admin: Api) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    person(app, "user")
    device = _device_of(app, "user")
    assert helpdesk.post(f"/api/admin/devices/{device}/block").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/admin/devices/{device}/block"),
        ("delete", "/api/admin/devices/{device}"),
        ("post", "/api/admin/users/{target}/sessions/end"),
    ],
)
def test_acting_needs_a_fresh_verification(
    app: Flask, admin: Api, clock: Clock, method: str, path: str
) -> None:
    person(app, "user")
    stale(clock, app)
    before = _state(app)
    answer = _call(admin, method, _path(app, path, "user"), {})
    assert error(answer) == (401, "reauth_required")
    assert _state(app) == before


def test_unknown_device_is_404(admin: Api) -> None:
    assert error(admin.post("/api/admin/devices/999999/block"))[0] == 404


# ---- policies ------------------------------------------------------------------------------


def _patch(api: Api, body: Any) -> Any:
    return api.client.patch("/api/admin/policy", json=body, headers={"Origin": api.origin})


def test_admin_reads_and_changes_policies(app: Flask, admin: Api) -> None:
    from app import create_app
    from core import policy as policy_module
    from core.db import ENGINE_KEY

    # Another worker: another app on the same database, which has read (and cached) the
    # policies before the change.
    other = create_app(
        {k: app.config[k] for k in ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "ORIGIN", "RP_ID")}
        | {"TESTING": True, "ENV": "production", "MAIL_WORKER": False}
    )
    try:
        with other.test_request_context():
            configured = policy_module.current()["BACKUP_PROMPT_AFTER_SIGNINS"]
        shown = admin.get("/api/admin/policy").get_json()
        assert shown["policy"]["BACKUP_PROMPT_AFTER_SIGNINS"] == configured
        assert any(d["key"] == "BACKUP_PROMPT_AFTER_SIGNINS" for d in shown["details"])
        changed = _patch(admin, {"BACKUP_PROMPT_AFTER_SIGNINS": configured + 4})
        assert changed.status_code == 200, changed.get_json()
        assert changed.get_json()["policy"]["BACKUP_PROMPT_AFTER_SIGNINS"] == configured + 4
        with other.test_request_context():  # its next request applies it, no restart
            assert policy_module.current()["BACKUP_PROMPT_AFTER_SIGNINS"] == configured + 4
    finally:
        other.extensions[ENGINE_KEY].dispose()
    audited = _audit(app, "policy_changed")
    assert audited["value"] == configured + 4 and audited["previous"] is None
    assert audited["actor_user_id"] == _user_id(app, "root")
    back = _patch(admin, {"BACKUP_PROMPT_AFTER_SIGNINS": None})
    assert back.get_json()["policy"]["BACKUP_PROMPT_AFTER_SIGNINS"] == configured


@pytest.mark.parametrize(
    "body",
    [
        {"BACKUP_PROMPT_AFTER_SIGNINS": 3, "BACKUP_MODE": "sometimes"},  # the second is bad
        {"BACKUP_PROMPT_AFTER_SIGNINS": "3"},  # a string is not a number
        {"NO_SUCH_KEY": 1},
        {"SECRET_KEY": "x"},  # read at start-up only
    ],
)
def test_a_refused_policy_change_changes_nothing(app: Flask, admin: Api, body: Any) -> None:
    before = _state(app)
    answer = _patch(admin, body)
    assert error(answer) == (400, "invalid_input")
    assert _state(app) == before


def test_helpdesk_cannot_read_or_change_policies(app: Flask, admin: Api) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    assert error(helpdesk.get("/api/admin/policy")) == (403, "forbidden")
    assert error(_patch(helpdesk, {"BACKUP_PROMPT_AFTER_SIGNINS": 2})) == (403, "forbidden")


def test_each_policy_says_how_it_is_edited_as_declared(app: Flask, admin: Api) -> None:
    """The policy page builds its form from these, never from the words in ``values``."""
    from core.config import SETTINGS

    details = {d["key"]: d for d in admin.get("/api/admin/policy").get_json()["details"]}
    assert details["REGISTRATION"]["type"] == "str"
    assert details["REGISTRATION"]["choices"] == list(SETTINGS["REGISTRATION"].choices)
    prompt = details["BACKUP_PROMPT_AFTER_SIGNINS"]
    assert (prompt["type"], prompt["min"], prompt["max"], prompt["choices"]) == (
        "int",
        SETTINGS["BACKUP_PROMPT_AFTER_SIGNINS"].min,
        SETTINGS["BACKUP_PROMPT_AFTER_SIGNINS"].max,
        None,
    )
    assert details["BACKUP_REISSUE_CHANNELS"]["type"] == "list"
    assert details["BACKUP_REISSUE_CHANNELS"]["choices"] == ["email", "display"]
    assert details["RESTORE_REMOVES_OLD_DEVICES"]["type"] == "bool"
