"""A real client that Keystead did not write: Authlib's OAuth client, through the example
partner website in ``examples/website/``, against a running Keystead.

Both servers run live (Werkzeug in a thread): Keystead on ``http://localhost:P`` (its issuer),
the example on ``http://127.0.0.1:P2``. The browser is a ``requests.Session`` that follows each
redirect by hand, so every hop is asserted; passkeys come from ``tools/softauthn.py`` over
Keystead's JSON API. Nothing here skips: if Keystead's side is missing, these fail.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from core import db as database
from core.context import RequestContext
from embed import clients
from tests.conftest import base_config, empty_tables, take_sign_up_code
from tools.softauthn import SoftAuthenticator

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "website" / "app.py"
TIMEOUT = 10


def _load_example() -> ModuleType:
    """examples/website/app.py by its path: the example is a standalone site, not a package
    (and its module name, ``app``, is Keystead's own)."""
    name = "keystead_example_website"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    app: Flask


class _Serving:
    def __init__(self, app: Flask, port: int) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def keystead_live(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    port = _free_port()
    origin = f"http://localhost:{port}"
    app = create_app({**base_config(migrated, tmp_path_factory.mktemp("live")), "ORIGIN": origin})
    serving = _Serving(app, port)
    yield Live(origin, app)
    serving.stop()
    app.extensions[database.ENGINE_KEY].dispose()


@pytest.fixture
def keystead(keystead_live: Live) -> Live:
    empty_tables(keystead_live.app)
    return keystead_live


@pytest.fixture
def site(keystead: Live, request: pytest.FixtureRequest) -> Iterator[Live]:
    """The example website, registered at Keystead as a trusted confidential client (or a
    public one: parametrize indirectly with ``{"public": True}``)."""
    public = bool(getattr(request, "param", {}).get("public"))
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    with keystead.app.app_context():
        db = database.session()
        created = clients.create_client(
            db,
            RequestContext.outside_request("test"),
            name="Example",
            redirect_uris=[origin + "/callback"],
            origins=[origin],
            post_logout_redirect_uris=[origin + "/"],
            public=public,
            trusted=True,
        )
        db.commit()
        client_id, secret = created.client.client_id, created.secret
    assert (secret is None) is public, "a confidential client gets a secret, a public one none"
    app = example.create_app(
        {
            "KEYSTEAD_ISSUER": keystead.url,
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": secret or "",
            "SECRET_KEY": "example-site-test-key",
            "EXAMPLE_ORIGIN": origin,
        }
    )
    serving = _Serving(app, port)
    yield Live(origin, app)
    serving.stop()


class Browser:
    """A cookie jar that follows nothing by itself: each redirect is a step the test takes."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy from the environment: both servers are local

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=TIMEOUT)

    def post(self, url: str, origin: str, **kwargs: Any) -> requests.Response:
        """A POST as a page on ``origin`` makes it: browsers send Origin, Keystead's CSRF check
        and the example's want it."""
        headers = {"Origin": origin, **kwargs.pop("headers", {})}
        return self.http.post(
            url, allow_redirects=False, timeout=TIMEOUT, headers=headers, **kwargs
        )

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def make_browser() -> Iterator[Any]:
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser())
        return made[-1]

    yield make
    for browser in made:
        browser.close()


@pytest.fixture
def authenticator(keystead: Live) -> SoftAuthenticator:
    return SoftAuthenticator(origin=keystead.url)


# ---- steps ---------------------------------------------------------------------------------


def sign_up(browser: Browser, keystead: Live, key: SoftAuthenticator) -> int:
    """alice signs up at Keystead (and so is signed in there) and confirms her address."""
    api = keystead.url + "/api"
    begin = browser.post(
        api + "/register/begin",
        keystead.url,
        json={"username": "alice", "email": "alice@example.com", "display_name": "Alice Liddell"},
    )
    assert begin.status_code == 200, begin.text
    body = key.create(begin.json())
    done = browser.post(
        api + "/register/complete", keystead.url, json={**body, "device_name": "Alice's laptop"}
    )
    assert done.status_code == 201, done.text
    user_id = done.json()["user"]["id"]
    code = take_sign_up_code(keystead.app, user_id)
    confirmed = browser.post(api + "/me/email/confirm", keystead.url, json={"otp": code})
    assert confirmed.status_code == 200, confirmed.text
    return int(user_id)


def sign_in(browser: Browser, keystead: Live, key: SoftAuthenticator) -> None:
    api = keystead.url + "/api"
    begin = browser.post(api + "/authenticate/begin", keystead.url, json={"username": "alice"})
    assert begin.status_code == 200, begin.text
    done = browser.post(api + "/authenticate/complete", keystead.url, json=key.get(begin.json()))
    assert done.status_code == 200, done.text


def discovery(keystead: Live) -> dict[str, Any]:
    response = requests.get(keystead.url + "/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["issuer"] == keystead.url
    return dict(metadata)


def redirected(response: requests.Response, to: str) -> tuple[str, dict[str, str]]:
    """The redirect's absolute URL (asserted to start with ``to``) and its query."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    location = urljoin(response.url, response.headers["Location"])
    assert location.startswith(to), location
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def claims_shown(page: requests.Response) -> dict[str, str]:
    assert page.status_code == 200, page.text[:500]
    rows = re.findall(r'<tr><th scope="row">(\w+)</th><td>(.*?)</td></tr>', page.text)
    return {name: html.unescape(value) for name, value in rows}


def assert_alice(claims: dict[str, str]) -> None:
    assert claims["preferred_username"] == "alice"
    assert claims["name"] == "Alice Liddell"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] == "true"
    # A device-bound key (the soft authenticator is not backup-eligible) with user verification.
    assert set(claims["amr"].split()) == {"hwk", "user"}
    assert claims["acr"] == "phrh"
    assert claims["sub"]
    assert claims["auth_time"]


def authorize(browser: Browser, site: Live, metadata: dict[str, Any]) -> tuple[str, dict]:
    """The example's /login: a code-flow request with PKCE S256 and a nonce, by discovery."""
    location, query = redirected(
        browser.get(site.url + "/login"), metadata["authorization_endpoint"] + "?"
    )
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == site.url + "/callback"
    assert query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert query["nonce"] and query["state"]
    return location, query


def complete_callback(browser: Browser, keystead: Live, site: Live, response: Any) -> None:
    """Keystead sent the browser to the example's /callback; the example redeems the code."""
    location, query = redirected(response, site.url + "/callback?")
    assert query["code"]
    assert query["iss"] == keystead.url
    redirected(browser.get(location), site.url + "/")


# ---- the code flow -------------------------------------------------------------------------


def test_signed_in_at_keystead_the_example_gets_her_claims(
    keystead: Live, site: Live, authenticator: SoftAuthenticator, make_browser: Any
) -> None:
    browser = make_browser()
    sign_up(browser, keystead, authenticator)
    metadata = discovery(keystead)

    location, request_query = authorize(browser, site, metadata)
    # Signed in already, and the client is trusted: straight back with a code.
    answer = browser.get(location)
    _, back = redirected(answer, site.url + "/callback?")
    assert back["state"] == request_query["state"]
    complete_callback(browser, keystead, site, answer)

    claims = claims_shown(browser.get(site.url + "/"))
    assert_alice(claims)
    assert "Sign out" in browser.get(site.url + "/").text


@pytest.mark.parametrize("site", [{"public": True}], indirect=True)
def test_a_public_client_signs_in_with_pkce_alone(
    keystead: Live, site: Live, authenticator: SoftAuthenticator, make_browser: Any
) -> None:
    browser = make_browser()
    sign_up(browser, keystead, authenticator)
    location, _ = authorize(browser, site, discovery(keystead))
    complete_callback(browser, keystead, site, browser.get(location))
    assert_alice(claims_shown(browser.get(site.url + "/")))


def test_signed_out_at_keystead_signs_in_then_continues(
    keystead: Live, site: Live, authenticator: SoftAuthenticator, make_browser: Any
) -> None:
    sign_up(make_browser(), keystead, authenticator)
    metadata = discovery(keystead)
    browser = make_browser()  # another browser, not signed in at Keystead

    location, _ = authorize(browser, site, metadata)
    _, signin = redirected(browser.get(location), keystead.url + "/signin?")
    next_path = signin["next"]
    assert next_path.startswith("/oauth/continue/"), next_path

    sign_in(browser, keystead, authenticator)
    complete_callback(browser, keystead, site, browser.get(keystead.url + next_path))
    assert_alice(claims_shown(browser.get(site.url + "/")))


def test_sign_out_ends_both_sessions_and_comes_back(
    keystead: Live, site: Live, authenticator: SoftAuthenticator, make_browser: Any
) -> None:
    browser = make_browser()
    sign_up(browser, keystead, authenticator)
    metadata = discovery(keystead)
    location, _ = authorize(browser, site, metadata)
    complete_callback(browser, keystead, site, browser.get(location))
    assert claims_shown(browser.get(site.url + "/"))

    end_session, query = redirected(
        browser.post(site.url + "/logout", site.url), metadata["end_session_endpoint"] + "?"
    )
    assert query["post_logout_redirect_uri"] == site.url + "/"
    assert query["client_id"] == site.app.config["CLIENT_ID"]
    assert query["id_token_hint"] and query["state"]
    assert not claims_shown(browser.get(site.url + "/")), "the example's own session ended"

    home, back = redirected(browser.get(end_session), site.url + "/")
    assert back["state"] == query["state"]
    page = browser.get(home)
    assert page.status_code == 200
    assert 'id="signed-out"' in page.text, "the example checked the state it sent"
    assert "Sign in with Keystead" in page.text
    assert browser.get(keystead.url + "/api/me").status_code == 401, "Keystead's session ended"


# ---- the embedded button -------------------------------------------------------------------


def element_attributes(page: str) -> dict[str, str]:
    found = re.search(r"<keystead-signin\s(.*?)></keystead-signin>", page, re.S)
    assert found, page
    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', found.group(1))}


def popup_message(page: requests.Response, site: Live) -> dict[str, Any]:
    """What the popup's last page (``response_mode=web_message``) posts to the opener, and
    that it posts it to the website's origin only."""
    assert page.status_code == 200, page.text[:500]
    target = re.search(r'data-target-origin="([^"]*)"', page.text)
    assert target and html.unescape(target.group(1)) == site.url
    found = re.search(r'<script type="application/json" id="message">(.*?)</script>', page.text)
    assert found, page.text[:1000]
    return dict(json.loads(found.group(1)))


def test_embedded_page_redeems_the_elements_code(
    keystead: Live, site: Live, authenticator: SoftAuthenticator, make_browser: Any
) -> None:
    """What the page's script does with the element's ``{code, state, iss}``. The test plays
    embed.js and its popup (they need a real browser): it opens the authorization endpoint
    with the element's attributes and ``response_mode=web_message``, as embed.js does, and
    reads the message the popup's last page posts."""
    browser = make_browser()
    sign_up(browser, keystead, authenticator)
    metadata = discovery(keystead)

    page = browser.get(site.url + "/embedded")
    assert page.status_code == 200
    assert f'<script type="module" src="{keystead.url}/embed.js"></script>' in page.text
    embed_js = browser.get(keystead.url + "/embed.js")
    assert embed_js.status_code == 200
    assert "javascript" in embed_js.headers["Content-Type"]
    element = element_attributes(page.text)
    assert "mode" not in element, "popup is the default"
    assert element["client-id"] == site.app.config["CLIENT_ID"]
    assert element["redirect-uri"] == site.url + "/callback"
    assert element["scope"] == "openid profile email"

    query = {
        "client_id": element["client-id"],
        "redirect_uri": element["redirect-uri"],
        "scope": element["scope"],
        "state": element["state"],
        "nonce": element["nonce"],
        "code_challenge": element["code-challenge"],
        "code_challenge_method": "S256",
        "response_type": "code",
        "response_mode": "web_message",
    }
    popup = browser.get(metadata["authorization_endpoint"] + "?" + urlencode(query))
    message = popup_message(popup, site)
    assert message["type"] == "keystead-signin"
    assert message["state"] == element["state"]
    assert message["iss"] == keystead.url

    detail = {"code": message["code"], "state": message["state"], "iss": message["iss"]}
    done = browser.post(site.url + "/embedded/complete", site.url, json=detail)
    assert done.status_code == 200, done.text
    assert done.json() == {"ok": True}
    assert_alice(claims_shown(browser.get(site.url + "/")))

    again = browser.post(site.url + "/embedded/complete", site.url, json=detail)
    assert again.status_code == 400, "a page load's state serves one attempt"


def test_embedded_complete_refuses_another_state(
    keystead: Live, site: Live, make_browser: Any
) -> None:
    browser = make_browser()
    inline = browser.get(site.url + "/embedded?mode=inline")
    assert element_attributes(inline.text)["mode"] == "inline"
    done = browser.post(
        site.url + "/embedded/complete", site.url, json={"code": "anything", "state": "forged"}
    )
    assert done.status_code == 400
    assert done.json()["error"] == "bad_state"


# ---- the example's own edges (no Keystead needed) ------------------------------------------


EXAMPLE_CONFIG = {
    "KEYSTEAD_ISSUER": "http://localhost:5000",
    "CLIENT_ID": "example",
    "CLIENT_SECRET": "secret",
    "SECRET_KEY": "test",
    "EXAMPLE_ORIGIN": "http://127.0.0.1:8000",
}


def test_a_refused_sign_in_is_a_page_not_a_500() -> None:
    client = example.create_app(EXAMPLE_CONFIG).test_client()
    page = client.get("/callback?error=access_denied&state=whatever")
    assert page.status_code == 400
    assert '<code id="error">access_denied</code>' in page.text


def test_a_code_from_another_issuer_is_refused() -> None:
    client = example.create_app(EXAMPLE_CONFIG).test_client()
    page = client.get("/callback?code=c&state=s&iss=https%3A%2F%2Fmix-up.example")
    assert page.status_code == 400
    assert '<code id="error">wrong_issuer</code>' in page.text


def test_an_embedded_code_from_another_issuer_is_refused() -> None:
    client = example.create_app(EXAMPLE_CONFIG).test_client()
    state = element_attributes(client.get("/embedded").text)["state"]
    done = client.post(
        "/embedded/complete",
        json={"code": "c", "state": state, "iss": "https://mix-up.example"},
        headers={"Origin": EXAMPLE_CONFIG["EXAMPLE_ORIGIN"]},
    )
    assert done.status_code == 400
    assert done.get_json()["error"] == "wrong_issuer"


@pytest.mark.parametrize(
    "issuer", ["http://keystead.example", "http://192.168.1.2:5000", "ftp://localhost"]
)
def test_plain_http_only_on_this_machine(issuer: str) -> None:
    with pytest.raises(RuntimeError, match="KEYSTEAD_ISSUER"):
        example.create_app({**EXAMPLE_CONFIG, "KEYSTEAD_ISSUER": issuer})
