"""Holes found when Keystead was attacked from outside (issue 7; the numbers are its items),
closed in what devices are told: a notification only ever names the owner's devices, the
acting device is not told about its own action, and the dev mailbox's ids out of range."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.db import utcnow
from tests.conftest import ORIGIN, Api
from tests.notify.test_devices_told import rows
from tools.softauthn import SoftAuthenticator


def device_rows(app: Any) -> list[Any]:
    return rows(app, "SELECT id, user_id, status, last_used_at FROM devices ORDER BY id")


# ---- 7. ids out of range are a 404, never a 500 --------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"ENV": "development"}], indirect=True)
def test_dev_mailbox_ids_out_of_range_are_not_found(client):
    assert client.get(f"/dev/mailbox/{2**64}.html").status_code == 404


# ---- 15. notifications only ever name the owner's devices ----------------------------------


def test_a_notification_never_shows_another_ids_device(app, signed_in):
    cleo = Api(app.test_client())
    assert cleo.sign_up(SoftAuthenticator(origin=ORIGIN), username="cleo").status_code == 201
    alice_device, cleo_device = [r.id for r in device_rows(app)]
    # A notification whose subject id names Cleo's device (as a reused id would).
    with app.extensions["keystead.engine"].begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO notifications (user_id, device_id, kind, subject_device_id, data, "
                "ip, user_agent, created_at) VALUES (1, :mine, 'device_removed', :theirs, "
                "'{}', '', '', :now)"
            ),
            {"mine": alice_device, "theirs": cleo_device, "now": utcnow().replace(tzinfo=None)},
        )
    [notice] = signed_in.get("/api/notifications").get_json()["notifications"]
    assert notice["device"]["status"] == "gone"
    assert signed_in.post(f"/api/devices/{cleo_device}/block").status_code == 404
    assert [r.status for r in device_rows(app)] == ["active", "active"]


# ---- 16. the acting device is not told about its own action --------------------------------


def test_blocking_tells_every_device_but_the_one_that_blocked(app, signed_in):
    b_key, c_key = SoftAuthenticator(), SoftAuthenticator()
    assert signed_in.add_device(b_key, device_name="B").status_code == 201
    assert signed_in.add_device(c_key, device_name="C").status_code == 201
    b = Api(app.test_client())
    assert b.sign_in(b_key).status_code == 200
    a_id, _b_id, c_id = [r.id for r in device_rows(app)]
    assert b.post(f"/api/devices/{c_id}/block").status_code == 200
    told = rows(app, "SELECT device_id FROM notifications WHERE kind = 'device_blocked'")
    assert [r.device_id for r in told] == [a_id]
