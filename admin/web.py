"""The admin package's share of the HTTP edge: who may do what, checked in the one order every
admin endpoint answers (401 signed out, 403 ``forbidden`` without a role that may, then for a
change 401 ``reauth_required`` without a fresh verification)."""

from __future__ import annotations

from admin import roles as role_service
from admin import users as user_service
from admin.errors import Forbidden
from admin.models import Role
from admin.roles import Action
from core import db as database
from core.models import User
from core.web import request_context, signed_in_user
from webauthn.settings import require_fresh
from webauthn.web import settings


def allowed(action: Action, target: User | None = None, *, changes: bool = False) -> User:
    """The acting ID, if its roles may do ``action`` (to ``target``); 401, 403, then (for a
    change) 401 ``reauth_required`` otherwise."""
    actor = signed_in_user()
    db = database.session()
    actor_roles = role_service.roles_of(db, actor.id)
    target_roles = role_service.roles_of(db, target.id) if target is not None else set[Role]()
    if not role_service.may(actor_roles, action, target_roles):
        raise Forbidden()
    if changes:
        ctx = request_context()
        require_fresh(ctx.login_session, settings(), ctx.now)
    return actor


def acting_on(user_id: int, action: Action, *, changes: bool = False) -> tuple[User, User]:
    """The acting ID and the ID acted on: the role is checked before the target is looked up
    (nobody without a role learns which ids exist), then again against the target's roles."""
    allowed(action)
    found = user_service.find_user(database.session(), user_id)
    return allowed(action, found, changes=changes), found
