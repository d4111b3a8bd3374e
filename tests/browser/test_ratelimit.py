"""In Chromium: a 429 shows the server's message with a live countdown and holds the button
until it ends (ui.js showError, the one way pages show API errors), and the pages' own
``safeLocalPath`` refuses every ``?next=`` the server refuses."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from core.errors import RateLimited
from core.web import safe_next_path
from recovery.errors import TooManyAttempts
from tests.browser.conftest import Device, LiveServer, _free_port
from tests.browser.test_pages import page_url, sign_up
from tests.conftest import base_config, empty_tables
from tests.next_paths import HOSTILE, SAFE

COUNTDOWN = re.compile(r"^Try again in [1-9]\d* s\.$")


@pytest.fixture(scope="module")
def limited_server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A live server of its own with rate limits on (the shared one has them off)."""
    port = _free_port()
    origin = f"http://localhost:{port}"
    app = create_app(
        {
            **base_config(migrated, tmp_path_factory.mktemp("limited")),
            "ORIGIN": origin,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_CEREMONY": "1 per 6 seconds",
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(origin, app)
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def limited_device(browser: Any, limited_server: Any) -> Iterator[Any]:
    empty_tables(limited_server.app)
    dev = Device(browser, limited_server, transport="usb")  # usb: no autofill on /signin
    yield dev
    dev.close()
    assert not dev.csp_violations(), dev.console_errors


def test_a_429_shows_the_servers_message_and_a_countdown_then_lets_the_person_retry(
    limited_device: Any,
):
    dev = limited_device
    server = dev.server
    page = dev.page
    dev.goto("/signin")
    expect(page.locator("#signin-form")).to_have_attribute("data-autofill", "unavailable")
    # This IP has used its one sign-in start of the window.
    used = page.request.post(
        server.url + "/api/authenticate/begin", data={}, headers={"Origin": server.url}
    )
    assert used.status == 200

    page.click("#passkey-signin")
    status = page.locator("#status")
    clock = status.locator(".status-countdown")
    expect(status).to_have_attribute("data-tone", "error")
    expect(status).to_contain_text(RateLimited.message)
    expect(clock).to_have_text(COUNTDOWN)
    expect(clock).to_have_attribute("role", "timer")
    # Both ways to sign in wait; the number goes down.
    expect(page.locator("#passkey-signin")).to_be_disabled()
    expect(page.locator("#continue")).to_be_disabled()
    first = int(clock.get_attribute("data-seconds") or 0)
    assert 1 <= first <= 6
    if first > 1:
        expect(clock).to_have_attribute("data-seconds", str(first - 1))
    dev.screenshot("ratelimit-countdown")

    # At 0 the buttons come back and the page says so.
    expect(page.locator("#passkey-signin")).to_be_enabled(timeout=10_000)
    expect(page.locator("#continue")).to_be_enabled()
    expect(status).to_have_text("You can try again now.")
    # And the wait was true: the server takes the next request.
    again = page.request.post(
        server.url + "/api/authenticate/begin", data={}, headers={"Origin": server.url}
    )
    assert again.status == 200


def test_the_apps_own_429_counts_down_its_own_wait(
    make_device: Any, server: Any, monkeypatch: pytest.MonkeyPatch
):
    from webauthn import signin

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise TooManyAttempts(3)

    monkeypatch.setattr(signin, "begin_registration", throttled)
    dev = make_device()
    page = dev.page
    dev.goto("/signup")
    page.fill("#username", "ada")
    page.fill("#email", "ada@example.org")
    page.click("#create-id")
    status = page.locator("#status")
    expect(status).to_contain_text(TooManyAttempts.message)
    clock = status.locator(".status-countdown")
    expect(clock).to_have_text(re.compile(r"^Try again in [1-3] s\.$"))
    expect(page.locator("#create-id")).to_be_disabled()
    expect(page.locator("#create-id")).to_be_enabled(timeout=10_000)
    expect(status).to_have_text("You can try again now.")


def test_the_pages_fallback_refuses_what_the_server_refuses(make_device: Any, server: Any):
    dev = make_device()
    dev.goto("/signin")
    values = HOSTILE + SAFE
    verdicts = dev.page.evaluate(
        """async (values) => {
            const { safeLocalPath } = await import("/static/js/ui.js");
            return values.map((value) => safeLocalPath(value, "/account"));
        }""",
        values,
    )
    assert dict(zip(values, verdicts, strict=True)) == {
        value: safe_next_path(value) for value in values
    }
    assert all(safe_next_path(value) == "/account" for value in HOSTILE)


def test_the_reported_redirect_stays_on_the_site(make_device: Any, server: Any):
    dev = make_device()
    sign_up(dev)
    page = dev.page
    dev.goto("/account/notifications?after_signin=1&next=/%09/evil.example")
    link = page.locator("#after-signin-continue")
    expect(link).to_have_attribute("href", "/account")
    link.click()
    expect(page).to_have_url(page_url(dev, "/account"))
