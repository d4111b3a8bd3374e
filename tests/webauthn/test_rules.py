"""Passkey rules that a test must notice being deleted: malformed registrations (a zero-length
credential id, bytes after the attestation object), a unique-constraint race lost to a
concurrent request, and what a second try, a second ID or a race must not get."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fido2.utils import websafe_decode, websafe_encode

import webauthn.assertions
from core import db as database
from core.db import utcnow
from core.models import AuditEvent, LoginSession, User
from tests.conftest import ORIGIN, Api, error, snapshot
from tools.softauthn import SoftAuthenticator
from webauthn import challenges, devices
from webauthn.errors import AlreadyRegistered, UsernameTaken
from webauthn.models import ChallengePurpose, Device

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


def _racing_row(db: Any, table: str) -> Any:
    """A row a concurrent request already stored, as a request that lost the race after its
    pre-check would insert it: alice's username in capitals, or her passkey's credential id."""
    if table == "users":
        return User(
            user_handle=b"\x01" * 32,
            username="ALICE",
            username_key="alice",
            email="alice2@example.com",
            display_name="Alice 2",
        )
    taken = db.scalar(sa.select(Device))
    columns = ("user_id", "credential_id", "public_key", "alg", "aaguid", "name", "transports")
    return Device(**{name: getattr(taken, name) for name in columns})


@pytest.mark.parametrize(
    ("table", "expected"), [("users", UsernameTaken), ("devices", AlreadyRegistered)]
)
def test_a_lost_race_reads_as_the_same_error_as_the_pre_check(app, signed_in, table, expected):
    with app.app_context():
        db = database.session()
        earlier = AuditEvent(kind="earlier_write", data={})  # same transaction, before the race
        db.add(earlier)
        db.flush()
        row = _racing_row(db, table)
        with pytest.raises(expected) as raised:
            devices.add_unique(db, row)
        assert type(raised.value) is expected
        # Only the lost insert was undone (its SAVEPOINT): the transaction is still usable and
        # still holds the earlier write; ending it is the caller's (app.py's handler) call.
        assert row not in db and db.in_transaction()
        assert db.scalar(sa.select(AuditEvent.id).where(AuditEvent.kind == "earlier_write"))
        db.commit()
    kinds = [r.kind for r in _rows(app, AuditEvent)]
    assert "earlier_write" in kinds
    assert len(_rows(app, User)) == 1 and len(_rows(app, Device)) == 1


def _rows(app: Any, model: Any) -> list[Any]:
    with app.app_context():
        return list(database.session().scalars(sa.select(model)))


# ---- consuming a challenge is its transaction's first write -------------------------------

BROWSER = b"\x02" * 32


def _earlier_write(db: Any, how: str) -> None:
    """A step before ``consume`` that writes, in each way a session can."""
    if how == "flushed":
        db.add(AuditEvent(kind="earlier_write", data={}))
        db.flush()
    elif how == "executed":
        db.execute(sa.update(Device).values(name="Renamed"))
    elif how == "added":
        db.add(AuditEvent(kind="earlier_write", data={}))
    elif how == "deleted":
        db.delete(db.scalar(sa.select(Device)))
    else:  # an attribute changed, not yet flushed
        db.scalar(sa.select(Device)).name = "Renamed"


@pytest.mark.parametrize("how", ["flushed", "executed", "added", "deleted", "changed"])
def test_consuming_a_challenge_after_a_write_is_refused(app, signed_in, how):
    with app.app_context():
        db = database.session()
        now = utcnow()
        challenge = challenges.issue(
            db, purpose=ChallengePurpose.REAUTH, browser=BROWSER, ttl=60, now=now
        )
        db.commit()
        before = snapshot(app)
        _earlier_write(db, how)
        with pytest.raises(challenges.NotFirstWrite):
            challenges.consume(
                db, challenge=challenge, purpose=ChallengePurpose.REAUTH, browser=BROWSER, now=now
            )
        db.rollback()
        # Nothing was committed: the earlier write is gone and the challenge is still there.
        assert snapshot(app) == before
        assert db.scalar(sa.select(AuditEvent.id).where(AuditEvent.kind == "earlier_write")) is None
        pending = challenges.consume(
            db, challenge=challenge, purpose=ChallengePurpose.REAUTH, browser=BROWSER, now=now
        )
        assert pending is not None


def test_a_ceremony_that_writes_before_its_challenge_commits_nothing(
    app, signed_in, authenticator, monkeypatch
):
    begin = signed_in.post("/api/reauth/begin")
    body = authenticator.get(begin.get_json())
    parse = webauthn.assertions.parse_authentication

    def parse_and_write(raw: Any) -> Any:  # a step that writes before the challenge is consumed
        _earlier_write(database.session(), "flushed")
        return parse(raw)

    monkeypatch.setattr(webauthn.assertions, "parse_authentication", parse_and_write)
    assert error(signed_in.post("/api/reauth/complete", body)) == (500, "internal_error")
    monkeypatch.setattr(webauthn.assertions, "parse_authentication", parse)
    kinds = [r.kind for r in _rows(app, AuditEvent)]
    assert "earlier_write" not in kinds
    # The challenge was not consumed either: the same answer completes now.
    assert signed_in.post("/api/reauth/complete", body).status_code == 204


def test_a_moved_last_seen_time_may_ride_along_with_the_consumed_challenge(
    clock, app, signed_in, authenticator
):
    """The edge moves the session's last-seen time (once a minute) before the view runs; the
    ceremonies of a signed-in browser consume their challenge with that change pending."""
    clock.at(61)
    begin = signed_in.post("/api/reauth/begin")
    clock.at(122)
    assert (
        signed_in.post("/api/reauth/complete", authenticator.get(begin.get_json())).status_code
        == 204
    )
    clock.at(183)
    begin = signed_in.post("/api/devices/register/begin", {"device_name": "Key"})
    clock.at(244)
    body = SoftAuthenticator(attachment="cross-platform").create(begin.get_json())
    added = signed_in.post("/api/devices/register/complete", {**body, "device_name": "Key"})
    assert added.status_code == 201, added.get_json()
    seen = [s.last_seen_at for s in _rows(app, LoginSession)]
    assert seen == [clock.now]


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
