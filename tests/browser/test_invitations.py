"""The sign-up page with an invitation, in real Chromium: invitation-only registration says so
in the server's words; the invitation's link fills in its address and username, and sends its
token with the sign-up."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from core import db as database
from core.context import RequestContext
from core.models import User
from tests.browser.test_pages import page_url, rows
from webauthn import invitations
from webauthn.errors import InvitationRequired
from webauthn.models import Invitation, InvitationDelivery


def _registration(server: Any, value: str) -> None:
    result = server.app.test_cli_runner().invoke(args=["policy", "set", "REGISTRATION", value])
    assert result.exit_code == 0, result.output


def _invite(server: Any, username: str | None) -> str:
    with server.app.app_context():
        db = database.session()
        created = invitations.create(
            db,
            RequestContext.outside_request("cli:test"),
            email="grace@example.org",
            username=username,
            role=None,
            delivery=InvitationDelivery.DISPLAY,
            ttl=3600,
            origin=server.url,
            actor="cli:test",
        )
        db.commit()
        return created.url.removeprefix(server.url)


def test_an_invitation_link_signs_up_where_invitations_are_required(
    device: Any, server: Any
) -> None:
    _registration(server, "invite")
    device.goto("/signup")
    page = device.page
    expect(page.locator("#signup-refused")).to_have_text(InvitationRequired.message)
    expect(page.locator("#signup-form")).to_have_count(0)

    device.goto(_invite(server, "grace"))
    expect(page.locator("#email")).to_have_value("grace@example.org")
    expect(page.locator("#email")).to_have_attribute("readonly", "")
    expect(page.locator("#username")).to_have_value("grace")
    page.fill("#device_name", "Laptop")
    page.click("#create-id")
    expect(page).to_have_url(page_url(device, "/account"))
    [user] = rows(server, User)
    assert (user.username, user.email) == ("grace", "grace@example.org")
    [invitation] = rows(server, Invitation)
    assert invitation.used_by_user_id == user.id
