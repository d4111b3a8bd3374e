"""The embeddable sign-in in real Chromium: a website on ``http://127.0.0.1:P2`` loads
``<keystead-signin>`` from Keystead on ``http://localhost:P`` and gets a code from the inline
frame (a passkey sign-in in a cross-origin frame, with the browser's own ``topOrigin``) or
from the popup (``response_mode=web_message``); a page on an origin the website did not
register cannot frame the sign-in and hears nothing.

The website is a few lines of HTML served by Werkzeug in a thread; its page writes what the
component tells it into the DOM, where the test reads it."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from html import escape
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from core.context import RequestContext
from core.db import ENGINE_KEY
from core.models import LoginSession
from embed import clients
from embed.models import Client
from tests.browser.conftest import Device, LiveServer, _free_port, add_virtual_authenticator
from tests.browser.test_pages import sign_up
from tests.conftest import empty_tables

VERIFIER = "a-website-keeps-this-pkce-verifier-on-its-server-0123456789"
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
STATE = "the-websites-own-state"
NONCE = "n-0S6_WzA2Mj"
SCRIPT_NONCE = "page-script-nonce"


# ---- the two servers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keystead(live_server: LiveServer) -> LiveServer:
    """Keystead on http://localhost:P: the browser tests' shared live server (one app per
    database, so no second server's requests can hold a lock while a test empties the tables)."""
    return live_server


def website_page(keystead: str, client_id: str, redirect_uri: str, mode: str) -> str:
    """The website's page: the component, and a listener that writes what it hears into the
    DOM (events from the component, and every message from Keystead's origin)."""
    attributes = {
        "client-id": client_id,
        "redirect-uri": redirect_uri,
        "scope": "openid profile",
        "state": STATE,
        "nonce": NONCE,
        "code-challenge": CHALLENGE,
        "mode": mode,
    }
    rendered = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script type="module" src="{keystead}/embed.js"></script>
</head><body>
<h1>Shop</h1>
<keystead-signin {rendered}></keystead-signin>
<pre id="result"></pre><pre id="error"></pre><pre id="messages"></pre>
<script nonce="{SCRIPT_NONCE}">
  const write = (id, value) => {{
    document.getElementById(id).textContent = JSON.stringify(value);
  }};
  document.addEventListener("keystead-signin", (event) => write("result", event.detail));
  document.addEventListener("keystead-error", (event) => write("error", event.detail));
  const heard = [];
  window.addEventListener("message", (event) => {{
    if (event.origin === "{keystead}") {{ heard.push(event.data); write("messages", heard); }}
  }});
</script>
</body></html>"""


class Website:
    """A website's server on its own port: ``/?mode=inline|popup`` is its page."""

    def __init__(self, keystead: str) -> None:
        self.keystead = keystead
        self.client_id = ""
        self.port = _free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = f"{self.origin}/callback"
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        mode = request.args.get("mode", "inline")
        page = website_page(self.keystead, self.client_id, self.redirect_uri, mode)
        response = Response(page, mimetype="text/html")
        # A website with a CSP, as a careful one has: the browser then hides every element's
        # nonce attribute from getAttribute, <keystead-signin nonce> included.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{SCRIPT_NONCE}' {self.keystead}; "
            f"frame-src {self.keystead}"
        )
        return response(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def websites(keystead: LiveServer) -> Iterator[tuple[Website, Website]]:
    """The registered website, and another origin serving the same page (not registered)."""
    registered, stranger = Website(keystead.url), Website(keystead.url)
    yield registered, stranger
    registered.close()
    stranger.close()


@pytest.fixture
def shop(keystead: LiveServer, websites: tuple[Website, Website]) -> Website:
    """Empty tables, and the website registered (trusted: no consent) with its origin."""
    empty_tables(keystead.app)
    website = websites[0]
    website.client_id = register(keystead, website, trusted=True)
    return website


def register(keystead: LiveServer, website: Website, *, trusted: bool) -> str:
    with Session(keystead.app.extensions[ENGINE_KEY]) as db:
        created = clients.create_client(
            db,
            RequestContext.outside_request("test"),
            name="Shop",
            redirect_uris=[website.redirect_uri],
            origins=[website.origin],
            public=True,
            trusted=trusted,
        )
        db.commit()
        return created.client.client_id


@pytest.fixture
def person(browser: Any, keystead: LiveServer, shop: Website) -> Iterator[Device]:
    """A browser with a passkey for Keystead, made on Keystead's own sign-up page."""
    dev = Device(browser, keystead, transport="usb")
    sign_up(dev)
    yield dev
    dev.close()
    assert not dev.csp_violations(), dev.console_errors


def redeem(keystead: LiveServer, website: Website, code: str) -> Any:
    """The website's server redeems the code (public client: PKCE, no secret)."""
    return keystead.app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": website.redirect_uri,
            "code_verifier": VERIFIER,
            "client_id": website.client_id,
        },
    )


def heard(page: Any, element: str) -> dict[str, Any]:
    expect(page.locator(f"#{element}")).not_to_be_empty()
    return dict(json.loads(page.locator(f"#{element}").text_content()))


def sessions(keystead: LiveServer) -> int:
    with Session(keystead.app.extensions[ENGINE_KEY]) as db:
        return int(db.scalar(sa.select(sa.func.count()).select_from(LoginSession)) or 0)


# ---- inline ----------------------------------------------------------------------------------


def test_inline_the_frame_signs_in_and_the_page_gets_the_code(
    keystead: LiveServer, shop: Website, person: Device
) -> None:
    page = person.page
    page.goto(f"{shop.origin}/?mode=inline")
    frame = page.frame_locator("keystead-signin iframe")
    button = frame.locator("#passkey-signin")
    expect(button).to_be_enabled()
    expect(page.locator("keystead-signin iframe")).to_have_attribute(
        "title", "Sign in with Keystead"
    )
    person.screenshot("embed-inline")
    before = sessions(keystead)
    button.click()
    detail = heard(page, "result")
    assert detail["state"] == STATE
    assert detail["iss"] == keystead.url
    expect(frame.locator("#frame")).to_have_attribute("data-step", "done")
    tokens = redeem(keystead, shop, detail["code"])
    assert tokens.status_code == 200, tokens.get_json()
    id_token = tokens.get_json()["id_token"]
    claims = json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))
    assert claims["nonce"] == NONCE  # carried through, though the page's CSP hides the attribute
    assert sessions(keystead) == before + 1
    # Besides the frame's size, exactly one message reached the page: the code.
    messages = json.loads(page.locator("#messages").text_content())
    assert [m["type"] for m in messages if m["type"] != "keystead-resize"] == ["keystead-signin"]


def test_inline_a_website_that_asks_consent_gets_it_in_the_frame(
    keystead: LiveServer, shop: Website, person: Device
) -> None:
    with Session(keystead.app.extensions[ENGINE_KEY]) as db:
        db.execute(sa.update(Client).values(trusted=False))
        db.commit()
    page = person.page
    page.goto(f"{shop.origin}/?mode=inline")
    frame = page.frame_locator("keystead-signin iframe")
    frame.locator("#passkey-signin").click()
    expect(frame.locator("#frame")).to_have_attribute("data-step", "consent")
    expect(frame.locator("#consent-origin")).to_have_text(shop.origin)
    expect(frame.locator("#consent-scopes li")).to_have_count(2)
    allow = frame.locator("#consent-allow")
    expect(allow).to_be_enabled()  # once seen whole for a moment
    allow.click()
    detail = heard(page, "result")
    assert detail["state"] == STATE
    assert redeem(keystead, shop, detail["code"]).status_code == 200


def test_a_page_that_hides_the_frame_cannot_get_the_consent_clicked(
    keystead: LiveServer, shop: Website, person: Device
) -> None:
    """Clickjacking: a page that fades (or covers) the frame gets no working Allow button;
    shown plainly again, the frame asks as usual."""
    with Session(keystead.app.extensions[ENGINE_KEY]) as db:
        db.execute(sa.update(Client).values(trusted=False))
        db.commit()
    page = person.page
    page.goto(f"{shop.origin}/?mode=inline")
    frame = page.frame_locator("keystead-signin iframe")
    page.locator("keystead-signin").evaluate("(element) => { element.style.opacity = '0.1'; }")
    frame.locator("#passkey-signin").click()
    expect(frame.locator("#frame")).to_have_attribute("data-step", "consent")
    page.wait_for_timeout(1500)  # three times what a plainly shown button waits
    expect(frame.locator("#consent-allow")).to_be_disabled()
    expect(frame.locator("#consent-deny")).to_be_disabled()
    page.locator("keystead-signin").evaluate("(element) => { element.style.opacity = ''; }")
    expect(frame.locator("#consent-allow")).to_be_enabled()


def test_inline_when_the_server_refuses_the_page_the_component_offers_the_popup(
    keystead: LiveServer, shop: Website, person: Device
) -> None:
    """The website dropped this origin after the frame loaded: the server refuses the page
    (embed_origin_refused), the frame asks for the popup, the button comes back."""
    page = person.page
    page.goto(f"{shop.origin}/?mode=inline")
    frame = page.frame_locator("keystead-signin iframe")
    expect(frame.locator("#passkey-signin")).to_be_enabled()
    with Session(keystead.app.extensions[ENGINE_KEY]) as db:
        db.execute(sa.update(Client).values(origins=["https://elsewhere.example"]))
        db.commit()
    frame.locator("#passkey-signin").click()
    expect(page.locator("keystead-signin button")).to_have_text("Sign in with Keystead")
    expect(page.locator("keystead-signin iframe")).to_have_count(0)
    assert page.locator("#result").text_content() == ""


def test_a_page_on_an_unregistered_origin_cannot_frame_the_sign_in(
    keystead: LiveServer, shop: Website, person: Device, websites: tuple[Website, Website]
) -> None:
    # The same page, word for word, on another origin.
    stranger = websites[1]
    stranger.client_id, stranger.redirect_uri = shop.client_id, shop.redirect_uri
    page = person.page
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refusal:
        page.goto(f"{stranger.origin}/?mode=inline")
    assert shop.origin in refusal.value.text  # the one origin that may frame it
    expect(page.locator("keystead-signin iframe")).to_have_count(1)
    # Chromium refused to render Keystead's page in the frame: nothing of it is there.
    for framed in page.frames[1:]:
        assert framed.locator("#passkey-signin").count() == 0, framed.url
    assert page.locator("#messages").text_content() == ""
    assert page.locator("#result").text_content() == ""
    person.console_errors.clear()  # the refusal is the point of this test


# ---- popup -----------------------------------------------------------------------------------


def test_popup_signs_in_and_posts_the_code_back_to_the_opener(
    keystead: LiveServer, shop: Website, person: Device
) -> None:
    page = person.page
    page.goto(f"{shop.origin}/?mode=popup")
    button = page.locator("keystead-signin button")
    expect(button).to_have_text("Sign in with Keystead")
    person.screenshot("embed-popup-button")
    with page.expect_popup() as opened:
        button.click()
    popup = opened.value
    detail = heard(page, "result")
    assert detail["state"] == STATE and detail["iss"] == keystead.url
    assert redeem(keystead, shop, detail["code"]).status_code == 200
    if not popup.is_closed():  # it closes itself once it has posted
        popup.wait_for_event("close")
    expect(button).to_be_enabled()


def test_popup_a_newcomer_creates_an_id_and_the_website_gets_the_code(
    keystead: LiveServer, shop: Website, browser: Any
) -> None:
    """Nobody signed in: the popup shows Keystead's sign-in page, whose "Create an ID" keeps
    the website's request; the new ID comes straight back to it, and the page gets a code."""
    newcomer = Device(browser, keystead, transport="internal")
    try:
        page = newcomer.page
        page.goto(f"{shop.origin}/?mode=popup")
        with page.expect_popup() as opened:
            page.locator("keystead-signin button").click()
        popup = opened.value
        # The popup is a page of its own: it gets its own virtual authenticator.
        cdp = newcomer.context.new_cdp_session(popup)
        cdp.send("WebAuthn.enable")
        add_virtual_authenticator(cdp, transport="internal")
        expect(popup.locator("#signin-form")).to_be_visible()
        popup.click("#create-id-link")
        popup.fill("#username", "newcomer")
        popup.fill("#email", "newcomer@example.org")
        popup.click("#create-id")
        detail = heard(page, "result")
        assert detail["state"] == STATE
        assert redeem(keystead, shop, detail["code"]).status_code == 200
    finally:
        newcomer.close()
