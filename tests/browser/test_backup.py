"""Backup and recovery in real Chromium: /account/backup and /recover with CDP virtual
authenticators, every one-time code read from real mail received by the test SMTP server
(``tests/mail.py``), as a person would.

A lost phone is a removed virtual authenticator; a new phone is a new browser context with its
own authenticator; a forgotten PIN is a passkey deleted from the authenticator. Policies are
switched on the session's live server for one test at a time (the ``policy`` fixture), as an
administrator does: stored through ``core.policy``, in force from the server's next request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import expect

from core import db as database
from core import policy as policies
from core.models import User
from tests.browser.test_pages import (
    credential_id,
    me,
    open_signin_without_autofill,
    rows,
    sign_out_quietly,
    sign_up,
)
from webauthn.models import Device as DeviceRow

EMAIL = "ada@example.org"  # what test_pages.sign_up gives "ada"
BACKUP_CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$")
# Subjects of the mails (templates/email/*.txt).
ACTIVATE_CODE = "Your code to activate backup"
RECOVER_CODE = "Your code to restore your ID on a new device"
NEW_BACKUP_CODE = "Your new backup code"
RESTORED = "Your ID was restored on a new device"
DUPLICATED = "Your ID was duplicated on a new device"


# ---- mail ----------------------------------------------------------------------------------


def mails(mailbox: Any, subject: str, to: str = EMAIL) -> list[EmailMessage]:
    return [m for m in mailbox.received(to) if subject in str(m["Subject"])]


def wait_for_mail(
    mailbox: Any, subject: str, count: int = 1, to: str = EMAIL, timeout: float = 10
) -> EmailMessage:
    """The ``count``-th mail to ``to`` whose subject contains ``subject``, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        found = mails(mailbox, subject, to)
        if len(found) >= count:
            return found[count - 1]
        if time.monotonic() > deadline:
            got = [(m["To"], m["Subject"]) for m in mailbox.messages]
            raise AssertionError(f"no mail #{count} “{subject}” for {to}; received: {got}")
        time.sleep(0.02)


def otp_from(mailbox: Any, message: EmailMessage) -> str:
    found = re.search(r"^\s+(\d{8})\s*$", mailbox.text(message), re.M)
    assert found, mailbox.text(message)
    return found.group(1)


def backup_code_from(mailbox: Any, message: EmailMessage) -> str:
    found = re.search(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){5}", mailbox.text(message))
    assert found, mailbox.text(message)
    return found.group(0)


# ---- pages ---------------------------------------------------------------------------------


def shown_code(dev: Any) -> str:
    """The backup code on the code card (groups and separators, no line-break hints)."""
    return (dev.page.locator("#backup-code-value").text_content() or "").strip()


def activate_backup(dev: Any, mailbox: Any, *, screenshot: str = "") -> str:
    """On /account/backup (opened here unless already there): activate, type the mailed code,
    and return the backup code the page shows once."""
    page = dev.page
    if not page.url.startswith(dev.server.url + "/account/backup"):
        dev.goto("/account/backup")
    state = page.locator("#backup-state")
    expect(state).to_have_attribute("data-phase", "idle")  # backup.js has run
    sent = len(mails(mailbox, ACTIVATE_CODE))
    page.click("#backup-activate")
    expect(state).to_have_attribute("data-phase", "otp")
    expect(page.locator("#backup-sent-to")).to_have_text("a***@example.org")
    page.fill("#backup-otp", otp_from(mailbox, wait_for_mail(mailbox, ACTIVATE_CODE, sent + 1)))
    page.click("#backup-confirm")
    expect(state).to_have_attribute("data-phase", "done")
    expect(page.locator("#backup-code-value")).to_have_text(BACKUP_CODE)
    if screenshot:
        dev.screenshot(screenshot)
    return shown_code(dev)


def activate_backup_quickly(dev: Any, mailbox: Any) -> str:
    """The same through the JSON API with the page's cookies, for tests about what comes
    after (no page load)."""
    url, origin = dev.server.url, {"Origin": dev.server.url}
    sent = len(mails(mailbox, ACTIVATE_CODE))
    started = dev.page.request.post(url + "/api/backup/activate", data={}, headers=origin)
    assert started.status == 202, started.text()
    otp = otp_from(mailbox, wait_for_mail(mailbox, ACTIVATE_CODE, sent + 1))
    confirmed = dev.page.request.post(
        url + "/api/backup/confirm", data={"otp": otp}, headers=origin
    )
    assert confirmed.status == 200, confirmed.text()
    return str(confirmed.json()["backup_code"])


def continue_after_saving(dev: Any) -> None:
    """Tick “I have saved my backup code”, continue, and wait for the account page."""
    page = dev.page
    expect(page.locator("#backup-continue")).to_be_disabled()
    page.check("#backup-saved")
    page.click("#backup-continue")
    expect(page).to_have_url(dev.server.url + "/account")
    expect(page.locator("#add-device")).to_be_enabled()


def recover(
    dev: Any,
    mailbox: Any,
    backup_code: str,
    *,
    mode: str | None,
    device_name: str = "New phone",
    username: str = "ada",
) -> None:
    """/recover up to step 3: username and backup code, the mailed code, then ``mode``
    ("restore" | "duplicate"; None when the policy leaves no choice) and the device's name.
    Stops before "Create passkey"."""
    page = dev.page
    wizard = page.locator("#recover-wizard")
    dev.goto("/recover")
    sent = len(mails(mailbox, RECOVER_CODE))
    page.fill("#recover-username", username)
    page.fill("#backup-code", backup_code)
    page.click("#recover-begin")  # enabled by recover.js once it has run
    expect(wizard).to_have_attribute("data-step", "2")
    expect(page.locator("#recover-sent-to")).to_have_text("a***@example.org")
    page.fill("#email-code", otp_from(mailbox, wait_for_mail(mailbox, RECOVER_CODE, sent + 1)))
    page.click("#recover-verify")
    expect(wizard).to_have_attribute("data-step", "3")
    if mode is not None:
        # The person decides: neither is preselected.
        expect(page.locator("#mode-restore")).not_to_be_checked()
        expect(page.locator("#mode-duplicate")).not_to_be_checked()
        page.check(f"#mode-{mode}")
    page.fill("#recover-device-name", device_name)


def create_passkey(dev: Any) -> None:
    dev.page.click("#recover-create")
    expect(dev.page.locator("#recover-wizard")).to_have_attribute("data-step", "done")
    expect(dev.page.locator("#recover-done")).to_be_visible()


def storage_and_url(dev: Any) -> str:
    """Everything the page could have left the code in besides its memory and DOM."""
    stored = dev.page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    cookies = [c["value"] for c in dev.context.cookies()]
    return f"{stored} {cookies} {dev.page.url}"


def device_names(dev: Any) -> list[tuple[str, bool]]:
    answer = me(dev)
    assert answer.status == 200, answer.text()
    return [(d["name"], d["current"]) for d in answer.json()["devices"]]


@pytest.fixture
def policy(server: Any) -> Iterator[Callable[..., None]]:
    """``policy(BACKUP_MODE="disabled", …)`` stores policies for this test, the live server
    running on; they are unset afterwards (the configured values apply again)."""
    app = server.app
    changed: set[str] = set()

    def change(**values: Any) -> None:
        with app.app_context():
            for key, value in values.items():
                policies.set_policy(database.session(), key, value, now=database.utcnow())
                changed.add(key)
            database.session().commit()

    try:
        yield change
    finally:
        with app.app_context():
            for key in changed:
                policies.unset_policy(database.session(), key, now=database.utcnow())
            database.session().commit()


# ---- activate ------------------------------------------------------------------------------


def test_activate_backup_shows_the_code_once(device: Any, server: Any, mailbox: Any) -> None:
    sign_up(device)
    page = device.page
    card = page.locator("[data-testid=backup-card]")
    expect(card.locator("#backup-status")).to_have_attribute("data-state", "inactive")
    card.locator("#backup-link").click()
    expect(page).to_have_url(server.url + "/account/backup")
    expect(page.locator("#backup-badge")).to_have_attribute("data-state", "inactive")

    code = activate_backup(device, mailbox, screenshot="backup-code")

    assert BACKUP_CODE.match(code)
    expect(page.locator("#backup-badge")).to_have_attribute("data-state", "active")
    expect(page.locator("#backup-state")).to_have_attribute("data-active", "true")
    expect(page.locator("#code-box .code-username")).to_have_text("ada")
    expect(page.locator("#backup-old-void")).to_be_hidden()
    # Only in the page's memory and DOM: not in storage, cookies or the URL.
    kept = storage_and_url(device)
    assert code not in kept and code.replace("-", "") not in kept
    # The activation code went to the ID's address; the backup code itself was not mailed.
    assert mails(mailbox, NEW_BACKUP_CODE) == []
    assert all(code not in mailbox.text(m) for m in mailbox.received(EMAIL))

    continue_after_saving(device)
    expect(page.locator("#backup-status")).to_have_attribute("data-state", "active")
    assert me(device).status == 200
    # Shown once: the backup page now says active and offers a new code, never the old one.
    device.goto("/account/backup")
    expect(page.locator("#backup-badge")).to_have_attribute("data-state", "active")
    expect(page.locator("#backup-regenerate")).to_be_visible()
    expect(page.locator("#backup-activate")).to_have_count(0)
    expect(page.locator("#backup-result")).to_be_hidden()
    assert code not in page.content()
    assert code not in storage_and_url(device)


# ---- restore and duplicate on a new device -------------------------------------------------


def test_lose_the_phone_and_restore_on_a_new_one(
    make_device: Any, server: Any, mailbox: Any
) -> None:
    phone = make_device()
    sign_up(phone, device_name="Ada's phone")
    old_code = activate_backup_quickly(phone, mailbox)
    phone.remove_authenticator()  # the phone is lost; its browser still has a session

    laptop = make_device()  # a new device: its own browser profile and authenticator
    recover(laptop, mailbox, old_code, mode=None, device_name="New laptop")
    page = laptop.page
    expect(page.locator("#mode-restore")).not_to_be_checked()
    expect(page.locator("#mode-duplicate")).not_to_be_checked()
    page.click("#recover-create")  # nothing chosen yet: the page asks, nothing is created
    expect(page.locator("#recover-mode-error")).to_have_text("Choose “Restore” or “Duplicate”.")
    assert laptop.credentials() == []
    page.check("#mode-restore")
    expect(page.locator("#recover-mode-error")).to_be_hidden()
    laptop.screenshot("recover")
    create_passkey(laptop)

    expect(page.locator("#recover-done-title")).to_have_text("You're back in")
    expect(page.locator("#recover-done-device")).to_have_text(
        "“New laptop” can now sign in to your ID (ada)."
    )
    expect(page.locator("#recover-done-mode")).to_have_text(
        "Your other passkeys and security keys were removed and signed out."
    )
    expect(page.locator("#backup-old-void")).to_be_visible()
    expect(page.locator("#backup-code-value")).to_have_text(BACKUP_CODE)
    new_code = shown_code(laptop)
    assert new_code != old_code
    laptop.screenshot("recover-done")
    kept = storage_and_url(laptop)
    assert new_code not in kept and old_code not in kept

    # Signed in on the new device only; the lost phone is gone and signed out.
    assert device_names(laptop) == [("New laptop", True)]
    [credential] = laptop.credentials()
    [stored] = rows(server, DeviceRow, DeviceRow.status != "removed")
    assert stored.credential_id == credential_id(credential)
    assert me(phone).status == 401
    notice = wait_for_mail(mailbox, RESTORED)
    text = mailbox.text(notice)
    assert "New device: New laptop" in text
    assert "Removed (and signed out): Ada's phone" in text
    # The used backup code is void.
    again = laptop.page.request.post(
        server.url + "/api/recovery/begin",
        data={"username": "ada", "backup_code": old_code},
        headers={"Origin": server.url},
    )
    assert again.status == 401 and again.json()["error"] == "recovery_failed"

    continue_after_saving(laptop)
    expect(page.locator("[data-device-id] .device-name")).to_have_text(["New laptop"])
    expect(page.locator("#backup-status")).to_have_attribute("data-state", "active")


def test_duplicate_onto_a_second_device_keeps_the_first(
    make_device: Any, server: Any, mailbox: Any
) -> None:
    phone = make_device()
    sign_up(phone, device_name="Ada's phone")
    old_code = activate_backup_quickly(phone, mailbox)

    tablet = make_device()
    recover(tablet, mailbox, old_code, mode="duplicate", device_name="Tablet")
    create_passkey(tablet)

    page = tablet.page
    expect(page.locator("#recover-done-mode")).to_have_text(
        "Your other passkeys and security keys still work."
    )
    expect(page.locator("#backup-code-value")).to_have_text(BACKUP_CODE)
    assert shown_code(tablet) != old_code
    assert device_names(tablet) == [("Ada's phone", False), ("Tablet", True)]
    # The phone keeps its passkey and stays signed in.
    assert device_names(phone) == [("Ada's phone", True), ("Tablet", False)]
    assert sorted(d.name for d in rows(server, DeviceRow, DeviceRow.status != "removed")) == [
        "Ada's phone",
        "Tablet",
    ]
    text = mailbox.text(wait_for_mail(mailbox, DUPLICATED))
    assert "New device: Tablet" in text and "Removed" not in text
    phone.goto("/account")
    expect(phone.page.locator("[data-device-id] .device-name")).to_have_text(
        ["Ada's phone", "Tablet"]
    )

    continue_after_saving(tablet)
    expect(page.locator("[data-current='true'] .device-name")).to_have_text("Tablet")


def test_forgotten_pin_delete_the_passkey_then_restore_on_the_same_authenticator(
    device: Any, server: Any, mailbox: Any
) -> None:
    sign_up(device, device_name="Security key")
    old_code = activate_backup_quickly(device, mailbox)
    [old_credential] = device.credentials()

    recover(device, mailbox, old_code, mode="restore", device_name="Security key, new PIN")
    page = device.page
    # The old passkey is still on the authenticator: the browser refuses a second one for the
    # same ID, and the page says what to do.
    page.click("#recover-create")
    expect(page.locator("#status")).to_contain_text(
        "This device or security key already has a passkey for your ID"
    )
    expect(page.locator("#recover-wizard")).to_have_attribute("data-step", "3")
    expect(page.locator("#recover-create")).to_be_enabled()

    device.cdp.send(
        "WebAuthn.removeCredential",
        {
            "authenticatorId": device.authenticator_id,
            "credentialId": old_credential["credentialId"],
        },
    )
    assert device.credentials() == []
    create_passkey(device)  # no new email code needed

    expect(page.locator("#backup-code-value")).to_have_text(BACKUP_CODE)
    assert shown_code(device) != old_code
    [credential] = device.credentials()
    assert credential["credentialId"] != old_credential["credentialId"]
    [stored] = rows(server, DeviceRow, DeviceRow.status != "removed")
    assert stored.credential_id == credential_id(credential)
    assert stored.name == "Security key, new PIN"
    assert device_names(device) == [("Security key, new PIN", True)]
    wait_for_mail(mailbox, RESTORED)


# ---- the sign-in prompt --------------------------------------------------------------------


def test_the_fourth_sign_in_prompts_for_backup_until_it_is_active(
    make_device: Any, server: Any, mailbox: Any
) -> None:
    key = make_device(transport="usb")  # no autofill on /signin: each sign-in is a click
    sign_up(key)  # sign-up is not a sign-in
    page = key.page

    def sign_in() -> None:
        sign_out_quietly(key)
        open_signin_without_autofill(key)
        page.fill("#username", "ada")
        with page.expect_response("**/api/authenticate/complete") as complete:
            page.click("#continue")
        assert complete.value.status == 200
        expect(page.locator("#signout")).to_be_visible()  # the next page has loaded

    for _ in range(3):
        sign_in()
        expect(page).to_have_url(server.url + "/account")

    sign_in()  # the 4th
    expect(page).to_have_url(server.url + "/account/backup?prompt=1")
    state = page.locator("#backup-state")
    expect(state).to_have_attribute("data-prompt", "true")
    expect(page.locator("#backup-state-title")).to_have_text("Protect your ID")
    expect(state).to_have_attribute("data-phase", "idle")
    page.click("#backup-later")  # "Not now"
    expect(page).to_have_url(server.url + "/account")

    sign_in()  # asked again at every sign-in until backup is active: activate it now
    expect(page).to_have_url(server.url + "/account/backup?prompt=1")
    code = activate_backup(key, mailbox)
    assert BACKUP_CODE.match(code)
    expect(page.locator("#backup-state-title")).to_have_text("Backup is active")
    continue_after_saving(key)
    expect(page.locator("#backup-status")).to_have_attribute("data-state", "active")

    sign_in()
    expect(page).to_have_url(server.url + "/account")


# ---- policies ------------------------------------------------------------------------------


def test_on_enrollment_sends_sign_up_straight_to_backup(
    device: Any, server: Any, mailbox: Any, policy: Any
) -> None:
    policy(BACKUP_MODE="on_enrollment")
    device.goto("/signup")
    page = device.page
    page.fill("#username", "ada")
    page.fill("#email", EMAIL)
    page.fill("#device_name", "Laptop")
    page.click("#create-id")

    expect(page).to_have_url(server.url + "/account/backup?prompt=1")
    state = page.locator("#backup-state")
    expect(state).to_have_attribute("data-required", "true")
    expect(page.locator("#backup-state-title")).to_have_text("Backup is required for your ID")
    expect(page.locator("#backup-later")).to_have_count(0)  # no "Not now"
    activate_backup(device, mailbox)
    continue_after_saving(device)
    expect(page.locator("#backup-status")).to_have_attribute("data-state", "active")


def test_disabled_backup_page_says_so_and_recover_refuses(
    make_device: Any, server: Any, mailbox: Any, policy: Any
) -> None:
    policy(BACKUP_MODE="disabled")
    phone = make_device()
    sign_up(phone)
    page = phone.page
    expect(page.locator("#backup-status")).to_have_attribute("data-state", "disabled")
    phone.goto("/account/backup")
    expect(page.locator("#backup-badge")).to_have_attribute("data-state", "disabled")
    expect(page.locator("#backup-disabled-note")).to_contain_text(
        "Backup is turned off by your administrator"
    )
    expect(page.locator("#backup-activate")).to_have_count(0)
    expect(page.locator("#backup-regenerate")).to_have_count(0)
    answer = page.request.post(
        server.url + "/api/backup/activate", data={}, headers={"Origin": server.url}
    )
    assert answer.status == 403 and answer.json()["error"] == "backup_disabled"

    stranger = make_device()
    stranger.goto("/recover")
    spage = stranger.page
    spage.fill("#recover-username", "ada")
    spage.fill("#backup-code", "K7QM-3WXD-9PLC-HT4N-2RBV")
    with spage.expect_response("**/api/recovery/begin") as begin:
        spage.click("#recover-begin")
    assert begin.value.status == 403
    expect(spage.locator("#status")).to_have_text(
        "Backup is turned off by your administrator, so it cannot be activated or changed here."
    )
    expect(spage.locator("#recover-wizard")).to_have_attribute("data-step", "1")
    assert mails(mailbox, RECOVER_CODE) == []
    assert me(stranger).status == 401


def test_disabled_backup_is_not_shown_as_a_way_back_in(
    device: Any, server: Any, mailbox: Any, policy: Any
) -> None:
    sign_up(device)
    code = activate_backup_quickly(device, mailbox)
    policy(BACKUP_MODE="disabled")
    refused = device.page.request.post(
        server.url + "/api/recovery/begin",
        data={"username": "ada", "backup_code": code},
        headers={"Origin": server.url},
    )
    assert refused.status == 403 and refused.json()["error"] == "backup_disabled"

    device.goto("/account")  # server-rendered: read at once, no waiting for a change
    card = device.page.locator("[data-testid=backup-card]")
    assert "you can get back in" not in card.inner_text()
    assert card.locator("#backup-status").get_attribute("data-state") == "disabled"


def test_email_delivery_mails_the_backup_code(
    make_device: Any, server: Any, mailbox: Any, policy: Any
) -> None:
    policy(BACKUP_CODE_DELIVERY="email")
    phone = make_device()
    sign_up(phone, device_name="Ada's phone")
    page = phone.page
    phone.goto("/account/backup")
    # Mailed backup codes go only to a second, confirmed address (never the sign-in one).
    vault = "ada.vault@example.net"
    page.fill("#backup-email-new", vault)
    page.click("#backup-email-send")
    expect(page.locator("#backup-email-card")).to_have_attribute("data-phase", "otp")
    page.fill(
        "#backup-email-otp",
        otp_from(mailbox, wait_for_mail(mailbox, "your backup email address", to=vault)),
    )
    page.click("#backup-email-confirm")
    expect(page.locator("#backup-email-card")).to_have_attribute("data-phase", "done")
    expect(page.locator("#backup-activate-hint")).to_contain_text(
        "your backup code is emailed to you"
    )
    expect(page.locator("#backup-state")).to_have_attribute("data-phase", "idle")
    page.click("#backup-activate")
    page.fill("#backup-otp", otp_from(mailbox, wait_for_mail(mailbox, ACTIVATE_CODE)))
    page.click("#backup-confirm")

    expect(page.locator("#backup-state")).to_have_attribute("data-phase", "done")
    expect(page.locator("#code-card-title")).to_have_text("Your backup code was emailed")
    expect(page.locator("#backup-code-emailed")).to_be_visible()
    expect(page.locator("#code-emailed-to")).to_have_text(vault)
    expect(page.locator("#code-box")).to_be_hidden()
    expect(page.locator("#backup-code-value")).to_be_empty()
    expect(page.locator("#backup-continue")).to_be_enabled()
    code = backup_code_from(mailbox, wait_for_mail(mailbox, NEW_BACKUP_CODE, to=vault))
    assert not mails(mailbox, NEW_BACKUP_CODE)  # nothing to the sign-in address
    assert code not in page.content()

    # The mailed code works, and the replacement after recovery is mailed too.
    tablet = make_device()
    recover(tablet, mailbox, code, mode="duplicate", device_name="Tablet")
    create_passkey(tablet)
    expect(tablet.page.locator("#code-card-title")).to_have_text("Your backup code was emailed")
    expect(tablet.page.locator("#backup-code-emailed")).to_be_visible()
    expect(tablet.page.locator("#backup-code-value")).to_be_empty()
    new_code = backup_code_from(mailbox, wait_for_mail(mailbox, NEW_BACKUP_CODE, count=2, to=vault))
    assert new_code != code and new_code not in tablet.page.content()
    tablet.page.click("#backup-continue")  # nothing to save on the page: continue at once
    expect(tablet.page).to_have_url(server.url + "/account")
    assert device_names(tablet) == [("Ada's phone", False), ("Tablet", True)]


def test_restore_removes_old_devices_offers_no_choice(
    make_device: Any, server: Any, mailbox: Any, policy: Any
) -> None:
    policy(RESTORE_REMOVES_OLD_DEVICES=True)
    phone = make_device()
    sign_up(phone, device_name="Ada's phone")
    code = activate_backup_quickly(phone, mailbox)

    tablet = make_device()
    recover(tablet, mailbox, code, mode=None, device_name="Tablet")
    page = tablet.page
    expect(page.locator("#recover-wizard")).to_have_attribute("data-mode-choice", "false")
    expect(page.locator("#recover-mode")).to_be_hidden()
    expect(page.locator("#recover-forced-note")).to_be_visible()
    create_passkey(tablet)

    expect(page.locator("#recover-done-mode")).to_have_text(
        "Your other passkeys and security keys were removed and signed out."
    )
    assert device_names(tablet) == [("Tablet", True)]
    assert me(phone).status == 401
    assert [d.name for d in rows(server, DeviceRow, DeviceRow.status != "removed")] == ["Tablet"]
    assert [u.username for u in rows(server, User)] == ["ada"]
    assert "Removed (and signed out): Ada's phone" in mailbox.text(wait_for_mail(mailbox, RESTORED))


def test_policy_fixture_puts_the_configuration_back(server: Any) -> None:
    """Runs after the policy tests (file order): the live server is back on its defaults."""
    from recovery.views import settings

    with server.app.app_context():
        current = settings()
    assert (current.mode, current.delivery, current.restore_removes_old_devices) == (
        "optional",
        "display",
        False,
    )
