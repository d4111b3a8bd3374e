"""The email address in real Chromium: sign up, see the prompt to confirm the address, type the
code mailed over real SMTP, then change the address (the page runs the passkey step-up itself
when the sign-in is no longer fresh)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import ENGINE_KEY
from core.models import LoginSession, User
from recovery.errors import InvalidCode
from tests.browser.test_backup import otp_from, wait_for_mail
from tests.browser.test_pages import sign_up

EMAIL = "ada@example.org"
NEW = "ada.lovelace@example.net"
CONFIRM = "Your code to confirm your email address"
CHANGE = "Your code to make this your email address"
CHANGED = "Your email address was changed"


def user(server: Any) -> User:
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        found = db.scalar(sa.select(User).where(User.username == "ada"))
        assert found is not None
        return found


def make_sign_in_stale(server: Any) -> None:
    """The passkey sign-in was an hour ago: changing the address needs a step-up now."""
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        db.execute(sa.update(LoginSession).values(verified_at=utcnow() - timedelta(hours=1)))
        db.commit()


def test_confirm_the_address_then_change_it_with_a_step_up(
    device: Any, server: Any, mailbox: Any
) -> None:
    page = device.page
    sign_up(device, confirm_email=False)
    card = page.locator("#email-card")
    expect(card).to_have_attribute("data-verified", "false")
    expect(page.locator("#email-state")).to_have_text("Not confirmed")
    expect(page.locator("#email-unconfirmed-note")).to_be_visible()
    expect(page.locator("#email-otp-form")).to_be_visible()

    page.fill("#email-otp", otp_from(mailbox, wait_for_mail(mailbox, CONFIRM, to=EMAIL)))
    page.click("#email-confirm")
    expect(card).to_have_attribute("data-phase", "done")
    expect(card).to_have_attribute("data-verified", "true")
    expect(page.locator("#email-state")).to_have_text("Confirmed")
    expect(page.locator("#email-unconfirmed-note")).to_be_hidden()
    assert user(server).email_verified_at is not None

    make_sign_in_stale(server)
    page.click("#email-change-open")
    page.fill("#email-new", NEW)
    page.click("#email-change-send")  # 401 reauth_required → step-up → retried
    expect(card).to_have_attribute("data-phase", "otp")
    expect(page.locator("#email-otp-to")).to_have_text("a***@example.net")
    assert user(server).email == EMAIL  # nothing changes before the code
    page.fill("#email-otp", otp_from(mailbox, wait_for_mail(mailbox, CHANGE, to=NEW)))
    page.click("#email-confirm")
    expect(card).to_have_attribute("data-phase", "done")
    expect(page.locator("#email-address")).to_have_text(NEW)
    expect(page.locator("#id-email")).to_have_text(NEW)
    assert user(server).email == NEW
    wait_for_mail(mailbox, CHANGED, to=EMAIL)  # the old address is told
    assert device.csp_violations() == []


def test_a_wrong_code_and_the_mail_cap_are_explained(
    device: Any, server: Any, mailbox: Any
) -> None:
    page = device.page
    sign_up(device, confirm_email=False)
    code = otp_from(mailbox, wait_for_mail(mailbox, CONFIRM, to=EMAIL))
    page.fill("#email-otp", "12345678" if code != "12345678" else "87654321")
    page.click("#email-confirm")
    expect(page.locator("#email-otp-error")).to_have_text(InvalidCode.message)
    # Another code at once: the cooldown answers 429 with Retry-After; the page says so.
    page.click("#email-resend")
    expect(page.locator("#status")).to_contain_text("Wait until you may ask for another one")
    assert user(server).email_verified_at is None
