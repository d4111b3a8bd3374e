"""Approving a pairing needs the 2-digit number the new device shows (issue 7, item 6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.notify.test_devices_told import device_ids
from tests.openapi_check import check_response
from tests.recovery.test_pairing import NewDevice, start_pairing


def other_number(right: str) -> str:
    return f"{(int(right) + 1) % 100:02d}"


@pytest.fixture
def pending(app: Any, signed_in: Api) -> dict[str, Any]:
    """A pairing the phone redeemed: its passkey is stored pending, waiting for approval."""
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    device_id = signed_in.get(f"/api/pairing/{token}").get_json()["device"]["id"]
    return {"token": token, "phone": phone, "device_id": device_id}


def state(signed_in: Api, pending: dict[str, Any]) -> tuple[Any, ...]:
    seen = signed_in.get(f"/api/pairing/{pending['token']}").get_json()
    devices = {d["id"]: d["status"] for d in signed_in.get("/api/devices").get_json()["devices"]}
    return (
        seen["status"],
        devices.get(pending["device_id"]),
        pending["phone"].api.get("/api/me").status_code,
    )


def approve(signed_in: Api, pending: dict[str, Any], body: Any) -> Any:
    return signed_in.post(f"/api/pairing/{pending['token']}/approve", body)


def test_a_wrong_number_is_refused_and_changes_nothing(signed_in, pending):
    before = state(signed_in, pending)
    assert before == ("awaiting_approval", "pending", 401)
    wrong = approve(
        signed_in, pending, {"confirmation": other_number(pending["phone"].confirmation)}
    )
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "wrong_confirmation"
    check_response("POST", "/api/pairing/{token}/approve", 400, wrong.get_json())
    assert state(signed_in, pending) == before
    right = approve(signed_in, pending, {"confirmation": pending["phone"].confirmation})
    assert right.status_code == 200 and right.get_json()["status"] == "approved"
    assert state(signed_in, pending)[:2] == ("approved", "active")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"confirmation": None},
        {"confirmation": 7},
        {"confirmation": ""},
        {"confirmation": "ab"},
        {"confirmation": "123"},
        {"confirmation": "1 2"},
    ],
)
def test_a_missing_or_malformed_number_is_invalid_input_and_not_counted(signed_in, pending, body):
    before = state(signed_in, pending)
    for _ in range(3):
        response = approve(signed_in, pending, body)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
    assert state(signed_in, pending) == before
    assert (
        approve(signed_in, pending, {"confirmation": pending["phone"].confirmation}).status_code
        == 200
    )


def test_three_wrong_numbers_reject_the_pairing_and_delete_its_passkey(signed_in, pending):
    wrong = {"confirmation": other_number(pending["phone"].confirmation)}
    for _ in range(2):
        assert approve(signed_in, pending, wrong).get_json()["error"] == "wrong_confirmation"
    assert state(signed_in, pending) == ("awaiting_approval", "pending", 401)
    third = approve(signed_in, pending, wrong)
    assert third.status_code == 409 and third.get_json()["error"] == "pairing_rejected"
    check_response("POST", "/api/pairing/{token}/approve", 409, third.get_json())
    assert pending["device_id"] not in device_ids(signed_in)
    assert (
        pending["phone"].api.get(f"/api/pairing/{pending['token']}").get_json()["status"]
        == "rejected"
    )
    # The right number comes too late.
    late = approve(signed_in, pending, {"confirmation": pending["phone"].confirmation})
    assert late.status_code == 404
    assert pending["phone"].api.get("/api/me").status_code == 401


@pytest.mark.parametrize("config_overrides", [{"PAIRING_TTL": 900}], indirect=True)
def test_a_stale_sessions_numbers_are_not_counted(signed_in, pending, authenticator, clock):
    """Only a fresh verification's numbers count: a stale session is asked to verify first."""
    clock.advance(6 * 60)  # past REAUTH_MAX_AGE, within PAIRING_TTL
    wrong = {"confirmation": other_number(pending["phone"].confirmation)}
    for _ in range(3):
        stale = approve(signed_in, pending, wrong)
        assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    assert state(signed_in, pending) == ("awaiting_approval", "pending", 401)
    assert signed_in.sign_in(authenticator).status_code == 200
    assert approve(signed_in, pending, wrong).get_json()["error"] == "wrong_confirmation"
    right = approve(signed_in, pending, {"confirmation": pending["phone"].confirmation})
    assert right.status_code == 200


def test_the_owners_view_never_carries_the_number(signed_in, pending):
    assert signed_in.get(f"/api/pairing/{pending['token']}").get_json()["confirmation"] is None
    mine = pending["phone"].api.get(f"/api/pairing/{pending['token']}").get_json()
    assert mine["confirmation"] == pending["phone"].confirmation
