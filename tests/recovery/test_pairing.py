"""QR pairing end to end, with its attacks: a code is redeemed once, by one browser, approved
by a signed-in device of the ID with a fresh verification, and expires. Mail goes over real
SMTP (aiosmtpd)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import ORIGIN, Api
from tests.notify.test_devices_told import ALICE, device_ids, later, step_up
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator

# ---- QR pairing ----------------------------------------------------------------------------


class NewDevice:
    def __init__(self, app: Any) -> None:
        self.api = Api(app.test_client())
        self.key = SoftAuthenticator(attachment="cross-platform")

    def redeem(self, token: str, name: str = "Phone") -> Any:
        begin = self.api.post(f"/api/pairing/{token}/begin", {"device_name": name})
        if begin.status_code != 200:
            return begin
        self.confirmation = begin.get_json()["confirmation"]
        body = self.key.create(begin.get_json())
        return self.api.post(f"/api/pairing/{token}/complete", {**body, "device_name": name})


def start_pairing(api: Api) -> dict[str, Any]:
    response = api.post("/api/pairing")
    assert response.status_code == 201, response.get_json()
    check_response("POST", "/api/pairing", 201, response.get_json())
    return response.get_json()


def test_pairing_by_qr_code_end_to_end(app, signed_in, mailbox):
    created = start_pairing(signed_in)
    assert created["url"] == f"{ORIGIN}/pair/{created['token']}"
    assert created["qr_svg"].startswith("<svg") or "<svg" in created["qr_svg"][:200]
    assert len(created["token"]) >= 22  # ≥128 bits
    token = created["token"]
    status = signed_in.get(f"/api/pairing/{token}").get_json()
    assert status["status"] == "waiting" and status["device"] is None
    phone = NewDevice(app)
    done = phone.redeem(token)
    assert done.status_code == 202 and done.get_json() == {"status": "awaiting_approval"}
    # The old device sees the new one, but not the number: its person types what the phone shows.
    seen = signed_in.get(f"/api/pairing/{token}").get_json()
    check_response("GET", f"/api/pairing/{token}", 200, seen)
    assert seen["status"] == "awaiting_approval" and seen["confirmation"] is None
    assert phone.api.get(f"/api/pairing/{token}").get_json()["confirmation"] == phone.confirmation
    assert seen["device"]["name"] == "Phone" and seen["device"]["status"] == "pending"
    # Pending: the new passkey cannot sign in yet, and the phone has no session.
    assert phone.api.get("/api/me").status_code == 401
    assert Api(app.test_client()).sign_in(phone.key, username=None).status_code == 401
    approved = signed_in.post(f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    # The phone's poll receives "approved" with its session, once.
    polled = phone.api.get(f"/api/pairing/{token}")
    assert polled.get_json()["status"] == "approved"
    assert "keystead_session=" in polled.headers.get("Set-Cookie", "")
    assert phone.api.get("/api/me").status_code == 200
    second = phone.api.get(f"/api/pairing/{token}")
    assert "keystead_session=" not in second.headers.get("Set-Cookie", "")
    # Every other device is told; the address gets a mail with a block link.
    kinds = [n["kind"] for n in signed_in.get("/api/notifications").get_json()["notifications"]]
    assert kinds == ["device_paired"]
    assert "paired" in mailbox.wait_for(to=ALICE, count=1)[0]["Subject"]


def test_pairing_status_is_only_for_the_id_and_the_redeemer(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    phone.redeem(token)
    stranger = Api(app.test_client())
    assert stranger.get(f"/api/pairing/{token}").status_code == 404
    bob = Api(app.test_client())
    bob.sign_up(SoftAuthenticator(), username="bob")
    assert bob.get(f"/api/pairing/{token}").status_code == 404
    assert bob.post(f"/api/pairing/{token}/approve", {"confirmation": "00"}).status_code == 404


def test_two_redeemers_one_wins(app, signed_in):
    token = start_pairing(signed_in)["token"]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def redeem() -> None:
        device = NewDevice(app)
        barrier.wait()
        results.append(
            device.api.post(f"/api/pairing/{token}/begin", {"device_name": "x"}).status_code
        )

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 404]


def test_replayed_and_expired_pairings_fail(app, signed_in, clock):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    assert phone.redeem(token).status_code == 404  # replayed
    right = {"confirmation": phone.confirmation}
    assert signed_in.post(f"/api/pairing/{token}/approve", right).status_code == 200
    assert signed_in.post(f"/api/pairing/{token}/approve", right).status_code == 404
    expiring = start_pairing(signed_in)["token"]
    late = NewDevice(app)
    assert late.redeem(expiring).status_code == 202
    pending_id = signed_in.get(f"/api/pairing/{expiring}").get_json()["device"]["id"]
    clock.advance(app.config["PAIRING_TTL"] + 1)
    assert signed_in.get(f"/api/pairing/{expiring}").get_json()["status"] == "expired"
    late_number = {"confirmation": late.confirmation}
    assert signed_in.post(f"/api/pairing/{expiring}/approve", late_number).status_code == 404
    assert pending_id not in device_ids(signed_in)  # the stored passkey is deleted


def test_rejecting_deletes_the_pending_passkey(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    phone.redeem(token)
    pending_id = signed_in.get(f"/api/pairing/{token}").get_json()["device"]["id"]
    assert signed_in.post(f"/api/pairing/{token}/reject").get_json()["status"] == "rejected"
    assert pending_id not in device_ids(signed_in)
    assert phone.api.get(f"/api/pairing/{token}").get_json()["status"] == "rejected"
    assert phone.api.get("/api/me").status_code == 401


@pytest.mark.parametrize("config_overrides", [{"REAUTH_MAX_AGE": 60}], indirect=True)
def test_approval_needs_a_fresh_verification_and_not_the_redeemer(
    app, signed_in, authenticator, clock
):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    phone.redeem(token)
    approve = {"confirmation": phone.confirmation}
    # The redeeming browser can never approve itself, even holding a session of the ID.
    phone.api.client.set_cookie(
        "keystead_session", signed_in.client.get_cookie("keystead_session").value
    )
    assert phone.api.post(f"/api/pairing/{token}/approve", approve).status_code == 404
    # Past REAUTH_MAX_AGE (60 s here), within the pairing's 5 minutes: a step-up is needed.
    clock.advance(4 * 60 + 30)
    stale = signed_in.post(f"/api/pairing/{token}/approve", approve)
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == "awaiting_approval"
    assert step_up(signed_in, authenticator).status_code == 204
    assert signed_in.post(f"/api/pairing/{token}/approve", approve).status_code == 200


def test_a_blocked_device_cannot_approve(app, two_devices):
    token = start_pairing(two_devices["b"])["token"]
    phone = NewDevice(app)
    phone.redeem(token)
    assert two_devices["a"].post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    response = two_devices["b"].post(
        f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation}
    )
    assert response.status_code == 401
    status = two_devices["a"].get(f"/api/pairing/{token}").get_json()["status"]
    assert status == "awaiting_approval"


def test_starting_a_pairing_needs_a_fresh_verification(signed_in, clock):
    later(clock, 6)
    response = signed_in.post("/api/pairing")
    assert response.status_code == 401 and response.get_json()["error"] == "reauth_required"


@pytest.mark.parametrize("config_overrides", [{"REAUTH_MAX_AGE": 3600}], indirect=True)
def test_at_most_three_pending_pairings(app, signed_in, clock):
    for i in range(3):
        clock.at(10 * i)
        start_pairing(signed_in)
    # 25 s after the first: it expires PAIRING_TTL after its start, the true wait.
    clock.at(25)
    fourth = signed_in.post("/api/pairing")
    assert fourth.status_code == 429 and fourth.get_json()["error"] == "too_many_pairings"
    assert fourth.headers["Retry-After"] == str(app.config["PAIRING_TTL"] - 25)
    # Once the oldest expired, a new one starts.
    clock.at(app.config["PAIRING_TTL"])
    assert signed_in.post("/api/pairing").status_code == 201


def test_pairing_approval_without_origin_is_csrf(app, signed_in):
    token = start_pairing(signed_in)["token"]
    NewDevice(app).redeem(token)
    response = signed_in.client.post(f"/api/pairing/{token}/approve", json={})
    assert response.status_code == 403
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == "awaiting_approval"


def test_pair_page_for_an_unknown_link_says_it_is_not_valid(api):
    response = api.get("/pair/not-a-real-token")
    assert response.status_code == 404
    assert "This pairing link is not valid" in response.get_data(as_text=True)


def test_a_pairing_nobody_redeemed_can_be_cancelled(signed_in):
    for _ in range(3):
        token = start_pairing(signed_in)["token"]
    assert signed_in.post("/api/pairing").status_code == 429
    assert signed_in.post(f"/api/pairing/{token}/reject").get_json() == {"status": "rejected"}
    assert signed_in.post("/api/pairing").status_code == 201
