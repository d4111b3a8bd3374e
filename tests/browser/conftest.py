"""Real-browser fixtures: Debian's Chromium driven by Playwright, a live Keystead server on
127.0.0.1 browsed as http://localhost:PORT (a secure context, RP ID ``localhost``), and CDP
virtual authenticators standing in for passkeys and security keys.

Without Chromium these tests skip, unless ``KEYSTEAD_REQUIRE_BROWSER=1`` (CI) makes that a
failure: CI must prove the pages work in a real browser.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import base_config, empty_tables

CHROMIUM = "/usr/lib/chromium/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Seconds an ``expect(...)`` waits. A ceremony plus a page load takes well under one; Playwright's
# default of 5 runs out on a loaded CI machine, and a passing test never waits for the limit.
EXPECT_TIMEOUT = 15


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: Any


@pytest.fixture(scope="session")
def live_server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = _free_port()
    origin = f"http://localhost:{port}"
    app = create_app(
        {
            **base_config(migrated, tmp_path_factory.mktemp("live")),
            "ORIGIN": origin,
            "RP_NAME": "Keystead",
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(origin, app)
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    empty_tables(live_server.app)
    return live_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("KEYSTEAD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT * 1000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
                "EXCLUDE *.localhost, EXCLUDE 127.0.0.1"
            ],
        )
        yield browser
        browser.close()


def add_virtual_authenticator(cdp: Any, *, transport: str = "internal", uv: bool = True) -> str:
    """A CTAP 2.1 virtual authenticator with a resident key and user verification, on the page
    ``cdp`` is a session of (WebAuthn enabled there); returns its id."""
    result = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": transport,
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": uv,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return str(result["authenticatorId"])


class Device:
    """One browser profile with its own virtual authenticator: a phone, a laptop, a key."""

    def __init__(self, browser: Any, server: LiveServer, *, transport: str = "internal") -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.server = server
        self.console_errors: list[str] = []
        self.page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator_id = self.add_authenticator(transport=transport)

    def add_authenticator(self, *, transport: str = "internal", uv: bool = True) -> str:
        return add_virtual_authenticator(self.cdp, transport=transport, uv=uv)

    def set_presence(self, authenticator_id: str, enabled: bool) -> None:
        """With presence off an authenticator never answers (nobody touches it), so when several
        are attached the test decides which one takes part in a ceremony."""
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": authenticator_id, "enabled": enabled},
        )

    def remove_authenticator(self, authenticator_id: str | None = None) -> None:
        self.cdp.send(
            "WebAuthn.removeVirtualAuthenticator",
            {"authenticatorId": authenticator_id or self.authenticator_id},
        )

    def credentials(self, authenticator_id: str | None = None) -> list[dict[str, Any]]:
        result = self.cdp.send(
            "WebAuthn.getCredentials",
            {"authenticatorId": authenticator_id or self.authenticator_id},
        )
        return list(result["credentials"])

    def goto(self, path: str) -> Any:
        return self.page.goto(self.server.url + path)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        # From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    def close(self) -> None:
        self.context.close()

    def csp_violations(self) -> list[str]:
        return [e for e in self.console_errors if "Content Security Policy" in e]


@pytest.fixture
def device(browser: Any, server: LiveServer) -> Iterator[Device]:
    dev = Device(browser, server)
    yield dev
    dev.close()
    assert not dev.csp_violations(), dev.console_errors


@pytest.fixture
def make_device(browser: Any, server: LiveServer) -> Iterator[Any]:
    made: list[Device] = []

    def make(**kwargs: Any) -> Device:
        dev = Device(browser, server, **kwargs)
        made.append(dev)
        return dev

    yield make
    for dev in made:
        dev.close()
    for dev in made:
        assert not dev.csp_violations(), dev.console_errors
