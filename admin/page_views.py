"""The admin pages (``/admin/…``): each renders a shell (the navigation its roles may use, and
what its module needs to know) and its ES module (static/js/admin/) fetches the data from the
page's JSON twin under ``/api/admin/``, so the API is the one source of what a page shows.

Who may open a page is the API's rule (``admin.web.allowed`` with the page's ``Action``):
signed out, the sign-in page with ``next``; signed in without a role that may, the 403 page.
No page changes anything: every change is an API call from the page, with its step-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from admin import roles as role_service
from admin.models import Role
from admin.roles import Action
from admin.web import acting_on, allowed
from core import db as database
from core import logo
from core.models import User

pages = Blueprint("admin_pages", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Section:
    endpoint: str
    label: str
    action: Action


# The navigation, in order; a section shows only to roles that may do its action.
SECTIONS = (
    Section("admin_pages.dashboard", "Dashboard", Action.VIEW_STATS),
    Section("admin_pages.users", "Users", Action.VIEW_USERS),
    Section("admin_pages.invitations", "Invitations", Action.MANAGE_INVITATIONS),
    Section("admin_pages.policies", "Policies", Action.MANAGE_POLICIES),
    Section("admin_pages.authenticators", "Authenticators", Action.MANAGE_AUTHENTICATORS),
    Section("admin_pages.websites", "Websites", Action.MANAGE_WEBSITES),
    Section("admin_pages.audit", "Audit", Action.VIEW_AUDIT),
    Section("admin_pages.branding", "Branding", Action.MANAGE_BRANDING),
)


def _sign_in_first() -> ResponseReturnValue | None:
    """The sign-in page, coming back here afterwards, for the signed out."""
    if current_user.is_authenticated:
        return None
    here = request.full_path.rstrip("?") if request.query_string else request.path
    return redirect(url_for("pages.signin", next=here))


def _render(template: str, section: str, actor: User, **context: Any) -> ResponseReturnValue:
    roles = role_service.roles_of(database.session(), actor.id)
    return render_template(
        template,
        nav=[s for s in SECTIONS if role_service.may(roles, s.action)],
        section=section,
        may={action.value: role_service.may(roles, action) for action in Action},
        is_admin=Role.ADMIN in roles,
        **context,
    )


def _page(action: Action, template: str, section: str) -> ResponseReturnValue:
    return _sign_in_first() or _render(template, section, allowed(action))


@pages.app_context_processor
def _admin_link() -> dict[str, Any]:
    """``admin_home()`` for the header: the first admin page this ID may open, or None. A
    function, so only a page that shows the header asks the database (once)."""

    def admin_home() -> str | None:
        if not current_user.is_authenticated:
            return None
        try:
            roles = role_service.roles_of(database.session(), current_user.id)
        except SQLAlchemyError:  # the 503 page, rendered while the database is away
            return None
        first = next((s for s in SECTIONS if role_service.may(roles, s.action)), None)
        return None if first is None else url_for(first.endpoint)

    return {"admin_home": admin_home}


@pages.get("/")
def dashboard() -> ResponseReturnValue:
    """The dashboard for admins; a helpdesk, who may see only users, goes there."""
    if (away := _sign_in_first()) is not None:
        return away
    actor = allowed(Action.VIEW_USERS)
    roles = role_service.roles_of(database.session(), actor.id)
    if not role_service.may(roles, Action.VIEW_STATS):
        return redirect(url_for("admin_pages.users"))
    return _render("admin/dashboard.html", "admin_pages.dashboard", actor)


@pages.get("/users")
def users() -> ResponseReturnValue:
    return _page(Action.VIEW_USERS, "admin/users.html", "admin_pages.users")


@pages.get("/users/<int:user_id>")
def user(user_id: int) -> ResponseReturnValue:
    """One ID: a helpdesk opening an admin's page gets the 403 page, as from the API."""
    if (away := _sign_in_first()) is not None:
        return away
    actor, target = acting_on(user_id, Action.VIEW_USERS)
    return _render("admin/user.html", "admin_pages.users", actor, target_id=target.id)


@pages.get("/invitations")
def invitations() -> ResponseReturnValue:
    return _page(Action.MANAGE_INVITATIONS, "admin/invitations.html", "admin_pages.invitations")


@pages.get("/policies")
def policies() -> ResponseReturnValue:
    return _page(Action.MANAGE_POLICIES, "admin/policies.html", "admin_pages.policies")


@pages.get("/authenticators")
def authenticators() -> ResponseReturnValue:
    return _page(
        Action.MANAGE_AUTHENTICATORS, "admin/authenticators.html", "admin_pages.authenticators"
    )


@pages.get("/websites")
def websites() -> ResponseReturnValue:
    return _page(Action.MANAGE_WEBSITES, "admin/websites.html", "admin_pages.websites")


@pages.get("/audit")
def audit() -> ResponseReturnValue:
    return _page(Action.VIEW_AUDIT, "admin/audit.html", "admin_pages.audit")


@pages.get("/branding")
def branding() -> ResponseReturnValue:
    """The logo's accepted types and size are core.logo's, rendered (never a copy)."""
    if (away := _sign_in_first()) is not None:
        return away
    actor = allowed(Action.MANAGE_BRANDING)
    return _render(
        "admin/branding.html",
        "admin_pages.branding",
        actor,
        logo_formats=logo.FORMATS,
        logo_max_kib=logo.MAX_BYTES // 1024,
    )
