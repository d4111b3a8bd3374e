"""What an administrator sees of IDs: the list (search, filters, pages) and one ID with its
devices, live sessions, connected websites and backup state. Never a secret: no code, no
token, no hash leaves here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from admin.errors import UserNotFound
from admin.models import Role, UserRole
from core.context import RequestContext
from core.models import User
from embed.tokens import connections_of, website_origin
from recovery.models import BackupCode
from webauthn.account import SessionInfo, list_sessions
from webauthn.devices import list_devices
from webauthn.models import Device, DeviceStatus
from webauthn.settings import Settings

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class UserRow:
    user: User
    roles: list[str]
    last_sign_in_at: datetime | None
    backup_active: bool
    device_count: int


@dataclass(frozen=True)
class Page:
    users: list[UserRow]
    total: int
    page: int
    per_page: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_users(
    db: Session,
    *,
    q: str | None,
    status: str | None,
    role: Role | None,
    backup: bool | None = None,
    flagged: bool = False,
    page: int,
    per_page: int,
) -> Page:
    """IDs (not deleted) matching ``q`` in username, email or display name (case-insensitive,
    as typed: ``%`` and ``_`` are plain characters), newest first. ``status``: ``active`` or
    ``deactivated``; ``backup``: with (True) or without (False) an active backup; ``flagged``:
    with a device flagged as possibly cloned; ``role``: holding it."""
    where: list[sa.ColumnElement[bool]] = [User.deleted_at.is_(None)]
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        where.append(
            sa.or_(
                sa.func.lower(User.username).like(pattern, escape="\\"),
                sa.func.lower(User.email).like(pattern, escape="\\"),
                sa.func.lower(User.display_name).like(pattern, escape="\\"),
            )
        )
    if status == "deactivated":
        where.append(User.deactivated_at.is_not(None))
    elif status == "active":
        where.append(User.deactivated_at.is_(None))
    if backup is not None:
        has_backup = User.id.in_(sa.select(BackupCode.user_id))
        where.append(has_backup if backup else ~has_backup)
    if flagged:
        where.append(
            User.id.in_(
                sa.select(Device.user_id).where(
                    Device.flagged.is_(True), Device.status != DeviceStatus.REMOVED
                )
            )
        )
    if role is not None:
        where.append(User.id.in_(sa.select(UserRole.user_id).where(UserRole.role == role)))
    total = db.scalar(sa.select(sa.func.count()).select_from(User).where(*where)) or 0
    users = list(
        db.scalars(
            sa.select(User)
            .where(*where)
            .order_by(User.created_at.desc(), User.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return Page(_rows(db, users), total, page, per_page)


def _rows(db: Session, users: list[User]) -> list[UserRow]:
    """The list's facts about ``users``: three statements, however many."""
    ids = [u.id for u in users]
    roles: dict[int, list[str]] = {i: [] for i in ids}
    for user_id, granted in db.execute(
        sa.select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))
    ):
        roles[user_id].append(str(granted))
    device_facts = {
        user_id: (count, last)
        for user_id, count, last in db.execute(
            sa.select(
                Device.user_id,
                sa.func.count().filter(Device.status == DeviceStatus.ACTIVE),
                sa.func.max(Device.last_used_at),
            )
            .where(Device.user_id.in_(ids))
            .group_by(Device.user_id)
        )
    }
    with_backup = set(db.scalars(sa.select(BackupCode.user_id).where(BackupCode.user_id.in_(ids))))
    return [
        UserRow(
            user=u,
            roles=sorted(roles[u.id]),
            last_sign_in_at=device_facts.get(u.id, (0, None))[1],
            backup_active=u.id in with_backup,
            device_count=device_facts.get(u.id, (0, None))[0],
        )
        for u in users
    ]


def find_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound()
    return user


@dataclass(frozen=True)
class UserDetail:
    row: UserRow
    devices: list[Device]
    sessions: list[SessionInfo]
    websites: list[dict[str, Any]]
    backup_activated_at: datetime | None


def user_row(db: Session, user: User) -> UserRow:
    """``user`` as a line of the list (an answer that names only the ID)."""
    return _rows(db, [user])[0]


def user_detail(db: Session, settings: Settings, ctx: RequestContext, user: User) -> UserDetail:
    """One ID as the admin page shows it: devices (removed ones left out), live sessions,
    connected websites and whether backup is active (never the code)."""
    backup = db.get(BackupCode, user.id)
    websites = [
        {
            "id": connection.id,
            "website": client.name,
            "origin": website_origin(client),
            "first_used_at": connection.first_used_at,
            "last_used_at": connection.last_used_at,
        }
        for connection, client in connections_of(db, user.id)
    ]
    return UserDetail(
        row=user_row(db, user),
        devices=list_devices(db, user),
        sessions=list_sessions(db, settings, ctx, user=user),
        websites=websites,
        backup_activated_at=backup.activated_at if backup else None,
    )
