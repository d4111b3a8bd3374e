"""Pairing, mailed codes and recovery at their exact limits (``tests/clock.py`` stops the app's
clock): a pairing code, a mailed code and a started recovery stop working AT their TTL;
expired pairings stop counting toward the pending limit."""

from __future__ import annotations

import pytest

from tests.clock import AT, BEFORE
from tests.conftest import ORIGIN, Api, error
from tests.recovery.test_pairing import NewDevice, start_pairing
from tests.recovery.test_recovery import activate_backup, mailed_code
from tools.softauthn import SoftAuthenticator

# ---- pairing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, "waiting"), (AT, "expired")])
def test_a_pairing_code_works_until_its_ttl(clock, app, signed_in, offset, expected):
    token = start_pairing(signed_in)["token"]
    clock.advance(app.config["PAIRING_TTL"] + offset)
    phone = NewDevice(app)
    begin = phone.api.post(f"/api/pairing/{token}/begin", {"device_name": "Phone"})
    assert begin.status_code == (200 if expected == "waiting" else 404)
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == expected


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 429), (AT, 201)])
def test_expired_pairings_stop_counting_toward_the_pending_limit(
    clock, app, signed_in, offset, expected
):
    assert app.config["PAIRING_TTL"] <= app.config["REAUTH_MAX_AGE"]  # still fresh below
    for _ in range(3):
        start_pairing(signed_in)
    clock.advance(app.config["PAIRING_TTL"] + offset)
    response = signed_in.post("/api/pairing")
    assert response.status_code == expected
    if expected == 429:
        assert error(response) == (429, "too_many_pairings")


def test_a_pairing_approved_one_second_before_its_ttl_completes(clock, app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    clock.advance(app.config["PAIRING_TTL"] - 1)
    approved = signed_in.post(f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"


def test_a_pairing_not_approved_by_its_ttl_expires_and_loses_its_passkey(clock, app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    pending = signed_in.get(f"/api/pairing/{token}").get_json()["device"]["id"]
    clock.advance(app.config["PAIRING_TTL"])
    approved = signed_in.post(f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation})
    assert error(approved) == (404, "not_found")
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == "expired"
    ids = [d["id"] for d in signed_in.get("/api/devices").get_json()["devices"]]
    assert pending not in ids


# ---- mailed codes and recovery -------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 401)])
def test_a_mailed_code_works_until_its_ttl(clock, app, signed_in, mailbox, offset, expected):
    assert signed_in.post("/api/backup/activate").status_code == 202
    code = mailed_code(mailbox)
    clock.advance(app.config["OTP_TTL"] + offset)
    response = signed_in.post("/api/backup/confirm", {"otp": code})
    assert response.status_code == expected, response.get_json()
    if expected == 401:
        assert error(response) == (401, "invalid_code")
        assert signed_in.get("/api/backup").get_json()["active"] is False


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 201), (AT, 401)])
def test_a_started_recovery_works_until_its_flow_ttl(
    clock, app, signed_in, mailbox, offset, expected
):
    backup_code = activate_backup(signed_in, mailbox)
    stranger = Api(app.test_client())
    clock.advance(10)
    started = clock.now
    begin = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": backup_code})
    assert begin.status_code == 202
    verified = stranger.post("/api/recovery/verify", {"otp": mailed_code(mailbox, count=2)})
    assert verified.status_code == 200
    clock.set(started)
    clock.advance(app.config["RECOVERY_FLOW_TTL"] + offset)
    options = stranger.post("/api/recovery/options")
    if expected == 401:
        assert error(options) == (401, "recovery_failed")
        return
    assert options.status_code == 200
    body = SoftAuthenticator(origin=ORIGIN).create(options.get_json())
    done = stranger.post("/api/recovery/complete", {**body, "mode": "duplicate"})
    assert done.status_code == 201, done.get_json()
