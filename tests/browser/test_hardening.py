"""Hardening in real Chromium: a stale session adds a device only after the page's step-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from core.clock import utcnow
from core.db import ENGINE_KEY
from tests.browser.test_pages import rows, sign_up
from webauthn.models import Device as DeviceRow


def make_session_stale(server: Any) -> None:
    """The last user verification was 10 minutes ago (REAUTH_MAX_AGE is 5)."""
    long_ago = (utcnow() - timedelta(minutes=10)).replace(tzinfo=None)
    with server.app.extensions[ENGINE_KEY].begin() as conn:
        conn.execute(sa.text("UPDATE login_sessions SET verified_at = :t"), {"t": long_ago})


def test_a_stale_session_steps_up_before_adding_a_security_key(device: Any, server: Any) -> None:
    sign_up(device, device_name="Laptop")
    page = device.page
    expect(page.locator("#add-device")).to_be_enabled()
    make_session_stale(server)
    # A USB key to add; it stays untouched until the step-up (with the laptop's passkey) is
    # done, and then the laptop's authenticator steps aside so the key answers create().
    key = device.add_authenticator(transport="usb")
    device.set_presence(key, False)
    begins: list[int] = []

    def on_begin(route: Any) -> None:
        begins.append(1)
        if len(begins) == 2:  # the retry after the step-up
            device.set_presence(device.authenticator_id, False)
            device.set_presence(key, True)
        route.continue_()

    page.route("**/api/devices/register/begin", on_begin)
    page.fill("#new-device-name", "YubiKey")
    with page.expect_response("**/api/reauth/complete") as stepped_up:
        with page.expect_response("**/api/devices/register/complete") as added:
            page.click("#add-device")
    assert stepped_up.value.status == 204
    assert added.value.status == 201
    assert len(begins) == 2  # refused once (stale), retried once
    expect(page.locator("#status")).to_contain_text("Added “YubiKey”")
    names = [d.name for d in rows(server, DeviceRow, DeviceRow.status != "removed")]
    assert names == ["Laptop", "YubiKey"]
