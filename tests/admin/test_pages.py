"""Who may open the admin pages (/admin/…): the signed out are sent to sign in and come back,
an ID without a role gets the 403 page, a helpdesk gets it on every admin-only page (and on an
administrator's user page), an admin gets every page. Every page is a shell whose module reads
/api/admin: no inline script (the CSP allows none), and no data of an ID in the HTML."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from admin.page_views import SECTIONS
from core.web import PAGE_CSP
from tests.admin.test_admin_api import _user_id, grant, person
from tests.conftest import Api

ADMIN_ONLY = [
    "/admin/",
    "/admin/invitations",
    "/admin/policies",
    "/admin/authenticators",
    "/admin/websites",
    "/admin/audit",
    "/admin/branding",
]
EVERY_PAGE = [*ADMIN_ONLY, "/admin/users"]
ALL_SECTIONS = [
    "Dashboard",
    "Users",
    "Invitations",
    "Policies",
    "Authenticators",
    "Websites",
    "Audit",
    "Branding",
]


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


@pytest.fixture
def helpdesk(app: Flask) -> Api:
    api = person(app, "desk")
    grant(app, "desk", "helpdesk")
    return api


def nav_labels(html: str) -> list[str]:
    nav = re.search(r'<nav class="admin-nav".*?</nav>', html, re.S)
    assert nav, html
    return re.findall(r'class="admin-nav__link"[^>]*>([^<]+)</a>', nav.group(0))


def is_error_page(html: str, status: int) -> bool:
    return f'<p class="error-card__code" aria-hidden="true">{status}</p>' in html


@pytest.mark.parametrize("path", [*EVERY_PAGE, "/admin/users/1"])
def test_the_signed_out_are_sent_to_sign_in_and_back(api: Api, path: str) -> None:
    answer = api.client.get(path + "?q=x%20y")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/signin"
    # Back to the same page, its query kept, once signed in.
    assert parse_qs(location.query) == {"next": [path + "?q=x%20y"]}


@pytest.mark.parametrize("path", EVERY_PAGE)
def test_an_id_without_a_role_gets_the_403_page(signed_in: Api, path: str) -> None:
    answer = signed_in.client.get(path)
    assert answer.status_code == 403
    assert answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert is_error_page(html, 403) and 'data-error="forbidden"' in html
    assert "admin-nav" not in html


def test_an_id_without_a_role_cannot_open_a_users_page(app: Flask, signed_in: Api) -> None:
    person(app, "bob")
    answer = signed_in.client.get(f"/admin/users/{_user_id(app, 'bob')}")
    assert answer.status_code == 403 and is_error_page(answer.get_data(as_text=True), 403)


@pytest.mark.parametrize("path", [p for p in ADMIN_ONLY if p != "/admin/"])
def test_a_helpdesk_gets_the_403_page_on_admin_only_pages(helpdesk: Api, path: str) -> None:
    answer = helpdesk.client.get(path)
    assert answer.status_code == 403
    assert is_error_page(answer.get_data(as_text=True), 403)


def test_a_helpdesk_sees_only_users(app: Flask, helpdesk: Api) -> None:
    # /admin/ is the dashboard, which a helpdesk may not see: it is sent to the users.
    answer = helpdesk.client.get("/admin/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/users"
    users = helpdesk.client.get("/admin/users")
    assert users.status_code == 200
    assert nav_labels(users.get_data(as_text=True)) == ["Users"]
    person(app, "bob")
    page = helpdesk.client.get(f"/admin/users/{_user_id(app, 'bob')}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Roles and the whole audit log are not a helpdesk's: their parts are not on the page.
    assert 'id="roles-form"' not in html and 'id="trail-rows"' not in html
    assert 'data-may-manage-roles="false"' in html
    # Deleting an ID is not a helpdesk's either.
    assert 'id="delete-open"' not in html and 'id="delete-dialog"' not in html


def test_a_helpdesk_cannot_open_an_administrators_page(
    app: Flask, admin: Api, helpdesk: Api
) -> None:
    answer = helpdesk.client.get(f"/admin/users/{_user_id(app, 'root')}")
    assert answer.status_code == 403 and is_error_page(answer.get_data(as_text=True), 403)


@pytest.mark.parametrize("path", EVERY_PAGE)
def test_an_admin_opens_every_page(admin: Api, path: str) -> None:
    answer = admin.client.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    html = answer.get_data(as_text=True)
    assert nav_labels(html) == ALL_SECTIONS
    nav = re.search(r'<nav class="admin-nav".*?</nav>', html, re.S)
    assert nav and nav.group(0).count('aria-current="page"') == 1
    assert answer.headers["Content-Security-Policy"] == PAGE_CSP
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_navigation_is_the_declared_sections() -> None:
    assert [s.label for s in SECTIONS] == ALL_SECTIONS


def test_an_admin_opens_a_users_page_with_everything(app: Flask, admin: Api) -> None:
    person(app, "bob")
    bob = _user_id(app, "bob")
    answer = admin.client.get(f"/admin/users/{bob}")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'data-user-id="{bob}"' in html
    assert 'id="roles-form"' in html and 'id="trail-rows"' in html
    assert 'id="delete-open"' in html and 'id="delete-dialog"' in html
    # A shell: the ID's data comes from the API, never in the HTML.
    assert "bob@example.com" not in html


def test_an_unknown_user_is_the_404_page(admin: Api) -> None:
    answer = admin.client.get("/admin/users/999999")
    assert answer.status_code == 404 and answer.mimetype == "text/html"


@pytest.mark.parametrize("path", [*EVERY_PAGE, "/admin/users/1"])
def test_pages_have_no_inline_script(app: Flask, admin: Api, path: str) -> None:
    path = path.replace("/users/1", f"/users/{_user_id(app, 'root')}")
    html = admin.client.get(path).get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, html
    for attributes, body in scripts:
        assert body.strip() == "", body
        assert re.search(r'src="/static/js/', attributes), attributes
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"
    module = re.search(r'src="(/static/js/admin/[a-z]+\.js)"', html)
    assert module, html
    assert admin.client.get(module.group(1)).status_code == 200


def test_the_header_links_staff_to_their_first_admin_page(
    app: Flask, signed_in: Api, helpdesk: Api, admin: Api
) -> None:
    def link(api: Api) -> list[str]:
        html = api.client.get("/account").get_data(as_text=True)
        return re.findall(r'id="nav-admin" href="([^"]+)"', html)

    assert link(admin) == ["/admin/"]
    assert link(helpdesk) == ["/admin/users"]
    assert link(signed_in) == []


def test_the_branding_page_says_the_logo_rule_core_logo_declares(admin: Api) -> None:
    from core import logo

    html = admin.client.get("/admin/branding").get_data(as_text=True)
    assert f"at most {logo.MAX_BYTES // 1024} KiB" in html
    assert f'accept="{",".join(logo.FORMATS)}"' in html


def test_the_invitations_page_says_the_registration_policy_in_force(admin: Api) -> None:
    def shown() -> str:
        html = admin.client.get("/admin/invitations").get_data(as_text=True)
        found = re.search(r'data-registration="([a-z]+)"', html)
        assert found, html
        return found.group(1)

    assert shown() == "open"
    assert admin.patch("/api/admin/policy", {"REGISTRATION": "invite"}).status_code == 200
    assert shown() == "invite"
