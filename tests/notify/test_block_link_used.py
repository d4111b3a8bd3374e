"""A used block link says the device is already blocked (issue 7, item 19); an unknown or
expired one, or one whose device is no longer blocked, is still 404."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.conftest import ORIGIN, snapshot
from tests.notify.test_devices_told import block_link, form_token

ALREADY = "Already blocked"


def use(app: Any, token: str) -> None:
    page = app.test_client().get(f"/block/{token}").get_data(as_text=True)
    done = app.test_client().post(
        f"/block/{token}", data={"form_token": form_token(page)}, headers={"Origin": ORIGIN}
    )
    assert done.status_code == 200 and "Device blocked" in done.get_data(as_text=True)


def test_a_used_link_says_already_blocked_and_changes_nothing(two_devices, app, mailbox):
    token = block_link(mailbox, 1)
    use(app, token)
    before = snapshot(app)
    page = app.test_client().get(f"/block/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and ALREADY in html and "Device B" in html
    assert 'id="block-form"' not in html
    assert snapshot(app) == before


def test_a_valid_link_whose_device_was_blocked_elsewhere_says_already_blocked(
    two_devices, app, mailbox
):
    token = block_link(mailbox, 1)
    assert two_devices["a"].post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    page = app.test_client().get(f"/block/{token}")
    assert page.status_code == 200 and ALREADY in page.get_data(as_text=True)


def test_a_used_link_whose_device_is_no_longer_blocked_is_404(two_devices, app, mailbox):
    token = block_link(mailbox, 1)
    use(app, token)
    with app.extensions["keystead.engine"].begin() as conn:
        conn.execute(
            sa.text("UPDATE devices SET status = 'active' WHERE id = :id"),
            {"id": two_devices["b_id"]},
        )
    assert app.test_client().get(f"/block/{token}").status_code == 404


def test_a_used_link_past_its_expiry_is_404(two_devices, app, mailbox, clock):
    token = block_link(mailbox, 1)
    use(app, token)
    clock.advance(app.config["BLOCK_LINK_TTL"])
    assert app.test_client().get(f"/block/{token}").status_code == 404
    assert app.test_client().get("/block/" + "x" * 32).status_code == 404
