"""Pairing's refusals that the end-to-end tests pass by: someone else completing a redeemed
pairing, a completion or an approval that loses a race, a pairing whose passkey was removed
later. Each answers a clean 4xx and leaves nothing behind."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import recovery.pairing
from recovery.models import Pairing
from tests.conftest import Api, snapshot
from tests.notify.test_devices_told import step_up
from tests.recovery.test_pairing import NewDevice, start_pairing


def error(response: Any) -> tuple[int, str]:
    return response.status_code, (response.get_json() or {}).get("error")


def redeeming(app: Any, token: str) -> tuple[NewDevice, dict[str, Any]]:
    """A phone that began redeeming ``token``, and its passkey, not yet sent."""
    phone = NewDevice(app)
    begin = phone.api.post(f"/api/pairing/{token}/begin", {"device_name": "Phone"})
    assert begin.status_code == 200
    phone.confirmation = begin.get_json()["confirmation"]
    return phone, phone.key.create(begin.get_json())


def test_only_the_redeeming_browser_completes_a_pairing_and_only_once(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone, body = redeeming(app, token)
    thief = Api(app.test_client())
    before = snapshot(app)
    complete = f"/api/pairing/{token}/complete"
    assert error(thief.post(complete, {**body, "device_name": "Thief"})) == (404, "not_found")
    assert error(thief.post(f"/api/pairing/{token}/begin", {})) == (404, "not_found")
    assert snapshot(app) == before
    assert phone.api.post(complete, {**body, "device_name": "Phone"}).status_code == 202
    again = phone.api.post(complete, {**body, "device_name": "Phone"})
    assert error(again) == (404, "not_found")
    assert len(signed_in.get("/api/devices").get_json()["devices"]) == 2  # one pending


def test_a_pairing_closed_while_its_passkey_is_made_does_not_take_the_passkey(
    app, signed_in, monkeypatch
):
    token = start_pairing(signed_in)["token"]
    phone, body = redeeming(app, token)
    real = recovery.pairing.devices.complete_add_device

    def closed_meanwhile(db: Any, *args: Any, **kwargs: Any) -> Any:
        device = real(db, *args, **kwargs)
        db.execute(sa.update(Pairing).values(status="rejected"))  # the owner, in between
        return device

    monkeypatch.setattr(recovery.pairing.devices, "complete_add_device", closed_meanwhile)
    before = snapshot(app)
    response = phone.api.post(f"/api/pairing/{token}/complete", {**body, "device_name": "Phone"})
    assert error(response) == (400, "registration_failed")
    assert snapshot(app) == before


def test_an_approval_that_loses_a_race_changes_nothing(app, signed_in, monkeypatch):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    real = recovery.pairing.require_fresh

    def rejected_meanwhile(login_session: Any, settings: Any, now: Any) -> None:
        real(login_session, settings, now)
        session = sa.orm.object_session(login_session)
        session.execute(sa.update(Pairing).values(status="rejected"))  # another device, first

    monkeypatch.setattr(recovery.pairing, "require_fresh", rejected_meanwhile)
    approve = {"confirmation": phone.confirmation}
    response = signed_in.post(f"/api/pairing/{token}/approve", approve)
    assert error(response) == (404, "not_found")
    monkeypatch.undo()
    status = signed_in.get(f"/api/pairing/{token}").get_json()
    assert status["status"] == "awaiting_approval" and status["device"]["status"] == "pending"
    assert phone.api.get("/api/me").status_code == 401


def test_the_redeeming_browser_gets_its_session_once(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    approve = {"confirmation": phone.confirmation}
    assert signed_in.post(f"/api/pairing/{token}/approve", approve).status_code == 200
    first = phone.api.get(f"/api/pairing/{token}")
    assert first.get_json()["status"] == "approved"
    assert "keystead_session=" in first.headers.get("Set-Cookie", "")
    phone.api.client.delete_cookie("keystead_session")
    second = phone.api.get(f"/api/pairing/{token}")
    assert second.get_json()["status"] == "approved"
    assert "keystead_session=" not in second.headers.get("Set-Cookie", "")
    assert phone.api.get("/api/me").status_code == 401
    # The owner watching the same pairing never gets the new device's session.
    owner = signed_in.get(f"/api/pairing/{token}")
    assert "keystead_session=" not in owner.headers.get("Set-Cookie", "")


def test_a_pairing_whose_passkey_was_removed_later_still_answers(app, signed_in, authenticator):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    approve = {"confirmation": phone.confirmation}
    approved = signed_in.post(f"/api/pairing/{token}/approve", approve)
    assert approved.status_code == 200
    device = approved.get_json()["device"]["id"]
    assert step_up(signed_in, authenticator).status_code == 204
    assert signed_in.delete(f"/api/devices/{device}").status_code == 204
    status = signed_in.get(f"/api/pairing/{token}")
    assert status.status_code == 200 and status.get_json()["status"] == "approved"
    shown = status.get_json()["device"]
    assert shown is None or shown["status"] != "active"  # removed: deleted, or kept as removed


def test_approving_a_pairing_whose_pending_passkey_was_removed_is_not_found(app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    pending = signed_in.get(f"/api/pairing/{token}").get_json()["device"]["id"]
    assert signed_in.delete(f"/api/devices/{pending}").status_code == 204
    approve = {"confirmation": phone.confirmation}
    assert error(signed_in.post(f"/api/pairing/{token}/approve", approve)) == (404, "not_found")
    devices = signed_in.get("/api/devices").get_json()["devices"]
    assert not [d for d in devices if d["id"] == pending and d["status"] == "active"]
    assert phone.api.get("/api/me").status_code == 401
