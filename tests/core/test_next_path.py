"""Issue 7 item 4: ``?next=`` never leads off the site. One rule (core.web.safe_next_path),
applied by every page that takes a ``next``; the pages render its verdict for their scripts."""

from __future__ import annotations

import html
import re

import pytest

from core.web import safe_next_path
from tests.conftest import Api
from tests.next_paths import HOSTILE, SAFE

# The element whose data-next the page's script follows, by page.
HOLDER = {
    "/signin": "signin-form",
    "/account/notifications": "after-signin",
    "/account/backup": "backup-state",
}


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_next_values_are_refused(value):
    assert safe_next_path(value) == "/account"
    assert safe_next_path(value, "/elsewhere") == "/elsewhere"


@pytest.mark.parametrize("value", SAFE)
def test_paths_on_this_site_are_kept(value):
    assert safe_next_path(value) == value


def test_no_next_is_the_fallback():
    assert safe_next_path(None) == "/account"


def rendered_next(api: Api, path: str, **query: str) -> str:
    response = api.client.get(path, query_string=query)
    assert response.status_code == 200, (path, response.status_code)
    tag = re.search(rf'<[^>]*\bid="{HOLDER[path]}"[^>]*>', response.get_data(as_text=True))
    assert tag, path
    found = re.search(r'data-next="([^"]*)"', tag.group(0))
    assert found, tag.group(0)
    return html.unescape(found.group(1))


PAGES = [
    ("/account/notifications", {"after_signin": "1"}),
    ("/account/backup", {"prompt": "1"}),
]


@pytest.mark.parametrize(("path", "query"), PAGES)
def test_pages_render_only_the_servers_verdict(signed_in: Api, path, query):
    for value in HOSTILE:
        assert rendered_next(signed_in, path, **query, next=value) == "/account", repr(value)
    for value in SAFE:
        assert rendered_next(signed_in, path, **query, next=value) == value, repr(value)
    assert rendered_next(signed_in, path, **query) == "/account"


def test_the_reported_notifications_link_stays_on_the_site(signed_in: Api):
    page = signed_in.client.get("/account/notifications?after_signin=1&next=/%09/evil.example")
    text = page.get_data(as_text=True)
    assert "evil.example" not in text
    assert 'data-next="/account"' in text


def test_sign_in_page_renders_and_redirects_by_the_same_rule(api: Api, authenticator):
    for value in HOSTILE:
        assert rendered_next(api, "/signin", next=value) == "/account", repr(value)
    for value in SAFE:
        assert rendered_next(api, "/signin", next=value) == value, repr(value)
    assert api.sign_up(authenticator).status_code == 201
    for value in HOSTILE:
        response = api.client.get("/signin", query_string={"next": value})
        assert response.status_code == 302
        assert response.headers["Location"] == "/account", repr(value)
