"""Granting and revoking roles, and what each role may do.

The rule for who may act (``may``) is pure: an admin may do everything; a helpdesk may view
and act on IDs that are not admins, nothing else. The last admin can never lose the role, so
the organisation cannot lock itself out (the CLI can always grant one again)."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from admin.errors import LastAdmin
from admin.models import Role, UserRole
from core import events
from core.context import RequestContext
from core.models import User
from core.orm import rowcount


class Action(StrEnum):
    VIEW_USERS = "view_users"  # list IDs, see one
    ACT_ON_USER = "act_on_user"  # block, unblock, unpair, end sessions, re-issue a code...
    DELETE_USER = "delete_user"
    MANAGE_ROLES = "manage_roles"
    MANAGE_POLICIES = "manage_policies"
    MANAGE_INVITATIONS = "manage_invitations"  # invite, list, revoke, import a CSV
    MANAGE_AUTHENTICATORS = "manage_authenticators"  # the FIDO metadata and its allow-list
    MANAGE_WEBSITES = "manage_websites"  # the OpenID Connect clients
    MANAGE_BRANDING = "manage_branding"
    VIEW_AUDIT = "view_audit"  # the whole audit log and its export
    VIEW_STATS = "view_stats"  # the dashboard


_HELPDESK_MAY = frozenset({Action.VIEW_USERS, Action.ACT_ON_USER})


def may(actor_roles: Collection[Role], action: Action, target_roles: Collection[Role] = ()) -> bool:
    """Whether someone with ``actor_roles`` may do ``action`` (to an ID with ``target_roles``)."""
    if Role.ADMIN in actor_roles:
        return True
    if Role.HELPDESK in actor_roles:
        return action in _HELPDESK_MAY and Role.ADMIN not in target_roles
    return False


def roles_of(db: Session, user_id: int) -> set[Role]:
    return set(db.scalars(sa.select(UserRole.role).where(UserRole.user_id == user_id)))


def grant(
    db: Session,
    ctx: RequestContext,
    user: User,
    role: Role,
    *,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> bool:
    """Gives ``user`` the role; False when it had it already (nothing written)."""
    if role in roles_of(db, user.id):
        return False
    db.add(
        UserRole(
            user_id=user.id,
            role=role,
            granted_at=ctx.now,
            granted_by_user_id=actor_user_id,
            granted_by=actor,
        )
    )
    db.flush()
    events.emit(
        db,
        events.RoleGranted(
            ctx=ctx, user_id=user.id, role=role.value, actor_user_id=actor_user_id, actor=actor
        ),
    )
    return True


def revoke(
    db: Session,
    ctx: RequestContext,
    user: User,
    role: Role,
    *,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> bool:
    """Takes the role from ``user``; False when it did not have it. ``LastAdmin`` when it is
    the last admin's admin role. The admins are locked first (``FOR UPDATE`` on PostgreSQL;
    SQLite has one writer), so two admins removing each other cannot both succeed."""
    if role == Role.ADMIN:
        keep_an_admin(db, user)
    removed = db.execute(
        sa.delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role)
    )
    if not rowcount(removed):
        return False
    events.emit(
        db,
        events.RoleRevoked(
            ctx=ctx, user_id=user.id, role=role.value, actor_user_id=actor_user_id, actor=actor
        ),
    )
    return True


def keep_an_admin(db: Session, user: User) -> None:
    """``LastAdmin`` when ``user`` is the only admin who can still sign in (not deactivated,
    not deleted), so that revoking its role, deactivating or deleting it would leave nobody to
    administer. The admins' role rows are locked first (``FOR UPDATE`` on PostgreSQL; SQLite
    has one writer), so two admins removing each other cannot both succeed."""
    admins = db.scalars(
        sa.select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(
            UserRole.role == Role.ADMIN,
            User.deleted_at.is_(None),
            User.deactivated_at.is_(None),
        )
        .with_for_update(of=UserRole)
    ).all()
    if list(admins) == [user.id]:
        raise LastAdmin()


def _forget_roles(db: Session, event: events.UserDeleted) -> None:
    db.execute(sa.delete(UserRole).where(UserRole.user_id == event.user_id))


def connect() -> None:
    """A deleted ID keeps no role (its tombstone must never count as an admin)."""
    events.subscribe(events.UserDeleted, _forget_roles)


def set_roles(
    db: Session, ctx: RequestContext, user: User, roles: Collection[Role], *, actor_user_id: int
) -> set[Role]:
    """Makes ``user``'s roles exactly ``roles`` (grants first, so the last-admin rule sees
    the new admins)."""
    wanted = set(roles)
    current = roles_of(db, user.id)
    for role in sorted(wanted - current):
        grant(db, ctx, user, role, actor_user_id=actor_user_id)
    for role in sorted(current - wanted):
        revoke(db, ctx, user, role, actor_user_id=actor_user_id)
    return roles_of(db, user.id)
