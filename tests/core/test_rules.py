"""Rules that a test must notice being deleted: freshness of a verification (a session that
never verified its user, step-up without UV, approving a pairing, confirming a regenerated
backup code), malformed registrations (a zero-length credential id, bytes after the
attestation object) and unknown values (a session cookie, a pairing token, a recovery mode)
answered with a clean 4xx that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fido2.utils import websafe_decode, websafe_encode
from sqlalchemy.exc import IntegrityError

from core.errors import InvalidInput, RegistrationFailed, UsernameTaken
from recovery.models import BackupCode
from tests.clock import Clock, clock_fixture  # noqa: F401
from tests.conftest import ORIGIN, Api, snapshot
from tests.notify.test_devices_told import NewDevice, start_pairing, step_up
from tests.recovery.test_recovery import activate_backup, mailed_code
from tools.softauthn import SoftAuthenticator, Tamper
from webauthn import devices

PREFERRED = {"USER_VERIFICATION": "preferred"}


def error(response: Any) -> tuple[int, str]:
    return response.status_code, (response.get_json() or {}).get("error")


def stale(clock: Clock, app: Any) -> None:
    """Moves past the sign-in's freshness (REAUTH_MAX_AGE), well within every other limit."""
    clock.at(app.config["REAUTH_MAX_AGE"] + 1)


# ---- freshness -----------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [PREFERRED], indirect=True)
def test_a_session_that_never_verified_its_user_is_not_fresh(clock, app, api, authenticator):
    assert api.sign_up(authenticator, tamper=Tamper(uv=False)).status_code == 201
    refused = api.post("/api/pairing")
    assert error(refused) == (401, "reauth_required")
    assert error(api.post("/api/backup/regenerate")) == (401, "reauth_required")
    # A step-up with UV makes the same session fresh: the refusal was about verification.
    assert step_up(api, authenticator).status_code == 204
    assert api.post("/api/pairing").status_code == 201


@pytest.mark.parametrize("config_overrides", [PREFERRED], indirect=True)
def test_a_step_up_without_user_verification_does_not_make_a_session_fresh(
    clock, app, signed_in, authenticator
):
    stale(clock, app)
    assert error(signed_in.post("/api/pairing")) == (401, "reauth_required")
    without_uv = step_up(signed_in, authenticator, Tamper(uv=False))
    assert error(without_uv) == (401, "authentication_failed")
    assert error(signed_in.post("/api/pairing")) == (401, "reauth_required")
    assert step_up(signed_in, authenticator).status_code == 204
    assert signed_in.post("/api/pairing").status_code == 201


@pytest.mark.parametrize("config_overrides", [{"REAUTH_MAX_AGE": 60}], indirect=True)
def test_approving_a_pairing_needs_a_fresh_verification(clock, app, signed_in, authenticator):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    clock.at(61)  # the pairing (PAIRING_TTL) is still open, the verification is not fresh
    approve = {"confirmation": phone.confirmation}
    refused = signed_in.post(f"/api/pairing/{token}/approve", approve)
    assert error(refused) == (401, "reauth_required")
    status = signed_in.get(f"/api/pairing/{token}").get_json()
    assert status["status"] == "awaiting_approval" and status["device"]["status"] == "pending"
    assert phone.api.get("/api/me").status_code == 401
    assert step_up(signed_in, authenticator).status_code == 204
    assert signed_in.post(f"/api/pairing/{token}/approve", approve).status_code == 200


def test_confirming_a_regenerated_backup_code_needs_a_fresh_verification(
    clock, app, signed_in, authenticator, mailbox
):
    old_code = activate_backup(signed_in, mailbox)
    assert signed_in.post("/api/backup/regenerate").status_code == 202
    code = mailed_code(mailbox, count=2)
    stale(clock, app)
    refused = signed_in.post("/api/backup/confirm", {"otp": code})
    assert error(refused) == (401, "reauth_required")
    # Nothing changed: the old backup code still starts a recovery, and the mailed code was
    # not used up by the refusal.
    stranger = Api(app.test_client())
    begin = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": old_code})
    assert begin.status_code == 202
    assert step_up(signed_in, authenticator).status_code == 204
    confirmed = signed_in.post("/api/backup/confirm", {"otp": code})
    assert confirmed.status_code == 200
    assert confirmed.get_json()["backup_code"] != old_code


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


# ---- unknown values ------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", ["A" * 43, "", "x" * 129, "not a token"])
def test_an_unknown_session_cookie_is_not_signed_in(app, signed_in, cookie):
    stranger = Api(app.test_client())
    stranger.client.set_cookie("keystead_session", cookie)
    assert error(stranger.get("/api/me")) == (401, "not_signed_in")
    before = snapshot(app)
    assert error(stranger.post("/api/pairing")) == (401, "not_signed_in")
    assert error(stranger.post("/api/devices/register/begin", {})) == (401, "not_signed_in")
    assert snapshot(app) == before


@pytest.mark.parametrize("token", ["A" * 32, "x" * 129])
def test_an_unknown_pairing_token_is_not_found(app, signed_in, token):
    start_pairing(signed_in)
    before = snapshot(app)
    phone = Api(app.test_client())
    assert error(signed_in.get(f"/api/pairing/{token}")) == (404, "not_found")
    assert error(phone.post(f"/api/pairing/{token}/begin", {})) == (404, "not_found")
    assert error(phone.post(f"/api/pairing/{token}/complete", {})) == (404, "not_found")
    for decision, body in (("approve", {"confirmation": "00"}), ("reject", {})):
        response = signed_in.post(f"/api/pairing/{token}/{decision}", body)
        assert error(response) == (404, "not_found")
    assert snapshot(app) == before


@pytest.mark.parametrize("mode", ["x", "", "RESTORE"])
def test_an_unknown_recovery_mode_is_invalid_input(clock, app, signed_in, mailbox, mode):
    backup_code = activate_backup(signed_in, mailbox)
    stranger = Api(app.test_client())
    begin = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": backup_code})
    assert begin.status_code == 202
    options = stranger.post("/api/recovery/verify", {"otp": mailed_code(mailbox, count=2)})
    assert options.status_code == 200
    body = SoftAuthenticator(origin=ORIGIN).create(options.get_json())
    before = snapshot(app)
    refused = stranger.post("/api/recovery/complete", {**body, "mode": mode})
    assert error(refused) == (400, "invalid_input")
    assert snapshot(app) == before
    # Refused before anything was consumed: the same answer completes with a real mode.
    assert stranger.post("/api/recovery/complete", {**body, "mode": "duplicate"}).status_code == 201


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


# ---- backup turned off, and what recovery accepts at all -----------------------------------


@pytest.mark.parametrize("config_overrides", [{"BACKUP_MODE": "disabled"}], indirect=True)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/backup/activate", {}),
        ("/api/backup/regenerate", {}),
        ("/api/backup/confirm", {"otp": "12345678"}),
        ("/api/recovery/begin", {"username": "alice", "backup_code": "0" * 20}),
        ("/api/recovery/verify", {"otp": "12345678"}),
        ("/api/recovery/options", {}),
        ("/api/recovery/complete", {"mode": "restore"}),
    ],
)
def test_with_backup_disabled_every_backup_and_recovery_step_says_so(app, signed_in, path, body):
    before = snapshot(app)
    assert error(signed_in.post(path, body)) == (403, "backup_disabled")
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("username", "backup_code", "expected"),
    [
        ("u" * 254, "0" * 128, (401, "recovery_failed")),
        ("u" * 255, "0" * 20, (400, "invalid_input")),
        ("alice", "0" * 129, (400, "invalid_input")),
    ],
)
def test_recovery_refuses_over_long_input_before_any_work(app, username, backup_code, expected):
    stranger = Api(app.test_client())
    body = {"username": username, "backup_code": backup_code}
    assert error(stranger.post("/api/recovery/begin", body)) == expected


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


# ---- a new backup code ends the recoveries begun with the old one -------------------------


def _recovery_at_step_two(app: Any, mailbox: Any, backup_code: str) -> tuple[Api, str]:
    """A stranger's browser that gave the backup code; the email code it was mailed."""
    stranger = Api(app.test_client())
    begin = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": backup_code})
    assert begin.status_code == 202
    return stranger, mailed_code(mailbox, count=2)


def test_a_regenerated_backup_code_voids_a_recovery_in_progress(app, signed_in, mailbox):
    stranger, email_code = _recovery_at_step_two(app, mailbox, activate_backup(signed_in, mailbox))
    assert signed_in.post("/api/backup/regenerate").status_code == 202
    confirmed = signed_in.post("/api/backup/confirm", {"otp": mailed_code(mailbox, count=3)})
    assert confirmed.status_code == 200
    refused = stranger.post("/api/recovery/verify", {"otp": email_code})
    assert error(refused) == (401, "recovery_failed")


def test_a_reissued_backup_code_voids_a_recovery_in_progress(app, signed_in, mailbox):
    stranger, email_code = _recovery_at_step_two(app, mailbox, activate_backup(signed_in, mailbox))
    reissued = app.test_cli_runner().invoke(
        args=["reissue-backup-code", "alice", "--deliver", "display"]
    )
    assert reissued.exit_code == 0, reissued.output
    refused = stranger.post("/api/recovery/verify", {"otp": email_code})
    assert error(refused) == (401, "recovery_failed")


def test_a_backup_code_is_reissued_only_on_screen_or_by_mail(app, signed_in):
    from core import db as database
    from core.db import utcnow
    from recovery import backup
    from recovery.settings import BackupSettings

    settings = BackupSettings.from_config(app.config)
    with app.app_context(), pytest.raises(InvalidInput):
        backup.reissue_code(
            database.session(),
            settings,
            username="alice",
            deliver="sms",
            actor="admin",
            now=utcnow(),
        )


def test_a_backup_code_replaced_while_the_new_passkey_is_made_ends_the_recovery(
    app, signed_in, mailbox, monkeypatch
):
    from recovery import restore

    stranger, email_code = _recovery_at_step_two(app, mailbox, activate_backup(signed_in, mailbox))
    options = stranger.post("/api/recovery/verify", {"otp": email_code})
    assert options.status_code == 200
    real = restore.devices.complete_add_device

    def replaced_meanwhile(db: Any, *args: Any, **kwargs: Any) -> Any:
        device = real(db, *args, **kwargs)
        db.execute(sa.update(BackupCode).values(code_hash=b"\x00" * 32))  # a re-issue, in between
        return device

    monkeypatch.setattr(restore.devices, "complete_add_device", replaced_meanwhile)
    before = snapshot(app)
    body = SoftAuthenticator(origin=ORIGIN).create(options.get_json())
    done = stranger.post("/api/recovery/complete", {**body, "mode": "duplicate"})
    assert error(done) == (401, "recovery_failed")
    assert snapshot(app) == before
