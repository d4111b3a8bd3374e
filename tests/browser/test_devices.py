"""Every device is told, in real Chromium: QR pairing, live notifications, blocking from the
account page and from the mail's link, and a duplicate on a third device alerting the others.

Each device is its own browser context with its own CDP virtual authenticator. A signs up and
stays on /account the whole test (never reloaded: a marker set in its window must survive),
so what it shows arrived live. B is paired from A through the pages, by the URL behind the QR
code. Nobody but a blocked B visits /signin, so no autofill request races anything; there the
autofill attempt with B's passkey is wanted, and the test waits until it has failed before it
clicks.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from core.models import AuditEvent
from tests.browser.test_backup import (
    DUPLICATED,
    activate_backup_quickly,
    create_passkey,
    recover,
    wait_for_mail,
)
from tests.browser.test_pages import credential_id, me, page_url, rows, sign_up
from webauthn.models import Device as DeviceRow

PHONE = "Ada's phone"
PAIRED = "A device was paired with your ID"  # the paired mail's subject (notify/inbox.py)
LIVE_WITHIN = 5  # seconds: the bound for a notification to reach an open page
MARKER = "__keystead_same_page"


# ---- helpers -------------------------------------------------------------------------------


def stay_on_page(dev: Any) -> None:
    """Mark the window: ``still_same_page`` then proves nothing reloaded or navigated it."""
    dev.page.evaluate(f"window.{MARKER} = true")


def still_same_page(dev: Any) -> bool:
    return bool(dev.page.evaluate(f"window.{MARKER} === true"))


def device_row(dev: Any, name: str) -> Any:
    """The account page's row of the device called ``name``."""
    page = dev.page
    return page.locator("[data-device-id]").filter(
        has=page.locator(".device-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def toast(dev: Any, kind: str) -> Any:
    return dev.page.locator(f"#live-notifications .live-notification[data-kind='{kind}']")


def start_pairing(a: Any) -> str:
    """On A's /account: "Add a device with a QR code"; the URL the QR code stands for."""
    page = a.page
    page.click("#pair-start")
    panel = page.locator("#pair-panel")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-state", "waiting")
    expect(page.locator("#pair-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(page.locator("#pair-expires-text")).to_have_text(re.compile(r"^Expires in [45]:\d\d$"))
    url = (page.locator("#pair-url").text_content() or "").strip()
    assert re.fullmatch(re.escape(a.server.url) + r"/pair/[A-Za-z0-9_-]{22,}", url), url
    return url


def redeem(b: Any, url: str, name: str = PHONE) -> str:
    """On B: open the pairing URL, name the device, create its passkey; the number B shows."""
    b.page.goto(url)
    page = b.page
    expect(page.locator("#pair-create")).to_be_enabled()  # pair.js has run
    page.fill("#pair-device-name", name)
    page.click("#pair-create")
    expect(page.locator("#pair-page")).to_have_attribute("data-phase", "waiting")
    expect(page.locator("#pair-waiting")).to_be_visible()
    code = (page.locator("#pair-code").text_content() or "").strip()
    assert re.fullmatch(r"\d{2}", code), code
    return code


def approve(a: Any, b: Any, code: str, name: str = PHONE) -> None:
    """A types the number B shows and approves; B's page continues by itself to its account,
    signed in."""
    a.page.fill("#pair-confirmation", code)
    a.page.click("#pair-approve")
    expect(a.page.locator("#pair-panel")).to_have_attribute("data-state", "approved")
    expect(a.page.locator("#pair-result")).to_have_text(
        f"“{name}” was added to your ID. It can sign in now."
    )
    expect(b.page).to_have_url(page_url(b, "/account"))
    expect(b.page.locator("#add-device")).to_be_enabled()  # account.js has run
    expect(b.page.locator("#live-notifications")).to_have_attribute("data-state", "polling")


def pair(a: Any, b: Any, name: str = PHONE) -> None:
    """B joins A's ID through the pages; both end on /account, A's page not reloaded."""
    code = redeem(b, start_pairing(a), name)
    expect(a.page.locator("#pair-confirmation")).to_be_focused()
    approve(a, b, code, name)
    expect(device_row(a, name)).to_have_attribute("data-status", "active")


def signed_up(make_device: Any) -> Any:
    """Device A: a new ID, on its account page, live polling running, marked."""
    a = make_device()
    sign_up(a, device_name="Laptop")
    expect(a.page.locator("#pair-start")).to_be_enabled()
    expect(a.page.locator("#live-notifications")).to_have_attribute("data-state", "polling")
    stay_on_page(a)
    return a


def status_of(server: Any, name: str) -> str:
    [device] = rows(server, DeviceRow, DeviceRow.name == name)
    return str(device.status)


# ---- pairing -------------------------------------------------------------------------------


def test_pair_a_new_device_by_the_url_behind_the_qr_code(make_device: Any, server: Any) -> None:
    a = signed_up(make_device)
    url = start_pairing(a)

    b = make_device()  # the new phone: its own browser profile and authenticator
    code = redeem(b, url)
    bpage = b.page
    expect(bpage.locator("#pair-code-box")).to_be_visible()
    expect(bpage.locator("#pair-form")).to_be_hidden()
    # Stored, not usable yet: no session on B, and the row on A says it waits.
    assert me(b).status == 401
    assert status_of(server, PHONE) == "pending"

    # A's open page shows the new device and the same number.
    apage = a.page
    expect(apage.locator("#pair-panel")).to_have_attribute("data-state", "awaiting_approval")
    expect(apage.locator("#pair-approval")).to_be_visible()
    expect(apage.locator("#pair-new-name")).to_have_text(PHONE)
    expect(apage.locator("#pair-new-ip")).to_have_text("127.0.0.1")
    expect(apage.locator("#pair-new-browser")).not_to_be_empty()
    # The number is not shown here: the person types what B shows. A wrong one is refused.
    expect(apage.locator("#pair-confirmation")).to_have_value("")
    expect(apage.locator("#pair-approve")).to_be_enabled()
    wrong = f"{(int(code) + 1) % 100:02d}"
    apage.fill("#pair-confirmation", wrong)
    apage.click("#pair-approve")
    expect(apage.locator("#pair-confirmation-error")).to_have_text(
        "That is not the number the new device shows. Check it and type it again."
    )
    expect(apage.locator("#pair-panel")).to_have_attribute("data-state", "awaiting_approval")
    assert status_of(server, PHONE) == "pending"
    expect(device_row(a, PHONE)).to_have_attribute("data-status", "pending")
    a.screenshot("pairing")
    b.screenshot("pair-new-device")

    approve(a, b, code)

    assert me(b).status == 200
    body = me(b).json()
    assert body["user"]["username"] == "ada"
    assert [(d["name"], d["current"]) for d in body["devices"]] == [
        ("Laptop", False),
        (PHONE, True),
    ]
    [credential] = b.credentials()
    [stored] = rows(server, DeviceRow, DeviceRow.name == PHONE)
    assert stored.status == "active"
    assert stored.credential_id == credential_id(credential)
    expect(bpage.locator("[data-current='true'] .device-name")).to_have_text(PHONE)
    # A's list caught up without a reload.
    expect(apage.locator("[data-device-id] .device-name")).to_have_text(["Laptop", PHONE])
    expect(apage.locator("#device-count")).to_have_text("2")
    assert still_same_page(a)
    assert me(a).status == 200


# ---- live notifications --------------------------------------------------------------------


def test_a_passkey_added_on_b_shows_live_on_as_open_page(make_device: Any, server: Any) -> None:
    a = signed_up(make_device)
    b = make_device()
    pair(a, b)

    # A newly paired device is not fresh: B confirms it's the person first (adding a device
    # changes what can sign in), as the page's step-up would ask.
    b.page.evaluate("async () => (await import('/static/js/webauthn.js')).stepUp()")
    # On B: plug in a USB security key and add it (B's own authenticator gets no touch).
    b.set_presence(b.authenticator_id, False)
    b.add_authenticator(transport="usb")
    b.page.fill("#new-device-name", "YubiKey")
    with b.page.expect_response("**/api/devices/register/complete") as added:
        b.page.click("#add-device")
    assert added.value.status == 201
    happened = time.monotonic()

    notice = toast(a, "device_added")
    expect(notice).to_be_visible(timeout=LIVE_WITHIN * 1000)
    took = time.monotonic() - happened
    assert took < LIVE_WITHIN, took
    expect(notice.locator(".notice-device__name")).to_have_text("YubiKey")
    expect(notice.locator(".live-notification__title")).to_have_text(
        "A passkey was added to your ID"
    )
    expect(notice.locator(".notice-meta")).to_contain_text("127.0.0.1")
    expect(notice.locator(".live-block")).to_be_visible()
    expect(notice.locator(".live-block")).to_have_text("This wasn't me — block it")
    # The device list and the unread count follow, still without a reload.
    expect(a.page.locator("[data-device-id] .device-name")).to_have_text(
        ["Laptop", PHONE, "YubiKey"]
    )
    expect(a.page.locator("#unread-count")).to_be_visible()
    assert still_same_page(a)
    a.screenshot("live-notification")


# ---- blocking ------------------------------------------------------------------------------


def assert_b_cannot_sign_in(b: Any, server: Any) -> None:
    """On B's /signin (where B was sent): its passkey no longer signs in, and B is told."""
    page = b.page
    form = page.locator("#signin-form")
    # Autofill tries B's passkey by itself and the server refuses it; then the person asks.
    expect(form).to_have_attribute("data-autofill", "failed")
    with page.expect_response("**/api/authenticate/complete") as refused:
        page.get_by_role("button", name="Sign in with a passkey").click()
    assert refused.value.status == 401
    assert refused.value.json()["error"] == "device_blocked"
    status = page.locator("#status")
    # The person is told this passkey was blocked and what to do, in the server's words.
    expect(status).to_have_text(refused.value.json()["message"])
    expect(status).to_have_attribute("data-tone", "error")
    expect(page.locator("#passkey-signin")).to_be_enabled()
    expect(page).to_have_url(re.compile(re.escape(b.server.url + "/signin")))
    assert me(b).status == 401
    tried = rows(server, AuditEvent, AuditEvent.kind == "sign_in_failed")
    assert len(tried) == 2 and all("device_blocked" in str(e.data) for e in tried)


def test_a_blocks_b_from_the_account_page(make_device: Any, server: Any) -> None:
    a = signed_up(make_device)
    b = make_device()
    pair(a, b)
    assert me(b).status == 200

    page = a.page
    row = device_row(a, PHONE)
    expect(row.locator(".block")).to_be_enabled()
    row.locator(".block").click()
    dialog = page.locator("#block-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#block-name")).to_have_text(PHONE)
    expect(page.locator("#block-current-note")).to_be_hidden()
    expect(page.locator("#block-last-note")).to_be_hidden()
    with page.expect_response(re.compile(r"/api/devices/\d+/block$")) as blocked:
        page.click("#confirm-block")
    assert blocked.value.status == 200  # signed up a moment ago: no step-up asked
    assert blocked.value.json()["device"]["status"] == "blocked"

    expect(dialog).to_be_hidden()
    expect(row).to_have_attribute("data-status", "blocked")
    expect(row.locator(".device-status")).to_have_text("Blocked")
    expect(row.locator(".block")).to_have_count(0)
    expect(page.locator("#status")).to_have_text(
        f"Blocked “{PHONE}”. It is signed out and can never sign in to your ID again."
    )
    assert me(a).status == 200 and still_same_page(a)
    assert status_of(server, PHONE) == "blocked"

    # B's next request is refused: its account page sends it to sign in.
    assert me(b).status == 401
    b.goto("/account")
    expect(b.page).to_have_url(b.server.url + "/signin?next=/account")
    assert_b_cannot_sign_in(b, server)


def test_a_blocks_b_through_the_mailed_link(make_device: Any, server: Any, mailbox: Any) -> None:
    a = signed_up(make_device)
    b = make_device()
    pair(a, b)

    text = mailbox.text(wait_for_mail(mailbox, PAIRED))
    assert f"Device: {PHONE}" in text
    found = re.search(r"^\s+(http://\S+/block/[A-Za-z0-9_-]+)\s*$", text, re.M)
    assert found, text
    link = found.group(1)
    assert link.startswith(server.url + "/block/")

    # Opened where the mail is read: a browser with no session (and a scanner's prefetch).
    reader = make_device()
    reader.page.goto(link)
    page = reader.page
    expect(page.locator("#block-title")).to_have_text(f"Block “{PHONE}”?")
    expect(page.locator("#block-confirm")).to_be_visible()
    reader.screenshot("block-link")
    # Looking changed nothing.
    assert me(b).status == 200
    assert status_of(server, PHONE) == "active"

    page.click("#block-confirm")
    expect(page.locator("#block-title")).to_have_text("Device blocked")
    expect(page.locator("#block-result")).to_contain_text(f"“{PHONE}” is blocked for good")
    assert me(reader).status == 401  # blocking from the mail signs nobody in
    assert me(a).status == 200
    assert status_of(server, PHONE) == "blocked"
    # The open pages hear of it by themselves: A's shows a notice and marks the row; B's says
    # its session has ended, and stops asking.
    assert me(b).status == 401
    expect(toast(a, "device_blocked")).to_be_visible()
    expect(device_row(a, PHONE)).to_have_attribute("data-status", "blocked")
    assert still_same_page(a)
    expect(b.page.locator("#session-ended")).to_be_visible()
    expect(b.page.locator("#live-notifications")).to_have_attribute("data-state", "stopped")
    b.page.locator("#session-ended a").click()
    expect(b.page).to_have_url(b.server.url + "/signin?next=%2Faccount")
    assert_b_cannot_sign_in(b, server)

    # Single use: opened again, the link does nothing more and says the device is blocked.
    again = reader.page.goto(link)
    assert again is not None and again.status == 200
    expect(reader.page.locator("#block-title")).to_have_text("Already blocked")
    expect(reader.page.locator("form")).to_have_count(0)


# ---- a copy of the ID on a third device ----------------------------------------------------


def test_a_duplicate_on_c_alerts_a_and_b(make_device: Any, server: Any, mailbox: Any) -> None:
    a = signed_up(make_device)
    code = activate_backup_quickly(a, mailbox)
    b = make_device()
    pair(a, b)
    stay_on_page(b)

    c = make_device()
    recover(c, mailbox, code, mode="duplicate", device_name="Tablet")
    with c.page.expect_response("**/api/recovery/complete") as done:
        create_passkey(c)
    assert done.value.ok
    happened = time.monotonic()

    for dev in (a, b):
        notice = toast(dev, "device_duplicated")
        expect(notice).to_be_visible(timeout=LIVE_WITHIN * 1000)
        expect(notice.locator(".notice-device__name")).to_have_text("Tablet")
        expect(notice.locator(".live-block")).to_be_visible()
    took = time.monotonic() - happened
    assert took < LIVE_WITHIN, took
    for dev in (a, b):
        expect(dev.page.locator("[data-device-id] .device-name")).to_have_text(
            ["Laptop", PHONE, "Tablet"]
        )
        assert still_same_page(dev)
        assert me(dev).status == 200  # duplicate: the others stay

    notice_mail = mailbox.text(wait_for_mail(mailbox, DUPLICATED))
    assert "New device: Tablet" in notice_mail and "Removed" not in notice_mail
    assert sorted(d.name for d in rows(server, DeviceRow)) == sorted(["Laptop", PHONE, "Tablet"])
