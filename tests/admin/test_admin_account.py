"""What an administrator does to an ID as a whole: deactivate and reactivate it (no sign-in, no
recovery, no website token while deactivated; data kept), delete it (typed confirmation), end
one of its sessions, re-issue its backup code by a channel the policy allows; each told to the
ID as an administrator's doing, audited with the administrator as actor, refused to those
without the role, and changing nothing when refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask import Flask

from tests.admin.test_admin_api import _call, _user_id, grant, person
from tests.clock import Clock, stale
from tests.conftest import Api, error, execute
from tests.embed.conftest import Website, sign_in_to
from tests.embed.conftest import website as website  # noqa: F401 (the fixture)
from tests.recovery.test_recovery import activate_backup
from tools.softauthn import SoftAuthenticator


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def _details(app: Flask, kind: str, user_id: int) -> dict[str, Any]:
    data = execute(
        app,
        "SELECT data FROM audit_events WHERE kind = :k AND user_id = :u ORDER BY id DESC",
        k=kind,
        u=user_id,
    ).first()[0]
    return data if isinstance(data, dict) else json.loads(data)


def _one(app: Flask, sql: str, **params: Any) -> Any:
    return execute(app, sql, **params).scalar_one()


def _mail(mailbox: Any, subject: str, timeout: float = 5) -> Any:
    """The first mail with ``subject``, waiting for the delivery worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in mailbox.messages:
            if message["Subject"] == subject:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r}: {[m['Subject'] for m in mailbox.messages]}")


def _live_sessions(app: Flask, user_id: int) -> int:
    return int(
        execute(
            app,
            "SELECT count(*) FROM login_sessions WHERE user_id = :u AND revoked_at IS NULL",
            u=user_id,
        ).scalar_one()
    )


# ---- deactivate and reactivate -------------------------------------------------------------


def test_a_deactivated_id_cannot_sign_in_and_its_sessions_end(
    app: Flask, admin: Api, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    alice = _user_id(app, "alice")
    answer = admin.post(f"/api/admin/users/{alice}/deactivate", {})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["user"]["status"] == "deactivated"
    assert _live_sessions(app, alice) == 0
    assert signed_in.get("/api/me").status_code == 401
    # The passkey still verifies, and then hears why it cannot sign in.
    refused = Api(app.test_client()).sign_in(authenticator)
    assert error(refused) == (403, "account_deactivated")
    assert _live_sessions(app, alice) == 0
    # Usernameless too.
    assert error(Api(app.test_client()).sign_in(authenticator, username=None)) == (
        403,
        "account_deactivated",
    )
    # Data kept.
    row = execute(app, "SELECT username, email FROM users WHERE id = :u", u=alice).one()
    assert row[0] == "alice" and row[1]
    devices = execute(app, "SELECT status FROM devices WHERE user_id = :u", u=alice).all()
    assert [d[0] for d in devices] == ["active"]


def test_reactivating_lets_the_passkeys_sign_in_again_but_ended_sessions_stay_ended(
    app: Flask, admin: Api, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    answer = admin.post(f"/api/admin/users/{alice}/reactivate", {})
    assert answer.status_code == 200 and answer.get_json()["user"]["status"] == "active"
    assert signed_in.get("/api/me").status_code == 401
    assert Api(app.test_client()).sign_in(authenticator).status_code == 200
    kinds = [
        r[0]
        for r in execute(
            app,
            "SELECT kind FROM audit_events WHERE user_id = :u AND kind LIKE 'user_%activated'"
            " ORDER BY id",
            u=alice,
        )
    ]
    assert kinds == ["user_deactivated", "user_reactivated"]
    assert _details(app, "user_deactivated", alice)["actor_user_id"] == _user_id(app, "root")


def test_a_straggling_session_of_a_deactivated_id_is_not_honoured(
    app: Flask, signed_in: Api
) -> None:
    """Deactivating ends the sessions; the session lookup refuses one anyway."""
    execute(app, "UPDATE users SET deactivated_at = CURRENT_TIMESTAMP WHERE username = 'alice'")
    assert signed_in.get("/api/me").status_code == 401


def test_a_deactivated_id_cannot_recover(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    code = activate_backup(signed_in, mailbox)
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    stranger = Api(app.test_client())
    refused = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": code})
    wrong = Api(app.test_client()).post(
        "/api/recovery/begin", {"username": "nobody-here", "backup_code": code}
    )
    assert error(refused) == error(wrong)  # told exactly like an unknown ID
    assert refused.get_json()["message"] == wrong.get_json()["message"]
    flows = execute(app, "SELECT count(*) FROM recovery_flows WHERE user_id = :u", u=alice)
    assert flows.scalar_one() == 0


def test_deactivating_voids_a_recovery_under_way(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    code = activate_backup(signed_in, mailbox)
    stranger = Api(app.test_client())
    begun = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": code})
    assert begun.status_code == 202
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    stages = execute(app, "SELECT stage FROM recovery_flows WHERE user_id = :u", u=alice).all()
    assert [s[0] for s in stages] == ["void"]
    assert _one(app, "SELECT count(*) FROM email_codes WHERE user_id = :u", u=alice) == 0


def test_website_tokens_die_with_deactivation_and_stay_dead(
    app: Flask, admin: Api, signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    assert admin.post(f"/api/admin/users/{alice}/reactivate", {}).status_code == 200
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    reasons = execute(app, "SELECT revoked_reason FROM oauth_grants WHERE user_id = :u", u=alice)
    assert [r[0] for r in reasons] == ["user_deactivated"]


def test_a_token_of_a_deactivated_id_is_refused_on_use(
    app: Flask, signed_in: Api, website: Website
) -> None:
    """``live_user`` checks the ID's state on every use, whatever revoked the grant or not."""
    tokens = sign_in_to(signed_in, website)
    execute(app, "UPDATE users SET deactivated_at = CURRENT_TIMESTAMP WHERE username = 'alice'")
    userinfo = website.app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_status_filter_lists_deactivated_ids(app: Flask, admin: Api, signed_in: Api) -> None:
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    deactivated = admin.get("/api/admin/users?status=deactivated").get_json()["users"]
    active = admin.get("/api/admin/users?status=active").get_json()["users"]
    assert [u["username"] for u in deactivated] == ["alice"]
    assert "alice" not in [u["username"] for u in active] and "root" in [
        u["username"] for u in active
    ]


def test_an_admin_cannot_deactivate_or_delete_their_own_id(app: Flask, admin: Api) -> None:
    root = _user_id(app, "root")
    assert error(admin.post(f"/api/admin/users/{root}/deactivate", {})) == (409, "own_id")
    deleted = _call(admin, "delete", f"/api/admin/users/{root}", {"confirm": "root"})
    assert error(deleted) == (409, "own_id")
    row = execute(app, "SELECT deactivated_at, deleted_at FROM users WHERE id = :u", u=root).one()
    assert tuple(row) == (None, None)


def test_a_deactivated_admin_does_not_count_as_the_admin_left(app: Flask, admin: Api) -> None:
    person(app, "second")
    grant(app, "second", "admin")
    second = _user_id(app, "second")
    assert admin.post(f"/api/admin/users/{second}/deactivate", {}).status_code == 200
    root = _user_id(app, "root")
    answer = _call(admin, "put", f"/api/admin/users/{root}/roles", {"roles": []})
    assert error(answer) == (409, "last_admin")
    assert "admin" in admin.get(f"/api/admin/users/{root}").get_json()["user"]["roles"]


def test_helpdesk_may_deactivate_a_user_but_not_an_admin(app: Flask, admin: Api) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    person(app, "user")
    user = _user_id(app, "user")
    assert helpdesk.post(f"/api/admin/users/{user}/deactivate", {}).status_code == 200
    root = _user_id(app, "root")
    assert error(helpdesk.post(f"/api/admin/users/{root}/deactivate", {})) == (403, "forbidden")
    assert _one(app, "SELECT deactivated_at FROM users WHERE id = :u", u=root) is None


def test_deactivating_needs_a_fresh_verification(
    app: Flask, admin: Api, signed_in: Api, clock: Clock
) -> None:
    alice = _user_id(app, "alice")
    stale(clock, app)
    answer = admin.post(f"/api/admin/users/{alice}/deactivate", {})
    assert error(answer) == (401, "reauth_required")
    assert _one(app, "SELECT deactivated_at FROM users WHERE id = :u", u=alice) is None
    assert _live_sessions(app, alice) == 1


# ---- delete --------------------------------------------------------------------------------


def test_admin_deletes_an_id_with_its_username_typed(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    alice = _user_id(app, "alice")
    grant(app, "alice", "helpdesk")
    wrong = _call(admin, "delete", f"/api/admin/users/{alice}", {"confirm": "Alice"})
    assert error(wrong) == (400, "invalid_input")
    assert execute(app, "SELECT deleted_at FROM users WHERE id = :u", u=alice).scalar_one() is None
    answer = _call(admin, "delete", f"/api/admin/users/{alice}", {"confirm": "alice"})
    assert answer.status_code == 204, answer.get_json()
    row = execute(app, "SELECT username, email, deleted_at FROM users WHERE id = :u", u=alice).one()
    assert row[0] == f"deleted:{alice}" and row[1] == "" and row[2] is not None
    # Its roles go with it: a tombstone never counts as staff.
    assert _one(app, "SELECT count(*) FROM user_roles WHERE user_id = :u", u=alice) == 0
    assert signed_in.get("/api/me").status_code == 401
    assert error(admin.get(f"/api/admin/users/{alice}")) == (404, "user_not_found")


def test_helpdesk_cannot_delete_an_id(app: Flask, admin: Api) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    person(app, "user")
    user = _user_id(app, "user")
    answer = _call(helpdesk, "delete", f"/api/admin/users/{user}", {"confirm": "user"})
    assert error(answer) == (403, "forbidden")
    assert execute(app, "SELECT deleted_at FROM users WHERE id = :u", u=user).scalar_one() is None


# ---- one session ---------------------------------------------------------------------------


def test_admin_ends_one_session(
    app: Flask, admin: Api, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    other = Api(app.test_client())
    assert other.sign_in(authenticator).status_code == 200
    alice = _user_id(app, "alice")
    sessions = admin.get(f"/api/admin/users/{alice}").get_json()["sessions"]
    assert len(sessions) == 2
    first = min(s["id"] for s in sessions)
    assert admin.delete(f"/api/admin/users/{alice}/sessions/{first}").status_code == 204
    assert signed_in.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 200
    # Ended already, or another ID's: 404, nothing changed.
    assert admin.delete(f"/api/admin/users/{alice}/sessions/{first}").status_code == 404
    root = _user_id(app, "root")
    mine = execute(app, "SELECT id FROM login_sessions WHERE user_id = :u", u=root).scalar_one()
    assert admin.delete(f"/api/admin/users/{alice}/sessions/{mine}").status_code == 404
    assert admin.get("/api/me").status_code == 200
    assert _details(app, "sessions_ended_by_admin", alice)["session_id"] == first


# ---- backup code ---------------------------------------------------------------------------


def test_admin_reissues_a_backup_code_for_display(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    old = activate_backup(signed_in, mailbox)
    alice = _user_id(app, "alice")
    answer = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": "display"})
    assert answer.status_code == 200, answer.get_json()
    new = answer.get_json()["backup_code"]
    assert new and new != old
    refused = Api(app.test_client()).post(
        "/api/recovery/begin", {"username": "alice", "backup_code": old}
    )
    assert refused.status_code == 401
    works = Api(app.test_client()).post(
        "/api/recovery/begin", {"username": "alice", "backup_code": new}
    )
    assert works.status_code == 202
    details = _details(app, "backup_code_reissued", alice)
    assert details["actor_user_id"] == _user_id(app, "root") and details["delivered"] == "display"
    assert new not in json.dumps(details)
    # The owner's view never shows it; the admin's user page never shows a code.
    assert new not in json.dumps(admin.get(f"/api/admin/users/{alice}").get_json())


def test_reissue_by_email_needs_a_backup_address(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    old = activate_backup(signed_in, mailbox)
    alice = _user_id(app, "alice")
    answer = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": "email"})
    assert error(answer) == (409, "backup_email_required")
    assert "never mailed to the sign-in address" in answer.get_json()["message"]
    still = Api(app.test_client()).post(
        "/api/recovery/begin", {"username": "alice", "backup_code": old}
    )
    assert still.status_code == 202


@pytest.mark.parametrize(
    ("channels", "deliver"), [(["email"], "display"), ([], "display"), ([], "email")]
)
def test_the_policy_decides_which_reissue_channels_are_allowed(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any, channels: list[str], deliver: str
) -> None:
    old = activate_backup(signed_in, mailbox)
    changed = admin.patch("/api/admin/policy", {"BACKUP_REISSUE_CHANNELS": channels})
    assert changed.status_code == 200, changed.get_json()
    alice = _user_id(app, "alice")
    answer = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": deliver})
    assert error(answer) == (403, "policy_forbids")
    still = Api(app.test_client()).post(
        "/api/recovery/begin", {"username": "alice", "backup_code": old}
    )
    assert still.status_code == 202


def test_the_reissue_channels_policy_is_validated(app: Flask, admin: Api) -> None:
    for bad in (["fax"], ["email", "email"], "email"):
        answer = admin.patch("/api/admin/policy", {"BACKUP_REISSUE_CHANNELS": bad})
        assert error(answer) == (400, "invalid_input")
        assert "BACKUP_REISSUE_CHANNELS" in answer.get_json()["message"]


def test_helpdesk_reissues_for_a_user_but_not_for_an_admin(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    activate_backup(signed_in, mailbox)
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    alice = _user_id(app, "alice")
    answer = helpdesk.post(f"/api/admin/users/{alice}/backup-code", {"deliver": "display"})
    assert answer.status_code == 200
    root = _user_id(app, "root")
    refused = helpdesk.post(f"/api/admin/users/{root}/backup-code", {"deliver": "display"})
    assert error(refused) == (403, "forbidden")


# ---- told as an administrator's doing ------------------------------------------------------


def test_the_ids_devices_and_address_hear_an_administrator_did_it(
    app: Flask, admin: Api, two_devices: dict[str, Any], mailbox: Any
) -> None:
    a = two_devices["a"]
    execute(app, "UPDATE users SET email_verified_at = CURRENT_TIMESTAMP WHERE username = 'alice'")
    mailbox.clear()
    blocked = admin.post(f"/api/admin/devices/{two_devices['b_id']}/block", {})
    assert blocked.status_code == 200
    notices = a.get("/api/notifications").get_json()["notifications"]
    notice = next(n for n in notices if n["kind"] == "device_blocked")
    assert notice["title"] == "An administrator blocked a device of your ID"
    assert notice["by_administrator"] is True
    assert notice["ip"] == "" and notice["user_agent"] == ""  # the administrator's stay private
    mail = _mail(mailbox, "An administrator blocked a device of your ID")
    body = mailbox.text(mail)
    assert "did this from the admin panel" in body and "IP:" not in body


def test_the_owners_own_block_keeps_the_owners_words(
    app: Flask, two_devices: dict[str, Any]
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    assert a.post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    notices = b.get("/api/notifications")
    # b is blocked now; the notice went to every other device: none but a, which did it.
    assert notices.status_code == 401
    for _kind, data in execute(app, "SELECT kind, data FROM notifications").all():
        assert "by_administrator" not in (data if isinstance(data, dict) else json.loads(data))


def test_deactivation_is_mailed_to_the_address(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    execute(app, "UPDATE users SET email_verified_at = CURRENT_TIMESTAMP WHERE username = 'alice'")
    alice = _user_id(app, "alice")
    assert admin.post(f"/api/admin/users/{alice}/deactivate", {}).status_code == 200
    mail = _mail(mailbox, "An administrator deactivated your ID")
    assert "did this from the admin panel" in mailbox.text(mail)


def test_a_reissue_is_told_to_the_ids_devices(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    activate_backup(signed_in, mailbox)
    alice = _user_id(app, "alice")
    reissued = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": "display"})
    assert reissued.status_code == 200
    notices = signed_in.get("/api/notifications").get_json()["notifications"]
    titles = {n["kind"]: n["title"] for n in notices}
    assert titles["backup_code_reissued"] == (
        "An administrator issued a new backup code for your ID"
    )
    assert all(n["by_administrator"] for n in notices if n["kind"] in titles)
