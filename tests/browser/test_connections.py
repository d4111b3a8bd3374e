"""The account page's Connected websites in real Chromium: a website the ID signed in to is
listed with its address and local times, and Disconnect (after a confirmation that Escape
cancels) takes it off the list, says so, and leaves the empty state."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from core import db as database
from core.context import RequestContext
from core.db import ENGINE_KEY
from embed import clients
from embed.models import Connection
from tests.browser.test_pages import rows, sign_up
from tests.embed.conftest import WEBSITE, Website


def test_disconnect_a_website_from_the_account_page(device: Any, server: Any) -> None:
    sign_up(device)
    with server.app.app_context():
        db = database.session()
        created = clients.create_client(
            db,
            RequestContext.outside_request("test"),
            name="Shop",
            redirect_uris=[f"{WEBSITE}/callback"],
            origins=[WEBSITE],
            trusted=True,
        )
        db.commit()
        client_id, secret = created.client.client_id, created.secret
    website = Website(server.app, client_id, secret, f"{WEBSITE}/callback")
    # The browser signs in to the website (its Keystead cookies); the redirect to the website
    # is not followed.
    answer = device.page.request.get(server.url + website.authorize_url(), max_redirects=0)
    assert answer.status == 302 and answer.headers["location"].startswith(WEBSITE)

    device.goto("/account")
    page = device.page
    row = page.locator("#connection-list [data-connection-id]")
    expect(row).to_have_count(1)
    expect(row.locator(".connection-name")).to_have_text("Shop")
    expect(row.locator(".connection-origin")).to_have_text(WEBSITE)
    expect(row.locator(".connection-last-used time")).to_have_text("just now")
    expect(page.locator("#no-connections")).to_be_hidden()
    button = row.get_by_role("button", name="Disconnect Shop")
    expect(button).to_be_enabled()

    # Escape cancels, and focus goes back to the button.
    button.click()
    dialog = page.locator("#disconnect-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#disconnect-title")).to_have_text("Disconnect “Shop”?")
    expect(page.locator("#disconnect-origin")).to_have_text(WEBSITE)
    expect(page.locator("#cancel-disconnect")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    assert len(rows(server, Connection)) == 1

    button.press("Enter")
    page.click("#confirm-disconnect")
    expect(dialog).to_be_hidden()
    expect(page.locator("#connections-status")).to_have_text(
        "Disconnected “Shop”. It can no longer use your ID."
    )
    expect(row).to_have_count(0)
    expect(page.locator("#connection-count")).to_have_text("0")
    expect(page.locator("#no-connections")).to_be_visible()
    expect(page.locator("#connections-title")).to_be_focused()
    assert rows(server, Connection) == []
    with server.app.extensions[ENGINE_KEY].connect() as conn:
        reasons = conn.execute(sa.text("SELECT revoked_reason FROM oauth_grants")).scalars()
        assert list(reasons) == ["disconnected"]
