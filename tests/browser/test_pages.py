"""The pages in real Chromium with CDP virtual authenticators: what a person sees, and what the
server recorded.

Autofill (conditional UI) starts as soon as /signin loads and, with an ``internal`` authenticator
holding a discoverable credential, signs in by itself. Tests that sign in by pressing a button
therefore use a ``usb`` security key, for which Chromium reports autofill unavailable; each of
them checks ``data-autofill="unavailable"`` before it clicks, so no autofill request can race
the one under test.
"""

from __future__ import annotations

import re
from base64 import b64decode
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.db import ENGINE_KEY
from core.models import LoginSession, User
from core.users import USERNAME
from recovery.errors import BackupCodeMismatch
from webauthn.errors import UsernameTaken
from webauthn.models import Device as DeviceRow

CANCELLED = "The request was cancelled or timed out. Try again."
# What the browser reports (InvalidStateError: the authenticator holds one of the ID's
# passkeys), in the client's words (static/js/messages.js): the server never sees this.
ALREADY_REGISTERED = (
    "This device or security key already has a passkey for this site. "
    "Use a different one, or sign in with it instead."
)


# ---- helpers -------------------------------------------------------------------------------


def rows(server: Any, model: Any, *where: Any) -> list[Any]:
    """Rows straight from the live server's database."""
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        return list(db.scalars(sa.select(model).where(*where).order_by(model.id)))


def me(dev: Any) -> Any:
    """``GET /api/me`` with the page's cookies."""
    return dev.page.request.get(dev.server.url + "/api/me")


def page_url(dev: Any, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(dev.server.url + path) + r"(\?.*)?$")


def credential_id(credential: dict[str, Any]) -> bytes:
    return b64decode(credential["credentialId"])  # CDP speaks standard base64


def sign_up(
    dev: Any,
    username: str = "ada",
    device_name: str = "Laptop",
    screenshot: str = "",
    confirm_email: bool = True,
) -> None:
    dev.goto("/signup")
    page = dev.page
    page.fill("#username", username)
    page.fill("#email", f"{username}@example.org")
    page.fill("#display_name", username.capitalize() + " Lovelace")
    page.fill("#device_name", device_name)
    if screenshot:
        dev.screenshot(screenshot)
    page.click("#create-id")
    expect(page).to_have_url(page_url(dev, "/account"))
    # The page's modules have run (layout.js, then account.js, which enables this button): the
    # header's Sign out and the rows' Rename/Remove are enabled in the HTML and do nothing if
    # clicked before then.
    expect(page.locator("#add-device")).to_be_enabled()
    if confirm_email:
        # As if the code sign-up mailed had been typed (tests/browser/test_email.py types it):
        # an unconfirmed address gets no notices, and the tests here are about those.
        with Session(dev.server.app.extensions[ENGINE_KEY]) as db:
            db.execute(
                sa.update(User)
                .where(User.username == username, User.email_verified_at.is_(None))
                .values(email_verified_at=User.created_at)
            )
            db.commit()


def sign_out_quietly(dev: Any) -> None:
    """End the session through the API, without visiting /signin (where autofill would run)."""
    answer = dev.page.request.post(
        dev.server.url + "/api/logout", headers={"Origin": dev.server.url}
    )
    assert answer.status == 204
    assert me(dev).status == 401


def open_signin_without_autofill(dev: Any) -> None:
    dev.goto("/signin")
    expect(dev.page.locator("#signin-form")).to_have_attribute("data-autofill", "unavailable")


def add_security_key(dev: Any, name: str = "YubiKey") -> str:
    """On /account: plug in a USB security key beside the laptop's own authenticator and add it.
    The laptop's authenticator gets no touch, so only the key can answer."""
    dev.set_presence(dev.authenticator_id, False)
    key = dev.add_authenticator(transport="usb")
    dev.page.fill("#new-device-name", name)
    dev.page.click("#add-device")
    # The page reloads the list, then account.js shows this (before the reload the status also
    # says "Updating the list…"), so the new rows are there and their buttons are wired.
    expect(dev.page.locator("#status")).to_have_text(
        f"Added “{name}”. It can now sign in to your ID."
    )
    return key


# ---- sign up, sign out, sign in ------------------------------------------------------------


def test_sign_up_names_the_device_and_shows_the_account(device: Any, server: Any) -> None:
    sign_up(device, "ada", "Ada's laptop", screenshot="signup")

    page = device.page
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    expect(page.locator("#id-username")).to_have_text("ada")
    expect(page.locator("#id-email")).to_have_text("ada@example.org")
    row = page.locator("[data-device-id]")
    expect(row).to_have_count(1)
    expect(row.locator(".device-name")).to_have_text("Ada's laptop")
    expect(row.locator(".this-device")).to_have_text("This device")
    expect(row).to_have_attribute("data-current", "true")

    answer = me(device)
    assert answer.status == 200
    body = answer.json()
    assert body["user"]["username"] == "ada"
    assert [(d["name"], d["current"]) for d in body["devices"]] == [("Ada's laptop", True)]
    [credential] = device.credentials()
    [user] = rows(server, User)
    [stored] = rows(server, DeviceRow)
    assert stored.credential_id == credential_id(credential)
    assert user.user_handle == b64decode(credential["userHandle"])
    assert credential["isResidentCredential"]


def test_the_username_is_checked_by_the_rule_the_server_renders(device: Any, server: Any) -> None:
    """signup.js reads the username rule from the input (core.users.USERNAME, rendered), so
    the page refuses what the server would, in its own words, before any request."""
    device.goto("/signup")
    page = device.page
    username = page.locator("#username")
    expect(username).to_have_attribute("pattern", USERNAME.pattern)
    expect(page.locator("#create-id")).to_be_enabled()
    page.fill("#email", "ada@example.org")
    short = "a" * (USERNAME.min_length - 1)
    for typed, message in (
        (short, f"A username has at least {USERNAME.min_length} characters."),
        ("ada lovelace", "Use only letters, digits, dots (.), underscores (_) and hyphens (-)."),
        ("adä", "Use only letters, digits, dots (.), underscores (_) and hyphens (-)."),
    ):
        username.fill(typed)
        page.click("#create-id")
        expect(page.locator("#username-error")).to_have_text(message)
        expect(username).to_have_attribute("aria-invalid", "true")
    assert rows(server, User) == []
    username.fill("ada.lovelace_1-x")
    page.click("#create-id")
    expect(page).to_have_url(page_url(device, "/account"))


def test_sign_out_returns_to_sign_in(make_device: Any, server: Any) -> None:
    key = make_device(transport="usb")  # no autofill on /signin to sign straight back in
    sign_up(key)

    key.page.click("#signout")
    expect(key.page).to_have_url(page_url(key, "/signin"))
    expect(key.page.locator("#signout")).to_have_count(0)
    assert me(key).status == 401
    [session] = rows(server, LoginSession)
    assert session.revoked_at is not None

    key.goto("/account")
    expect(key.page).to_have_url(key.server.url + "/signin?next=/account")
    expect(key.page.locator("#signin-title")).to_have_text("Sign in")


def test_sign_in_username_first(make_device: Any, server: Any) -> None:
    key = make_device(transport="usb")
    sign_up(key)
    sign_out_quietly(key)

    open_signin_without_autofill(key)
    key.page.fill("#username", "ADA")  # usernames ignore case
    with key.page.expect_response("**/api/authenticate/begin") as begin:
        key.page.click("#continue")
    expect(key.page).to_have_url(page_url(key, "/account"))

    assert begin.value.request.post_data_json == {"username": "ADA"}
    [credential] = key.credentials()
    assert me(key).json()["user"]["username"] == "ada"
    [stored] = rows(server, DeviceRow)
    assert stored.last_used_at is not None
    assert stored.sign_count == credential["signCount"] > 0


def test_sign_in_usernameless(make_device: Any, server: Any) -> None:
    key = make_device(transport="usb")
    sign_up(key)
    sign_out_quietly(key)

    open_signin_without_autofill(key)
    key.screenshot("signin")
    with key.page.expect_response("**/api/authenticate/begin") as begin:
        key.page.get_by_role("button", name="Sign in with a passkey").click()
    expect(key.page).to_have_url(page_url(key, "/account"))

    assert begin.value.request.post_data_json == {}  # no username: a discoverable credential
    body = me(key).json()
    assert body["user"]["username"] == "ada"
    assert [d["current"] for d in body["devices"]] == [True]


def test_autofill_signs_in_without_typing(device: Any, server: Any) -> None:
    sign_up(device)
    sign_out_quietly(device)

    with device.page.expect_response("**/api/authenticate/complete") as complete:
        device.goto("/signin")  # nothing typed, nothing clicked
    expect(device.page).to_have_url(page_url(device, "/account"))

    assert complete.value.status == 200
    assert me(device).json()["user"]["username"] == "ada"
    live = rows(server, LoginSession, LoginSession.revoked_at.is_(None))
    [stored] = rows(server, DeviceRow)
    assert [s.device_id for s in live] == [stored.id]


# ---- devices -------------------------------------------------------------------------------


def test_add_a_second_authenticator(device: Any, server: Any) -> None:
    sign_up(device, device_name="Laptop")
    key = add_security_key(device, "YubiKey")

    page = device.page
    expect(page.locator("[data-device-id] .device-name")).to_have_text(["Laptop", "YubiKey"])
    expect(page.locator("#device-count")).to_have_text("2")
    expect(page.locator("[data-current='true'] .device-name")).to_have_text("Laptop")
    device.screenshot("account")

    [laptop_credential] = device.credentials()
    [key_credential] = device.credentials(key)
    stored = {d.name: d.credential_id for d in rows(server, DeviceRow)}
    assert stored == {
        "Laptop": credential_id(laptop_credential),
        "YubiKey": credential_id(key_credential),
    }


def test_remove_the_first_device_then_sign_in_with_the_second(device: Any, server: Any) -> None:
    sign_up(device, device_name="Laptop")
    add_security_key(device, "YubiKey")
    page = device.page

    laptop = page.locator("[data-device-id]").filter(
        has=page.locator(".device-name", has_text="Laptop")
    )
    laptop.locator(".remove").click()
    expect(page.locator("#remove-dialog")).to_be_visible()
    expect(page.locator("#remove-name")).to_have_text("Laptop")
    expect(page.locator("#remove-current-note")).to_be_visible()
    page.click("#confirm-remove")

    expect(page.locator("#remove-dialog")).to_be_hidden()
    expect(page.locator("[data-device-id] .device-name")).to_have_text(["YubiKey"])
    expect(page.locator("#device-count")).to_have_text("1")
    expect(page.locator("#status")).to_contain_text("Removed “Laptop”")
    assert [d.name for d in rows(server, DeviceRow, DeviceRow.status != "removed")] == ["YubiKey"]
    assert me(device).status == 401  # removing a device ends the sessions it signed in

    device.remove_authenticator()  # the laptop is gone; only the security key is left
    open_signin_without_autofill(device)
    page.fill("#username", "ada")
    page.click("#continue")
    # The key was told the laptop was removed: sign-in shows that first ("While you were away").
    expect(page).to_have_url(page_url(device, "/account/notifications"))
    expect(page.locator(".notification[data-kind='device_removed']")).to_have_count(1)
    page.click("#after-signin-continue")
    expect(page).to_have_url(page_url(device, "/account"))
    expect(page.locator("[data-current='true'] .device-name")).to_have_text("YubiKey")
    assert [(d["name"], d["current"]) for d in me(device).json()["devices"]] == [("YubiKey", True)]


def test_rename_a_device(device: Any, server: Any) -> None:
    sign_up(device, device_name="Laptop")
    page = device.page
    row = page.locator("[data-device-id]")

    row.locator(".rename").click()
    expect(row.locator(".rename-input")).to_be_focused()
    row.locator(".rename-input").fill("Work laptop")
    row.locator(".rename-save").click()

    expect(row.locator(".device-name")).to_have_text("Work laptop")
    expect(row.locator(".rename-input")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Renamed to “Work laptop”.")
    assert [d.name for d in rows(server, DeviceRow)] == ["Work laptop"]
    page.reload()
    expect(page.locator("[data-device-id] .device-name")).to_have_text("Work laptop")


# ---- errors a person understands -----------------------------------------------------------


def test_a_refused_passkey_prompt_is_explained_on_sign_up(device: Any, server: Any) -> None:
    device.remove_authenticator()
    device.authenticator_id = device.add_authenticator(uv=False)  # the person cannot verify
    device.goto("/signup")
    page = device.page
    page.fill("#username", "ada")
    page.fill("#email", "ada@example.org")
    page.click("#create-id")

    status = page.locator("#status")
    expect(status).to_have_text(CANCELLED)
    expect(status).to_have_attribute("data-tone", "error")
    expect(page.locator("#create-id")).to_be_enabled()
    expect(page).to_have_url(page_url(device, "/signup"))
    assert rows(server, User) == []
    assert device.credentials() == []


def test_no_passkey_for_this_site_is_explained_on_sign_in(device: Any, server: Any) -> None:
    device.goto("/signin")  # this device holds no passkey for the site
    page = device.page
    expect(page.locator("#signin-form")).to_have_attribute("data-autofill", "failed")
    expect(page.locator("#status")).to_be_empty()  # autofill fails quietly: nobody asked
    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(page.locator("#status")).to_have_text(CANCELLED)
    expect(page.locator("#status")).to_have_attribute("data-tone", "error")
    expect(page.locator("#passkey-signin")).to_be_enabled()
    expect(page).to_have_url(page_url(device, "/signin"))
    assert me(device).status == 401
    assert rows(server, LoginSession) == []


def test_a_refusal_is_shown_in_the_servers_own_words(make_device: Any, server: Any) -> None:
    """The pages keep no copy of the server's messages: they show the answer's ``message``."""
    sign_up(make_device())
    other = make_device()
    other.goto("/signup")
    page = other.page
    page.fill("#username", "ADA")  # taken, whatever its case
    page.fill("#email", "someone@example.org")
    page.click("#create-id")
    expect(page.locator("#status")).to_have_text(UsernameTaken.message)
    expect(page.locator("#username-error")).to_have_text(UsernameTaken.message)

    other.goto("/recover")
    page.fill("#recover-username", "ada")
    page.fill("#backup-code", "K7QM-3WXD-9PLC-HT4N-2RBV")
    page.click("#recover-begin")
    expect(page.locator("#status")).to_have_text(BackupCodeMismatch.message)


def test_adding_an_already_registered_authenticator_is_explained(device: Any, server: Any) -> None:
    sign_up(device, device_name="Laptop")
    device.page.fill("#new-device-name", "Laptop again")
    device.page.click("#add-device")

    expect(device.page.locator("#status")).to_have_text(ALREADY_REGISTERED)
    expect(device.page.locator("#add-device")).to_be_enabled()
    expect(device.page.locator("[data-device-id]")).to_have_count(1)
    assert [d.name for d in rows(server, DeviceRow)] == ["Laptop"]
    assert len(device.credentials()) == 1
