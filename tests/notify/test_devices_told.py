"""Every device is told: notifications, step-up, blocking (API and mail links) and activity,
with their attacks. Mail goes over real SMTP (aiosmtpd). QR pairing is in
``tests/recovery/test_pairing.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.clock import Clock
from tests.conftest import ORIGIN, Api, snapshot
from tests.openapi_check import check_response
from tools.softauthn import HONEST, SoftAuthenticator, Tamper

ALICE = "alice@example.com"


def later(clock: Clock, minutes: float) -> None:
    clock.advance(minutes * 60)


def rows(app: Any, sql: str, **params: Any) -> list[Any]:
    with app.extensions["keystead.engine"].connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def device_ids(api: Api) -> list[int]:
    return [d["id"] for d in api.get("/api/devices").get_json()["devices"]]


def step_up(api: Api, key: SoftAuthenticator, tamper: Tamper = HONEST) -> Any:
    begin = api.post("/api/reauth/begin")
    assert begin.status_code == 200, begin.get_json()
    return api.post("/api/reauth/complete", key.get(begin.get_json(), tamper=tamper))


def block_link(mailbox: Any, count: int) -> str:
    message = mailbox.wait_for(to=ALICE, count=count)[count - 1]
    found = re.search(r"/block/([A-Za-z0-9_-]+)", mailbox.text(message))
    assert found, mailbox.text(message)
    return found.group(1)


def form_token(html: str) -> str:
    return re.search(r'name="form_token" value="([0-9a-f]+)"', html).group(1)


# ---- notifications -------------------------------------------------------------------------


def test_adding_a_device_tells_every_other_device_and_the_address(two_devices, mailbox):
    a, b = two_devices["a"], two_devices["b"]
    # B's key was added in A's browser: A did it, so A is not told; B's first sign-in in its
    # own browser is news to A.
    listing = a.get("/api/notifications")
    check_response("GET", "/api/notifications", 200, listing.get_json())
    assert [n["kind"] for n in listing.get_json()["notifications"]] == ["new_device_sign_in"]
    # B adds device C: A is told, B (the acting device) and C (the new one) are not.
    c_key = SoftAuthenticator(attachment="cross-platform")
    assert b.add_device(c_key, device_name="Device C").status_code == 201
    c_id = device_ids(a)[-1]
    listing = a.get("/api/notifications").get_json()
    assert [n["kind"] for n in listing["notifications"]] == ["device_added", "new_device_sign_in"]
    notice = listing["notifications"][0]
    assert notice["read"] is False
    assert notice["device"] == {
        "id": c_id,
        "name": "Device C",
        "authenticator": "Keystead software authenticator (tests)",
        "status": "active",
    }
    assert notice["ip"] == "127.0.0.1" and notice["user_agent"].startswith("Werkzeug")
    assert b.get("/api/notifications").get_json()["notifications"] == []
    mails = mailbox.wait_for(to=ALICE, count=3)
    added = [m for m in mails if m["Subject"] == "A passkey was added to your ID"]
    assert [("Device C" in mailbox.text(m)) for m in added] == [False, True]
    assert "/block/" in mailbox.text(added[1])


def test_the_next_sign_in_answers_the_unread_notifications(two_devices):
    a, key = two_devices["a"], two_devices["a_key"]
    answer = a.sign_in(key).get_json()
    assert [n["kind"] for n in answer["notifications"]] == ["new_device_sign_in"]
    check_response("POST", "/api/authenticate/complete", 200, answer)
    for notice in answer["notifications"]:
        read = a.post(f"/api/notifications/{notice['id']}/read")
        assert read.status_code == 204
    assert a.sign_in(key).get_json()["notifications"] == []
    notice_id = answer["notifications"][0]["id"]
    # Another device's notification is not found from here.
    assert two_devices["b"].post(f"/api/notifications/{notice_id}/read").status_code == 404


def test_live_view_polls_with_since(two_devices, app):
    a = two_devices["a"]
    first = a.get("/api/notifications").get_json()
    newest = first["notifications"][0]["id"]
    assert first["poll_interval"] == 3
    assert a.get(f"/api/notifications?since={newest}").get_json()["notifications"] == []
    b_device = two_devices["b_id"]
    assert (
        two_devices["b"].patch(f"/api/devices/{b_device}", {"name": "B renamed"}).status_code == 200
    )
    c_key = SoftAuthenticator()
    assert two_devices["b"].add_device(c_key, device_name="Device C").status_code == 201
    fresh = a.get(f"/api/notifications?since={newest}").get_json()["notifications"]
    assert [n["kind"] for n in fresh] == ["device_added"] and fresh[0]["device"][
        "name"
    ] == "Device C"
    assert a.get("/api/notifications?since=abc").status_code == 400


def test_a_sign_in_from_a_new_browser_is_announced(two_devices, app, mailbox):
    stranger_browser = Api(app.test_client())
    assert stranger_browser.sign_in(two_devices["b_key"]).status_code == 200
    kinds = [
        n["kind"] for n in two_devices["a"].get("/api/notifications").get_json()["notifications"]
    ]
    assert kinds[0] == "new_device_sign_in"
    subjects = [m["Subject"] for m in mailbox.wait_for(to=ALICE, count=3)]
    assert subjects.count("New sign-in to your ID") == 2
    # The same browser again is not news.
    assert stranger_browser.sign_in(two_devices["b_key"]).status_code == 200
    again = [
        n["kind"] for n in two_devices["a"].get("/api/notifications").get_json()["notifications"]
    ]
    assert again == kinds


def test_activity_lists_the_ids_audit_trail(two_devices):
    response = two_devices["a"].get("/api/activity")
    check_response("GET", "/api/activity", 200, response.get_json())
    kinds = [e["kind"] for e in response.get_json()["events"]]
    assert {"user_registered", "device_added", "signed_in"} <= set(kinds)
    assert all("to" not in e["details"] for e in response.get_json()["events"])


def test_mark_all_read_and_the_unread_total(two_devices):
    a = two_devices["a"]
    c_key = SoftAuthenticator(attachment="cross-platform")
    assert two_devices["b"].add_device(c_key, device_name="Device C").status_code == 201
    assert a.get("/api/notifications").get_json()["unread"] == 2
    newest = a.get("/api/notifications").get_json()["notifications"][0]["id"]
    assert a.get(f"/api/notifications?since={newest}").get_json()["unread"] == 2  # a total
    assert a.post("/api/notifications/read").status_code == 204
    listing = a.get("/api/notifications").get_json()
    assert listing["unread"] == 0 and all(n["read"] for n in listing["notifications"])


# ---- step-up and blocking ------------------------------------------------------------------


def test_blocking_needs_a_fresh_verification_then_works_at_once(two_devices, app, clock):
    a, b, b_id = two_devices["a"], two_devices["b"], two_devices["b_id"]
    later(clock, 6)
    stale = a.post(f"/api/devices/{b_id}/block")
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    check_response("POST", f"/api/devices/{b_id}/block", 401, stale.get_json())
    assert b.get("/api/me").status_code == 200
    assert step_up(a, two_devices["a_key"]).status_code == 204
    blocked = a.post(f"/api/devices/{b_id}/block")
    assert blocked.status_code == 200
    check_response("POST", f"/api/devices/{b_id}/block", 200, blocked.get_json())
    assert blocked.get_json()["device"]["status"] == "blocked"
    # At once: B's session is gone; B cannot sign in; the trail says a blocked device tried.
    assert b.get("/api/me").status_code == 401
    refused = b.sign_in(two_devices["b_key"], username=None)
    assert refused.status_code == 401 and refused.get_json()["error"] == "device_blocked"
    tried = rows(app, "SELECT data FROM audit_events WHERE kind = 'sign_in_failed'")
    assert len(tried) == 1 and "device_blocked" in str(tried[0].data)
    # Nothing unblocks it from the user's side; it is out of allowCredentials.
    options = b.post("/api/authenticate/begin", {"username": "alice"}).get_json()
    assert len(options["publicKey"]["allowCredentials"]) == 1


def test_step_up_refuses_another_ids_key_and_missing_user_verification(two_devices, app, clock):
    a = two_devices["a"]
    bob_key = SoftAuthenticator()
    assert Api(app.test_client()).sign_up(bob_key, username="bob").status_code == 201
    later(clock, 6)
    begin = a.post("/api/reauth/begin").get_json()
    forged = bob_key.get(begin, credential_id=next(iter(bob_key.credentials)))
    assert a.post("/api/reauth/complete", forged).status_code == 401
    assert step_up(a, two_devices["a_key"], Tamper(uv=False)).status_code == 401
    assert a.post(f"/api/devices/{two_devices['b_id']}/block").status_code == 401


def test_unpairing_needs_a_fresh_verification_and_ends_the_devices_sessions(two_devices, clock):
    a, b = two_devices["a"], two_devices["b"]
    later(clock, 6)
    assert a.delete(f"/api/devices/{two_devices['b_id']}").status_code == 401
    assert step_up(a, two_devices["a_key"]).status_code == 204
    assert a.delete(f"/api/devices/{two_devices['b_id']}").status_code == 204
    assert b.get("/api/me").status_code == 401
    # A removed it, so A is not told; the address is (the mail test covers it).
    kinds = [n["kind"] for n in a.get("/api/notifications").get_json()["notifications"]]
    assert "device_removed" not in kinds


def test_another_ids_device_cannot_be_blocked(two_devices, app):
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(), username="bob").status_code == 201
    response = bob.post(f"/api/devices/{two_devices['b_id']}/block")
    assert response.status_code == 404
    assert two_devices["b"].get("/api/me").status_code == 200


def test_block_without_origin_is_csrf(two_devices):
    response = two_devices["a"].client.post(
        f"/api/devices/{two_devices['b_id']}/block",
        json={},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403 and response.get_json()["error"] == "csrf_failed"
    assert two_devices["b"].get("/api/me").status_code == 200


# ---- block links in mail -------------------------------------------------------------------


def test_block_link_get_changes_nothing_and_post_blocks(two_devices, app, mailbox):
    token = block_link(mailbox, 1)
    before = snapshot(app)
    page = app.test_client().get(f"/block/{token}")
    assert page.status_code == 200 and "Device B" in page.get_data(as_text=True)
    assert snapshot(app) == before  # a mail scanner's prefetch does nothing
    form = form_token(page.get_data(as_text=True))
    done = app.test_client().post(
        f"/block/{token}", data={"form_token": form}, headers={"Origin": ORIGIN}
    )
    assert done.status_code == 200 and "Device blocked" in done.get_data(as_text=True)
    assert two_devices["b"].get("/api/me").status_code == 401
    statuses = {
        d["id"]: d["status"] for d in two_devices["a"].get("/api/devices").get_json()["devices"]
    }
    assert statuses[two_devices["b_id"]] == "blocked"
    # Single use: used again, it only says the device is already blocked.
    before = snapshot(app)
    again = app.test_client().post(
        f"/block/{token}", data={"form_token": form}, headers={"Origin": ORIGIN}
    )
    assert again.status_code == 200 and "Already blocked" in again.get_data(as_text=True)
    reopened = app.test_client().get(f"/block/{token}")
    assert reopened.status_code == 200 and "Already blocked" in reopened.get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.parametrize("tamper", ["flip", "short", "unknown"])
def test_tampered_block_links_are_404(two_devices, app, mailbox, tamper):
    token = block_link(mailbox, 1)
    bad = {
        "flip": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "short": token[:10],
        "unknown": "x" * 32,
    }[tamper]
    assert app.test_client().get(f"/block/{bad}").status_code == 404
    response = app.test_client().post(
        f"/block/{bad}", data={"form_token": "0" * 64}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 404
    assert two_devices["b"].get("/api/me").status_code == 200


def test_block_link_needs_its_form_token_and_an_allowed_origin(two_devices, app, mailbox):
    token = block_link(mailbox, 1)
    for data, origin, expected in (
        ({}, ORIGIN, 404),
        ({"form_token": "0" * 64}, ORIGIN, 404),
        (
            {
                "form_token": form_token(
                    app.test_client().get(f"/block/{token}").get_data(as_text=True)
                )
            },
            "http://evil.example",
            403,
        ),
    ):
        response = app.test_client().post(f"/block/{token}", data=data, headers={"Origin": origin})
        assert response.status_code == expected
    assert two_devices["b"].get("/api/me").status_code == 200


def test_block_link_expires(two_devices, app, mailbox, clock):
    token = block_link(mailbox, 1)
    clock.advance(app.config["BLOCK_LINK_TTL"] + 1)
    assert app.test_client().get(f"/block/{token}").status_code == 404


def test_block_link_is_bound_to_its_device_and_says_already_blocked(two_devices, app, mailbox):
    token = block_link(mailbox, 1)  # about device B
    page = app.test_client().get(f"/block/{token}").get_data(as_text=True)
    # Block B from the account first; the link then answers "already blocked", and A is untouched.
    assert two_devices["a"].post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    done = app.test_client().post(
        f"/block/{token}", data={"form_token": form_token(page)}, headers={"Origin": ORIGIN}
    )
    assert done.status_code == 200 and "Already blocked" in done.get_data(as_text=True)
    assert two_devices["a"].get("/api/me").status_code == 200
