"""The product brief's promises about administration, each driven from the admin panel's API
(not from configuration), so that each holds for an organisation that only has the panel:
"unpair IDs from the admin panel", "devices can be deleted at any point via the admin
dashboard", "prohibiting manual backup", "automatically deleting the old ID from the old device
after a successful restoration", "the administrator can decide if he allows resending the
backup code, via a phone call, personally or via Email", "activation can be automatically
activated for every new user"."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.admin.test_admin_api import _user_id, grant, person
from tests.conftest import ORIGIN, Api, error, execute
from tests.recovery.test_recovery import Recovery, activate_backup, mailed_code
from tools.softauthn import SoftAuthenticator


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def _policy(admin: Api, **changes: Any) -> None:
    answer = admin.patch("/api/admin/policy", changes)
    assert answer.status_code == 200, answer.get_json()


def _device_statuses(app: Flask, username: str) -> list[str]:
    rows = execute(
        app,
        "SELECT d.status FROM devices d JOIN users u ON u.id = d.user_id"
        " WHERE u.username = :u ORDER BY d.id",
        u=username,
    )
    return [r[0] for r in rows]


def test_an_admin_unpairs_a_device_of_an_id(
    app: Flask, admin: Api, two_devices: dict[str, Any]
) -> None:
    answer = admin.delete(f"/api/admin/devices/{two_devices['b_id']}")
    assert answer.status_code == 204
    assert _device_statuses(app, "alice") == ["active", "removed"]
    assert two_devices["b"].get("/api/me").status_code == 401


def test_an_admin_deletes_a_device_at_any_point_even_the_last(
    app: Flask, admin: Api, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    alice = _user_id(app, "alice")
    [device] = admin.get(f"/api/admin/users/{alice}").get_json()["devices"]
    assert admin.delete(f"/api/admin/devices/{device['id']}").status_code == 204
    assert _device_statuses(app, "alice") == ["removed"]
    refused = Api(app.test_client()).sign_in(authenticator, username=None)
    assert error(refused) == (401, "device_removed")


def test_an_admin_prohibits_manual_backup(app: Flask, admin: Api, signed_in: Api) -> None:
    _policy(admin, BACKUP_MODE="disabled")
    assert error(signed_in.post("/api/backup/activate")) == (403, "backup_disabled")
    assert execute(app, "SELECT count(*) FROM backup_codes").scalar_one() == 0


def test_an_admin_makes_a_restore_remove_the_old_devices(
    app: Flask, admin: Api, signed_in: Api, mailbox: Any
) -> None:
    code = activate_backup(signed_in, mailbox)
    _policy(admin, RESTORE_REMOVES_OLD_DEVICES=True)
    recovery = Recovery(app, mailbox)
    assert recovery.begin(code).status_code == 202
    options = recovery.verify(mailed_code(mailbox, count=2)).get_json()
    assert options["restore_forced"] is True
    done = recovery.complete(options, mode="duplicate")
    assert done.status_code == 201 and done.get_json()["mode"] == "restore"
    assert _device_statuses(app, "alice") == ["removed", "active"]
    assert signed_in.get("/api/me").status_code == 401


@pytest.mark.parametrize(
    ("channels", "allowed", "refused"),
    [
        (["display"], "display", "email"),  # personally or by phone only
        (["email"], "email", "display"),  # by mail only
    ],
)
def test_the_admin_decides_how_a_backup_code_is_resent(
    app: Flask,
    admin: Api,
    signed_in: Api,
    mailbox: Any,
    channels: list[str],
    allowed: str,
    refused: str,
) -> None:
    activate_backup(signed_in, mailbox)
    execute(
        app,
        "UPDATE users SET backup_email = 'alice.backup@example.com',"
        " backup_email_verified_at = CURRENT_TIMESTAMP WHERE username = 'alice'",
    )
    _policy(admin, BACKUP_REISSUE_CHANNELS=channels)
    alice = _user_id(app, "alice")
    no = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": refused})
    assert error(no) == (403, "policy_forbids")
    yes = admin.post(f"/api/admin/users/{alice}/backup-code", {"deliver": allowed})
    assert yes.status_code == (200 if allowed == "display" else 202), yes.get_json()
    if allowed == "email":
        assert yes.get_json() == {"delivered": "email"}
        mailed = mailbox.wait_for(to="alice.backup@example.com")
        assert mailed, "the code was mailed to the backup address"


def test_an_admin_makes_backup_part_of_every_enrollment(app: Flask, admin: Api) -> None:
    _policy(admin, BACKUP_MODE="on_enrollment")
    newcomer = Api(app.test_client())
    answer = newcomer.sign_up(SoftAuthenticator(origin=ORIGIN), username="newcomer")
    assert answer.status_code == 201
    assert answer.get_json()["backup_required"] is True
    assert newcomer.get("/api/backup").get_json()["mode"] == "on_enrollment"
