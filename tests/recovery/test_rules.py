"""Backup, recovery and pairing rules that a test must notice being deleted: approving a
pairing and confirming a regenerated backup code need a fresh verification; an unknown
pairing token or recovery mode, backup turned off and over-long input are answered with a
clean 4xx that changes nothing; a new backup code ends the recoveries begun with the old one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from recovery.models import BackupCode
from tests.clock import stale
from tests.conftest import ORIGIN, Api, error, snapshot
from tests.notify.test_devices_told import step_up
from tests.recovery.test_pairing import NewDevice, start_pairing
from tests.recovery.test_recovery import activate_backup, mailed_code
from tools.softauthn import SoftAuthenticator

# ---- freshness -----------------------------------------------------------------------------


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


# ---- unknown values ------------------------------------------------------------------------


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
    from core.context import RequestContext
    from core.users import find_user
    from recovery import backup
    from recovery.settings import BackupSettings

    settings = BackupSettings.from_config(app.config)
    with app.app_context(), pytest.raises(InvalidInput):
        user = find_user(database.session(), "alice")
        assert user is not None
        backup.reissue_code(
            database.session(),
            settings,
            RequestContext.outside_request("admin"),
            user=user,
            deliver="sms",
            actor="admin",
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
