"""Pages that start where the server says, in real Chromium (issue 7, items 17 and 18): a
pairing link that cannot be used says so on load, with no form; /recover reloaded at step 2 or
step 3 carries on there."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.test_backup import (
    RECOVER_CODE,
    activate_backup_quickly,
    create_passkey,
    mails,
    otp_from,
    wait_for_mail,
)
from tests.browser.test_pages import sign_up


def test_a_bogus_pairing_link_says_on_load_that_it_is_not_valid(device: Any) -> None:
    device.goto("/pair/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    page = device.page
    expect(page.locator("#pair-page")).to_have_attribute("data-phase", "invalid")
    expect(page.locator("#pair-outcome")).to_be_visible()
    expect(page.locator("#pair-outcome-title")).to_have_text("This pairing link is not valid")
    expect(page.locator("#pair-form")).to_have_count(0)
    expect(page.locator("#pair-create")).to_have_count(0)
    assert device.csp_violations() == []


def test_reloading_recover_at_step_two_and_three_resumes(
    make_device: Any, server: Any, mailbox: Any
) -> None:
    phone = make_device()
    sign_up(phone, device_name="Ada's phone")
    code = activate_backup_quickly(phone, mailbox)

    laptop = make_device()
    page = laptop.page
    wizard = page.locator("#recover-wizard")
    laptop.goto("/recover")
    sent = len(mails(mailbox, RECOVER_CODE))
    page.fill("#recover-username", "ada")
    page.fill("#backup-code", code)
    page.click("#recover-begin")
    expect(wizard).to_have_attribute("data-step", "2")

    page.reload()
    expect(wizard).to_have_attribute("data-step", "2")
    expect(page.locator("#recover-step-2")).to_be_visible()
    expect(page.locator("#recover-step-1")).to_be_hidden()
    expect(page.locator("#recover-sent-to")).to_have_text("a***@example.org")
    expect(page.locator("#recover-begin")).to_be_enabled()  # recover.js has run
    page.fill("#email-code", otp_from(mailbox, wait_for_mail(mailbox, RECOVER_CODE, sent + 1)))
    page.click("#recover-verify")
    expect(wizard).to_have_attribute("data-step", "3")

    page.reload()
    expect(wizard).to_have_attribute("data-step", "3")
    expect(page.locator("#recover-step-3")).to_be_visible()
    expect(page.locator("#recover-step-2")).to_be_hidden()
    expect(page.locator("#recover-begin")).to_be_enabled()
    page.check("#mode-duplicate")
    page.fill("#recover-device-name", "New laptop")
    create_passkey(laptop)
    assert laptop.csp_violations() == []
