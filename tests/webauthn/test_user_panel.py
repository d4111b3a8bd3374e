"""The account panel over the JSON API: the ID's sessions (list, end one, end all others), its
display name, and deleting the ID, with their attacks. Mail goes over real SMTP (aiosmtpd).

Past 400 lines on purpose: each panel action with its attacks, one test each."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core import useragent
from core.clock import utcnow
from tests.clock import Clock
from tests.conftest import ORIGIN, Api, snapshot
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator, Tamper

ALICE = "alice@example.com"
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


# ---- helpers -------------------------------------------------------------------------------


def later(clock: Clock, minutes: float) -> None:
    """The app's clock ``minutes`` ahead: the session's last verification grows stale."""
    clock.advance(minutes * 60)


def rows(app: Any, sql: str, **params: Any) -> list[Any]:
    with app.extensions["keystead.engine"].connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def execute(app: Any, sql: str, **params: Any) -> None:
    with app.extensions["keystead.engine"].begin() as conn:
        conn.execute(sa.text(sql), params)


def step_up(api: Api, key: SoftAuthenticator) -> None:
    begin = api.post("/api/reauth/begin")
    assert begin.status_code == 200, begin.get_json()
    done = api.post("/api/reauth/complete", key.get(begin.get_json()))
    assert done.status_code == 204, done.get_json()


def delete_me(api: Api, body: Any) -> Any:
    return api.client.delete("/api/me", json=body, headers={"Origin": api.origin})


def mails_titled(mailbox: Any, to: str, subject: str, timeout: float = 5) -> list[Any]:
    """The mails to ``to`` with ``subject``, once at least one has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in mailbox.received(to) if m["Subject"] == subject]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} to {to}: {[m['Subject'] for m in mailbox.messages]}")


def browser(app: Any, user_agent: str) -> Api:
    """Another browser (its own cookies) sending ``user_agent``."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return Api(client)


def cookie_cleared(response: Any) -> bool:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if "keystead_session=" in h]
    return len(cookies) == 1 and "keystead_session=;" in cookies[0] and "1970" in cookies[0]


def sessions_of(api: Api) -> list[dict[str, Any]]:
    response = api.get("/api/sessions")
    assert response.status_code == 200, response.get_json()
    check_response("GET", "/api/sessions", 200, response.get_json())
    return list(response.get_json()["sessions"])


def everything(app: Any) -> dict[str, Any]:
    """``snapshot`` plus what deleting touches beyond it."""
    state: dict[str, Any] = snapshot(app)
    for table in (
        "audit_events",
        "backup_codes",
        "email_codes",
        "recovery_flows",
        "pairings",
        "notifications",
        "challenges",
        "outbox_mail",
    ):
        state[table] = sorted(tuple(map(str, r)) for r in rows(app, f"SELECT * FROM {table}"))
    return state


@pytest.fixture
def laptop_and_phone(app: Any, signed_in: Api, authenticator: SoftAuthenticator) -> dict:
    """alice signed in on her laptop (``signed_in``), and on her phone with a second passkey
    in a Firefox on a Mac... and a Chrome on Android."""
    phone_key = SoftAuthenticator(origin=ORIGIN)
    assert signed_in.add_device(phone_key, device_name="Phone").status_code == 201
    phone = browser(app, CHROME_ANDROID)
    assert phone.sign_in(phone_key).status_code == 200
    firefox = browser(app, FIREFOX_MAC)
    assert firefox.sign_in(authenticator).status_code == 200
    return {"laptop": signed_in, "key": authenticator, "phone": phone, "firefox": firefox}


# ---- the browser label ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (CHROME_ANDROID, "Chrome on Android"),
        (FIREFOX_MAC, "Firefox on Mac"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        ("curl/8.5.0", None),
        ("", None),
    ],
)
def test_the_browser_label_names_browser_and_platform(user_agent, label):
    assert useragent.describe(user_agent) == label


# ---- sessions ------------------------------------------------------------------------------


def test_the_sessions_list_shows_the_ids_live_sessions(app, laptop_and_phone):
    laptop, phone = laptop_and_phone["laptop"], laptop_and_phone["phone"]
    listed = sessions_of(laptop)
    assert len(listed) == 3
    assert [s["current"] for s in listed].count(True) == 1
    by_browser = {s["browser"]: s for s in listed}
    assert by_browser["Chrome on Android"]["device"] == "Phone"
    assert by_browser["Firefox on Mac"]["device"] == "Alice's laptop"
    assert all(s["ip"] == "127.0.0.1" for s in listed)
    # Each browser sees its own session as the current one.
    current = [s for s in sessions_of(phone) if s["current"]]
    assert len(current) == 1 and current[0]["browser"] == "Chrome on Android"

    # Signed out, expired and idle sessions are not listed; another ID's never are.
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    assert laptop_and_phone["firefox"].post("/api/logout").status_code == 204
    assert len(sessions_of(laptop)) == 2
    phone_id = by_browser["Chrome on Android"]["id"]
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    execute(
        app,
        "UPDATE login_sessions SET last_seen_at = :t WHERE id = :id",
        t=utcnow() - timedelta(seconds=idle + 1),
        id=phone_id,
    )
    assert [s["id"] for s in sessions_of(laptop)] == [s["id"] for s in listed if s["current"]]
    execute(
        app,
        "UPDATE login_sessions SET last_seen_at = :t, expires_at = :t WHERE id = :id",
        t=utcnow() - timedelta(seconds=1),
        id=phone_id,
    )
    assert phone_id not in [s["id"] for s in sessions_of(laptop)]


def test_a_session_whose_device_is_removed_lists_no_device_name(app, signed_in, authenticator):
    assert len(sessions_of(signed_in)) == 1
    execute(app, "UPDATE login_sessions SET device_id = NULL")
    (only,) = sessions_of(signed_in)
    assert only["device"] is None and only["current"] is True


def test_ending_a_session_needs_a_fresh_verification(app, laptop_and_phone, clock):
    laptop, phone = laptop_and_phone["laptop"], laptop_and_phone["phone"]
    phone_id = next(s["id"] for s in sessions_of(laptop) if s["device"] == "Phone")
    later(clock, 6)
    before = everything(app)
    stale = laptop.delete(f"/api/sessions/{phone_id}")
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    check_response("DELETE", f"/api/sessions/{phone_id}", 401, stale.get_json())
    assert everything(app) == before
    assert phone.get("/api/me").status_code == 200

    step_up(laptop, laptop_and_phone["key"])
    ended = laptop.delete(f"/api/sessions/{phone_id}")
    assert ended.status_code == 204
    check_response("DELETE", f"/api/sessions/{phone_id}", 204, None)
    assert phone.get("/api/me").status_code == 401
    assert phone_id not in [s["id"] for s in sessions_of(laptop)]
    (audited,) = rows(app, "SELECT device_id, data FROM audit_events WHERE kind='session_ended'")
    phone_device = rows(app, "SELECT id FROM devices WHERE name = 'Phone'")[0].id
    assert audited.device_id == phone_device and str(phone_id) in str(audited.data)
    # Ended once: a second try is the same 404 as an unknown id.
    again = laptop.delete(f"/api/sessions/{phone_id}")
    assert again.status_code == 404 and again.get_json()["error"] == "not_found"


def test_another_ids_session_and_ids_out_of_range_are_not_found(app, signed_in):
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    (bobs,) = sessions_of(bob)
    before = everything(app)
    for session_id in (bobs["id"], 999_999, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64 + 5):
        response = signed_in.delete(f"/api/sessions/{session_id}")
        assert response.status_code == 404, (session_id, response.get_json())
        assert response.get_json()["error"] == "not_found"
        check_response("DELETE", f"/api/sessions/{session_id}", 404, response.get_json())
    assert signed_in.delete("/api/sessions/0").status_code == 404
    assert signed_in.delete("/api/sessions/-1").status_code == 404
    assert signed_in.delete("/api/sessions/abc").status_code == 404
    assert everything(app) == before
    assert bob.get("/api/me").status_code == 200


def test_ending_this_sessions_own_id_signs_this_browser_out(signed_in):
    (mine,) = sessions_of(signed_in)
    response = signed_in.delete(f"/api/sessions/{mine['id']}")
    assert response.status_code == 204
    assert cookie_cleared(response)
    assert signed_in.get("/api/me").status_code == 401


def test_ending_every_other_session(app, laptop_and_phone, clock):
    laptop, phone, firefox = (laptop_and_phone[k] for k in ("laptop", "phone", "firefox"))
    later(clock, 6)
    before = everything(app)
    stale = laptop.post("/api/sessions/end-others")
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    check_response("POST", "/api/sessions/end-others", 401, stale.get_json())
    assert everything(app) == before

    step_up(laptop, laptop_and_phone["key"])
    response = laptop.post("/api/sessions/end-others")
    assert response.status_code == 200 and response.get_json() == {"ended": 2}
    check_response("POST", "/api/sessions/end-others", 200, response.get_json())
    assert phone.get("/api/me").status_code == 401
    assert firefox.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200
    (only,) = sessions_of(laptop)
    assert only["current"]
    (audited,) = rows(app, "SELECT data FROM audit_events WHERE kind='other_sessions_ended'")
    assert '"ended": 2' in str(audited.data).replace("'", '"')
    # Nothing left to end: 0, and no audit row for nothing.
    assert laptop.post("/api/sessions/end-others").get_json() == {"ended": 0}
    assert len(rows(app, "SELECT id FROM audit_events WHERE kind='other_sessions_ended'")) == 1


def test_ending_others_leaves_other_ids_alone(app, signed_in):
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    assert signed_in.post("/api/sessions/end-others").get_json() == {"ended": 0}
    assert bob.get("/api/me").status_code == 200


def test_signed_out_callers_get_401_from_the_panel(api):
    for response in (
        api.get("/api/sessions"),
        api.delete("/api/sessions/1"),
        api.post("/api/sessions/end-others"),
        api.patch("/api/me", {"display_name": "Eve"}),
        delete_me(api, {"confirm": "alice"}),
    ):
        assert response.status_code == 401 and response.get_json()["error"] == "not_signed_in"


# ---- display name --------------------------------------------------------------------------


def test_changing_the_display_name(app, signed_in, clock):
    # No fresh verification needed: the name changes nothing about what can sign in.
    later(clock, 60)
    response = signed_in.patch("/api/me", {"display_name": "  Ada Lovelace  "})
    assert response.status_code == 200, response.get_json()
    check_response("PATCH", "/api/me", 200, response.get_json())
    assert response.get_json()["user"]["display_name"] == "Ada Lovelace"
    assert signed_in.get("/api/me").get_json()["user"]["display_name"] == "Ada Lovelace"
    (audited,) = rows(app, "SELECT data FROM audit_events WHERE kind='display_name_changed'")
    assert "Ada Lovelace" in str(audited.data)
    # The same name again changes nothing and records nothing; empty means the username.
    assert signed_in.patch("/api/me", {"display_name": "Ada Lovelace"}).status_code == 200
    assert len(rows(app, "SELECT id FROM audit_events WHERE kind='display_name_changed'")) == 1
    cleared = signed_in.patch("/api/me", {"display_name": ""})
    assert cleared.get_json()["user"]["display_name"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "x" * 129},
        {"display_name": "two\nlines"},
        {"display_name": "nul\x00"},
        {"display_name": 5},
        {"display_name": None},
        {},
        ["display_name"],
    ],
)
def test_a_bad_display_name_is_refused_and_changes_nothing(app, signed_in, body):
    before = everything(app)
    response = signed_in.client.patch("/api/me", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
    check_response("PATCH", "/api/me", 400, response.get_json())
    assert everything(app) == before


def test_the_display_name_needs_an_allowed_origin(app, signed_in):
    before = everything(app)
    response = signed_in.client.patch(
        "/api/me", json={"display_name": "Eve"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert everything(app) == before


# ---- deleting the ID -----------------------------------------------------------------------


def test_deleting_needs_a_fresh_verification(app, signed_in, clock):
    later(clock, 6)
    before = everything(app)
    response = delete_me(signed_in, {"confirm": "alice"})
    assert response.status_code == 401 and response.get_json()["error"] == "reauth_required"
    check_response("DELETE", "/api/me", 401, response.get_json())
    assert everything(app) == before
    assert signed_in.get("/api/me").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"confirm": "Alice"},
        {"confirm": "ALICE"},
        {"confirm": " alice"},
        {"confirm": "bob"},
        {"confirm": ""},
        {"confirm": None},
        {"confirm": ["alice"]},
        {},
    ],
)
def test_deleting_needs_the_exact_username_and_a_wrong_one_changes_nothing(app, signed_in, body):
    before = everything(app)
    response = delete_me(signed_in, body)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
    check_response("DELETE", "/api/me", 400, response.get_json())
    assert everything(app) == before
    assert signed_in.get("/api/me").status_code == 200


def test_a_wrong_username_is_said_before_any_step_up(app, signed_in, clock):
    later(clock, 6)
    response = delete_me(signed_in, {"confirm": "alicee"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"


def test_deleting_the_id(app, laptop_and_phone, mailbox):
    laptop, phone = laptop_and_phone["laptop"], laptop_and_phone["phone"]
    key = laptop_and_phone["key"]
    # A verified address, backup active (a backup code and mailed codes), a pairing waiting.
    execute(app, "UPDATE users SET email_verified_at = :t", t=utcnow())
    assert laptop.post("/api/backup/activate").status_code == 202
    (code_mail,) = mails_titled(mailbox, ALICE, "Your code to activate backup")
    otp = re.search(r"^\s+(\d{6,8})\s*$", mailbox.text(code_mail), re.M).group(1)
    confirmed = laptop.post("/api/backup/confirm", {"otp": otp})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert laptop.post("/api/pairing").status_code == 201
    # A recovery begun elsewhere (a flow and its mailed code), a step-up left unfinished.
    stranger = Api(app.test_client())
    begun = stranger.post(
        "/api/recovery/begin",
        {"username": "alice", "backup_code": confirmed.get_json()["backup_code"]},
    )
    assert begun.status_code == 202, begun.get_json()
    assert laptop.post("/api/reauth/begin").status_code == 200
    user_id = rows(app, "SELECT id FROM users WHERE username = 'alice'")[0].id
    old_cookie = laptop.client.get_cookie("keystead_session").value
    old_handle = bytes(rows(app, "SELECT user_handle FROM users")[0].user_handle)
    for table in ("backup_codes", "email_codes", "recovery_flows", "pairings", "challenges"):
        assert rows(app, f"SELECT * FROM {table}"), table

    response = delete_me(laptop, {"confirm": "alice"})
    assert response.status_code == 204, response.get_json()
    check_response("DELETE", "/api/me", 204, None)
    assert cookie_cleared(response)

    # Every session is over, the old cookie too.
    for api in (laptop, phone, laptop_and_phone["firefox"]):
        assert api.get("/api/me").status_code == 401
    replay = Api(app.test_client())
    replay.client.set_cookie("keystead_session", old_cookie)
    assert replay.get("/api/me").status_code == 401
    assert not rows(app, "SELECT id FROM login_sessions WHERE revoked_at IS NULL")

    # Every device removed (kept as rows, ids never reused); the row a tombstone.
    devices = rows(app, "SELECT status, removed_at FROM devices WHERE user_id = :u", u=user_id)
    assert len(devices) == 2
    assert all(d.status == "removed" and d.removed_at is not None for d in devices)
    (user,) = rows(app, "SELECT * FROM users WHERE id = :u", u=user_id)
    assert user.deleted_at is not None
    assert user.username == user.username_key == f"deleted:{user_id}"
    assert user.email == "" and user.display_name == "" and user.backup_email is None
    assert user.email_verified_at is None
    assert len(bytes(user.user_handle)) == 32 and bytes(user.user_handle) != old_handle

    # Recovery, inbox and pending ceremonies forget the ID.
    for table in (
        "backup_codes",
        "email_codes",
        "recovery_flows",
        "pairings",
        "notifications",
        "block_links",
        "challenges",
    ):
        assert not rows(app, f"SELECT * FROM {table}"), table

    # The audit trail stays, without who and where.
    trail = rows(
        app,
        "SELECT kind, device_id, ip, user_agent, data FROM audit_events WHERE user_id = :u",
        u=user_id,
    )
    kinds = {r.kind for r in trail}
    assert {"user_registered", "device_added", "signed_in", "user_deleted"} <= kinds
    assert all(r.ip == "" and r.user_agent == "" for r in trail)
    text = " ".join(str(r.data) for r in trail)
    for personal in ("alice", "Alice's laptop", "Phone", "example.com", "Mozilla"):
        assert personal not in text, personal
    assert any(r.device_id is not None for r in trail)

    # The address is told, once, before it was erased.
    (goodbye,) = mails_titled(mailbox, ALICE, "Your ID was deleted")
    assert "Your ID alice" in mailbox.text(goodbye)

    # The old passkey signs in nowhere, and leaves no trace on the tombstone.
    trail_before = len(trail)
    signin = Api(app.test_client())
    refused = signin.sign_in(key, username=None)
    assert refused.status_code == 401 and refused.get_json()["error"] == "authentication_failed"
    assert len(rows(app, "SELECT id FROM audit_events WHERE user_id = :u", u=user_id)) == (
        trail_before
    )
    options = signin.post("/api/authenticate/begin", {"username": "alice"}).get_json()
    assert options["publicKey"]["allowCredentials"]  # decoys, as for any unknown name
    # Even naming the tombstone and presenting the old credential without a userHandle (a
    # security key's non-discoverable credential sends none): refused like an unknown
    # credential, nothing recorded.
    begin = signin.post("/api/authenticate/begin", {"username": f"deleted:{user_id}"})
    forced = key.get(
        begin.get_json(),
        credential_id=next(iter(key.credentials)),
        tamper=Tamper(user_handle=None),
    )
    refused = signin.post("/api/authenticate/complete", forced)
    assert refused.status_code == 401 and refused.get_json()["error"] == "authentication_failed"
    assert len(rows(app, "SELECT id FROM audit_events WHERE user_id = :u", u=user_id)) == (
        trail_before
    )

    # The username is free again; the new alice is a new ID.
    newcomer = Api(app.test_client())
    assert newcomer.sign_up(SoftAuthenticator(origin=ORIGIN)).status_code == 201
    assert newcomer.get("/api/me").get_json()["user"]["id"] != user_id


def test_an_unverified_address_gets_no_goodbye_mail(app, api, authenticator):
    assert api.sign_up(authenticator, confirm_email=False).status_code == 201
    assert delete_me(api, {"confirm": "alice"}).status_code == 204
    assert not rows(app, "SELECT id FROM outbox_mail WHERE kind = 'user_deleted'")
    assert rows(app, "SELECT deleted_at FROM users")[0].deleted_at is not None


def test_deleting_one_id_leaves_the_others_alone(app, signed_in):
    bob = Api(app.test_client())
    bob_key = SoftAuthenticator(origin=ORIGIN)
    assert bob.sign_up(bob_key, username="bob").status_code == 201
    assert delete_me(signed_in, {"confirm": "alice"}).status_code == 204
    assert bob.get("/api/me").get_json()["user"]["username"] == "bob"
    bob_id = rows(app, "SELECT id FROM users WHERE username = 'bob'")[0].id
    trail = rows(app, "SELECT ip, user_agent FROM audit_events WHERE user_id = :u", u=bob_id)
    assert trail and all(r.ip == "127.0.0.1" for r in trail)
    again = Api(app.test_client())
    assert again.sign_in(bob_key, username="bob").status_code == 200


def test_a_tombstone_username_can_never_be_signed_up(app, signed_in):
    assert delete_me(signed_in, {"confirm": "alice"}).status_code == 204
    user_id = rows(app, "SELECT id FROM users")[0].id
    response = Api(app.test_client()).post(
        "/api/register/begin", {"username": f"deleted:{user_id}", "email": "x@example.com"}
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
