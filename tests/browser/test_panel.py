"""The account panel in real Chromium: where the ID is signed in (sign out another browser
after a step-up), the display name, deleting the ID, and the account card at 375 px.

A second browser of the same ID is a second context holding a passkey the first one added
(moved there with CDP ``addCredential``); it signs in by autofill as soon as /signin loads.
A step-up is forced by ageing the session's last verification in the database; the virtual
authenticator then answers the step-up by itself, as a person touching it would.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import ENGINE_KEY
from core.models import AuditEvent, LoginSession, User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_pages import me, page_url, rows, sign_up
from webauthn.models import Device as DeviceRow

LONG_EMAIL = "ada.lovelace.countess@analytical-engine.example.org"


# ---- helpers -------------------------------------------------------------------------------


def second_browser(make_device: Any, first: Any, name: str) -> Any:
    """Another browser profile of the same ID, signed in by autofill with a passkey of its own:
    ``first`` adds a security key called ``name`` from its account page, and the key's
    credential moves to the new profile (a copy used in two places would look like a clone)."""
    first.set_presence(first.authenticator_id, False)
    key = first.add_authenticator(transport="usb")
    first.page.fill("#new-device-name", name)
    first.page.click("#add-device")
    expect(first.page.locator("#status")).to_have_text(
        f"Added “{name}”. It can now sign in to your ID."
    )
    credentials = first.credentials(key)
    first.remove_authenticator(key)
    first.set_presence(first.authenticator_id, True)
    other = make_device()
    for credential in credentials:
        other.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": other.authenticator_id, "credential": credential},
        )
    other.goto("/signin")
    expect(other.page).to_have_url(page_url(other, "/account"))
    return other


def age_verification(server: Any, minutes: int = 10) -> None:
    """Every session's last user verification ``minutes`` ago: the next sensitive action asks
    for the passkey again."""
    with Session(server.app.extensions[ENGINE_KEY]) as db:
        db.execute(
            sa.update(LoginSession).values(verified_at=utcnow() - timedelta(minutes=minutes))
        )
        db.commit()


def kinds(server: Any) -> list[str]:
    return [e.kind for e in rows(server, AuditEvent)]


def lines_of(page: Any, selector: str) -> list[str]:
    """The text of ``selector`` as the browser laid it out, one string per line box."""
    return list(
        page.evaluate(
            """(selector) => {
              const root = document.querySelector(selector);
              const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
              const lines = [];
              let top = null;
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (let i = 0; i < node.length; i++) {
                  const range = document.createRange();
                  range.setStart(node, i);
                  range.setEnd(node, i + 1);
                  const rect = range.getBoundingClientRect();
                  if (rect.width === 0 && /\\s/.test(node.data[i])) continue;
                  if (top === null || rect.top > top + 2) lines.push("");
                  top = rect.top > (top ?? -1) + 2 ? rect.top : top;
                  lines[lines.length - 1] += node.data[i];
                }
              }
              return lines.map((line) => line.trim());
            }""",
            selector,
        )
    )


# ---- sessions ------------------------------------------------------------------------------


def test_sign_out_another_browser_after_a_step_up(make_device: Any, server: Any) -> None:
    laptop = make_device()
    sign_up(laptop, device_name="Laptop")
    other = second_browser(make_device, laptop, "Phone")
    page = laptop.page
    page.reload()

    sessions = page.locator("#session-list [data-session-id]")
    expect(sessions).to_have_count(2)
    expect(page.locator("#session-count")).to_have_text("2")
    mine = sessions.filter(has=page.locator(".badge", has_text="This browser"))
    expect(mine).to_have_count(1)
    expect(mine.locator(".end-session")).to_have_count(0)  # this one signs out in the header
    theirs = page.locator("#session-list [data-current='false']")
    expect(theirs.locator(".session-name")).to_have_text(re.compile(r"^Chrome on \w+"))
    expect(theirs.locator(".session-device")).to_have_text("Phone")
    expect(theirs.locator(".session-ip")).to_have_text("127.0.0.1")
    expect(page.locator("#end-other-sessions")).to_be_visible()

    age_verification(server)
    with page.expect_response("**/api/reauth/complete") as stepped_up:
        theirs.locator(".end-session").click()
    assert stepped_up.value.status == 204
    expect(page.locator("#sessions-status")).to_have_text(
        re.compile(r"^Signed out Chrome on \w+\. That browser has to sign in again")
    )
    expect(sessions).to_have_count(1)
    expect(page.locator("#session-count")).to_have_text("1")
    expect(page.locator("#end-other-sessions")).to_be_hidden()
    expect(page.locator("#sessions-title")).to_be_focused()

    assert me(other).status == 401
    assert me(laptop).status == 200
    assert "session_ended" in kinds(server) and "reauthenticated" in kinds(server)


def test_sign_out_everywhere_else(make_device: Any, server: Any) -> None:
    laptop = make_device()
    sign_up(laptop)
    others = [second_browser(make_device, laptop, name) for name in ("Phone", "Tablet")]
    page = laptop.page
    page.reload()
    expect(page.locator("#session-list [data-session-id]")).to_have_count(3)

    page.click("#end-other-sessions")  # signed up a moment ago: no step-up needed
    expect(page.locator("#sessions-status")).to_have_text("Signed out 2 other browsers.")
    expect(page.locator("#session-list [data-session-id]")).to_have_count(1)
    assert [me(o).status for o in others] == [401, 401]
    assert me(laptop).status == 200


# ---- display name --------------------------------------------------------------------------


def test_change_the_display_name(device: Any, server: Any) -> None:
    sign_up(device)  # "Ada Lovelace"
    page = device.page
    expect(page.locator("#display-name-input")).to_have_value("Ada Lovelace")
    page.fill("#display-name-input", "  Augusta Ada King ")
    page.click("#display-name-save")
    expect(page.locator("#display-name-status")).to_have_text(
        "Saved. Your ID is now shown as “Augusta Ada King”."
    )
    expect(page.locator("#id-display-name")).to_have_text("Augusta Ada King")
    expect(page.locator(".page-head h1")).to_have_text("Augusta Ada King")
    expect(page.locator("#display-name-input")).to_have_value("Augusta Ada King")
    [user] = rows(server, User)
    assert user.display_name == "Augusta Ada King"
    page.reload()
    expect(page.locator(".page-head h1")).to_have_text("Augusta Ada King")


# ---- deleting the ID -----------------------------------------------------------------------


def test_delete_the_id(make_device: Any, server: Any) -> None:
    laptop = make_device(transport="usb")  # no autofill on /signin afterwards
    sign_up(laptop)
    page = laptop.page
    page.click("#delete-start")
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#delete-confirm")).to_be_focused()

    # A wrong name: the server's words beside the field, nothing deleted, no passkey asked.
    page.fill("#delete-confirm", "Ada")
    page.click("#confirm-delete")
    error = page.locator("#delete-confirm-error")
    expect(error).to_have_text("Type your username exactly as shown to confirm.")
    expect(page.locator("#delete-confirm")).to_have_attribute("aria-invalid", "true")
    [user] = rows(server, User)
    assert user.deleted_at is None and "reauthenticated" not in kinds(server)

    # Cancel closes it; the right name after a stale session: step-up, then gone.
    page.click("#cancel-delete")
    expect(dialog).to_be_hidden()
    expect(page.locator("#delete-start")).to_be_focused()
    age_verification(server)
    page.click("#delete-start")
    page.fill("#delete-confirm", "ada")
    with page.expect_response("**/api/reauth/complete") as stepped_up:
        page.click("#confirm-delete")
    assert stepped_up.value.status == 204
    expect(page.locator("#delete-progress")).to_contain_text("Your ID was deleted.")
    expect(page).to_have_url(page_url(laptop, "/signin"))

    assert me(laptop).status == 401
    [user] = rows(server, User)
    assert user.deleted_at is not None and user.username == f"deleted:{user.id}"
    assert [d.status for d in rows(server, DeviceRow)] == ["removed"]

    # The old passkey signs in no more (the key still offers it: usernameless); the username is
    # free for a new ID.
    expect(page.locator("#passkey-signin")).to_be_enabled()
    with page.expect_response("**/api/authenticate/complete") as refused:
        page.click("#passkey-signin")
    assert refused.value.status == 401
    expect(page.locator("#status")).to_contain_text("did not sign you in")
    expect(page).to_have_url(page_url(laptop, "/signin"))
    newcomer = make_device()
    sign_up(newcomer)
    assert me(newcomer).json()["user"]["username"] == "ada"


# ---- item 23: the account card on a phone (375 and 320 px wide) --------------------------


@pytest.mark.parametrize("width", [375, 320])
def test_the_account_card_on_a_phone(device: Any, server: Any, width: int) -> None:
    page = device.page
    page.set_viewport_size({"width": width, "height": 812})
    device.goto("/signup")
    page.fill("#username", "ada")
    page.fill("#email", LONG_EMAIL)
    page.fill("#display_name", "Ada Lovelace")
    page.fill("#device_name", "Laptop")
    page.click("#create-id")
    expect(page).to_have_url(page_url(device, "/account"))
    expect(page.locator("#add-device")).to_be_enabled()

    # The address wraps only where a person would break it: before "@" or a dot (or after a
    # hyphen, where browsers break anyway), never inside a word.
    lines = lines_of(page, "#id-email")
    assert "".join(lines) == LONG_EMAIL, lines
    assert len(lines) > 1, lines  # narrower than the address: it has to wrap here
    for before, after in zip(lines, lines[1:], strict=False):
        assert after[0] in "@." or before[-1] in "@-", lines

    # Rename, Block and Remove stay together: one row, or one row each; never two and one.
    boxes = [
        page.locator(f"[data-device-id] .device__actions .{name}").bounding_box()
        for name in ("rename", "block", "remove")
    ]
    assert all(boxes), boxes
    tops = {round(b["y"]) for b in boxes}
    if len(tops) == 1:
        lefts = [b["x"] for b in boxes]
        assert lefts == sorted(lefts)
    else:
        assert len(tops) == 3 and len({round(b["x"]) for b in boxes}) == 1, boxes
    # Every button inside the card, none cut off.
    row = page.locator("[data-device-id]").bounding_box()
    for box in boxes:
        assert row["x"] <= box["x"] and box["x"] + box["width"] <= row["x"] + row["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    device.screenshot(f"account-{width}")
    for part in ("id-card", "devices", "sessions"):
        page.locator(f"[data-testid='{part}']").screenshot(
            path=str(ARTIFACTS / f"account-{width}-{part}.png"), animations="disabled"
        )


def test_a_short_address_is_never_broken_on_a_wide_screen(device: Any, server: Any) -> None:
    page = device.page
    page.set_viewport_size({"width": 1024, "height": 800})
    device.goto("/signup")
    page.fill("#username", "ada")
    page.fill("#email", LONG_EMAIL)
    page.fill("#display_name", "Ada Lovelace")
    page.fill("#device_name", "Laptop")
    page.click("#create-id")
    expect(page).to_have_url(page_url(device, "/account"))
    device.screenshot("account-1024")
    assert lines_of(page, "#id-email") == [LONG_EMAIL]
