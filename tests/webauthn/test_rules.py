"""Passkey rules that a test must notice being deleted: malformed registrations (a zero-length
credential id, bytes after the attestation object), a unique-constraint race lost to a
concurrent request, and what a second try, a second ID or a race must not get."""

from __future__ import annotations

import pytest
from fido2.utils import websafe_decode, websafe_encode
from sqlalchemy.exc import IntegrityError

from core.errors import RegistrationFailed, UsernameTaken
from tests.conftest import ORIGIN, Api, error, snapshot
from tools.softauthn import SoftAuthenticator
from webauthn import devices

# ---- malformed registrations ---------------------------------------------------------------


def test_a_zero_length_credential_id_is_refused(app, api, authenticator):
    before = snapshot(app)
    response = api.sign_up(authenticator, credential_id=b"")
    assert error(response) == (400, "registration_failed")
    assert snapshot(app) == before


def test_bytes_after_the_attestation_object_are_malformed_input(app, api, authenticator):
    begin = api.post("/api/register/begin", {"username": "alice", "email": "alice@example.com"})
    body = authenticator.create(begin.get_json())
    padded = websafe_decode(body["response"]["attestationObject"]) + b"\x00"
    tampered = {**body, "response": {**body["response"]}}
    tampered["response"]["attestationObject"] = websafe_encode(padded)
    before = snapshot(app)
    assert error(api.post("/api/register/complete", tampered)) == (400, "invalid_input")
    assert snapshot(app) == before
    # Refused before the challenge was consumed: the genuine answer still registers.
    assert api.post("/api/register/complete", body).status_code == 201


# ---- a unique-constraint race lost to a concurrent request ---------------------------------


class _RacingSession:
    """Stands in for a session whose flush loses a race on a unique constraint."""

    def __init__(self, constraint: str) -> None:
        self.constraint = constraint
        self.rolled_back = False

    def flush(self) -> None:
        raise IntegrityError(
            "INSERT …", {}, Exception(f"UNIQUE constraint failed: {self.constraint}")
        )

    def rollback(self) -> None:
        self.rolled_back = True


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [("users.username_key", UsernameTaken), ("devices.credential_id", RegistrationFailed)],
)
def test_a_lost_race_reads_as_the_same_error_as_the_pre_check(constraint, expected):
    db = _RacingSession(constraint)
    with pytest.raises(expected) as raised:
        devices.flush_unique(db)  # type: ignore[arg-type]
    assert type(raised.value) is expected and db.rolled_back


# ---- passkey use cases: what a second try, a second ID or a race must not get ---------------


def test_blocking_a_blocked_device_again_changes_nothing(app, signed_in, authenticator):
    second = SoftAuthenticator(attachment="cross-platform")
    assert signed_in.add_device(second, device_name="B").status_code == 201
    device = signed_in.get("/api/devices").get_json()["devices"][1]["id"]
    first = signed_in.post(f"/api/devices/{device}/block")
    assert first.status_code == 200
    blocked_at = first.get_json()["device"]["blocked_at"]
    before = snapshot(app)
    again = signed_in.post(f"/api/devices/{device}/block")
    assert again.status_code == 200 and again.get_json()["device"]["blocked_at"] == blocked_at
    assert snapshot(app) == before
    kinds = [e["kind"] for e in signed_in.get("/api/activity").get_json()["events"]]
    assert kinds.count("device_blocked") == 1


def test_two_sign_ups_racing_for_one_username_end_with_one_id(app, authenticator):
    first, second = Api(app.test_client()), Api(app.test_client())
    body = {"username": "alice", "email": "alice@example.com"}
    begun = [api.post("/api/register/begin", body) for api in (first, second)]
    assert [b.status_code for b in begun] == [200, 200]
    other = SoftAuthenticator(origin=ORIGIN)
    done = first.post("/api/register/complete", authenticator.create(begun[0].get_json()))
    assert done.status_code == 201
    before = snapshot(app)
    late = second.post("/api/register/complete", other.create(begun[1].get_json()))
    assert error(late) == (409, "username_taken")
    assert snapshot(app) == before


def test_a_device_registration_begun_for_one_id_cannot_add_to_another(app, authenticator):
    browser = Api(app.test_client())
    assert browser.sign_up(authenticator, username="alice").status_code == 201
    begin = browser.post("/api/devices/register/begin", {"device_name": "Key"})
    assert begin.status_code == 200
    # The same browser signs up as bob, then sends the answer to alice's challenge.
    assert browser.sign_up(SoftAuthenticator(origin=ORIGIN), username="bob").status_code == 201
    before = snapshot(app)
    body = SoftAuthenticator(attachment="cross-platform").create(begin.get_json())
    response = browser.post("/api/devices/register/complete", {**body, "device_name": "Key"})
    assert error(response) == (400, "registration_failed")
    assert snapshot(app) == before
