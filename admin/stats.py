"""The dashboard's figures: IDs, devices, backup coverage, sign-ins and recoveries over the last
24 hours and 30 days, and undelivered mail; each with the admin list behind it. One statement
per group, counted by the database (``COUNT(*) FILTER (WHERE …)``), never row by row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.models import AuditEvent, User
from notify.models import OutboxMail
from recovery.models import BackupCode
from webauthn.models import Device, DeviceStatus

# The admin pages the figures link to (the lists behind them).
USERS_PAGE = "/admin/users"
AUDIT_PAGE = "/admin/audit"

# IDs (deleted ones are not IDs any more) counted by status: name → (which, the list).
USER_FIGURES: dict[str, tuple[sa.ColumnElement[bool], str]] = {
    "total": (sa.true(), USERS_PAGE),
    "active": (User.deactivated_at.is_(None), f"{USERS_PAGE}?status=active"),
    "deactivated": (User.deactivated_at.is_not(None), f"{USERS_PAGE}?status=deactivated"),
}
SIGN_INS = (events.SignedIn.name,)
# A recovery is done when its new device is in: restored (other devices removed) or
# duplicated (kept). Started or failed ones are steps, not recoveries.
RECOVERIES = (events.DeviceRestored.name, events.DeviceDuplicated.name)
WINDOWS = {"last_24h": timedelta(hours=24), "last_30d": timedelta(days=30)}


@dataclass(frozen=True)
class Figure:
    value: int
    link: str | None  # None: no admin list shows these (undelivered mail)


@dataclass(frozen=True)
class Coverage:
    """IDs with an active backup among all IDs."""

    with_backup: int
    of: int
    percent: float
    link: str


@dataclass(frozen=True)
class Stats:
    at: datetime
    users: dict[str, Figure]
    devices: dict[str, Figure]
    backup: Coverage
    sign_ins: dict[str, Figure]
    recoveries: dict[str, Figure]
    mail: dict[str, Figure]


def _count(where: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count().filter(where)


def _audit_link(kinds: tuple[str, ...], since: datetime) -> str:
    moment = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{AUDIT_PAGE}?{urlencode({'kind': ','.join(kinds), 'since': moment})}"


def stats(db: Session, now: datetime) -> Stats:
    users, backup = _users(db)
    activity = _activity(db, now)
    return Stats(
        at=now,
        users=users,
        devices=_devices(db),
        backup=backup,
        sign_ins=activity["sign_ins"],
        recoveries=activity["recoveries"],
        mail=_mail(db),
    )


def _users(db: Session) -> tuple[dict[str, Figure], Coverage]:
    row = db.execute(
        sa.select(
            *(_count(where) for where, _link in USER_FIGURES.values()),
            sa.func.count(BackupCode.user_id),
        )
        .select_from(User)
        .outerjoin(BackupCode, BackupCode.user_id == User.id)
        .where(User.deleted_at.is_(None))
    ).one()
    *counts, with_backup = row
    figures = {
        name: Figure(count, link)
        for (name, (_where, link)), count in zip(USER_FIGURES.items(), counts, strict=True)
    }
    total = figures["total"].value
    coverage = Coverage(
        with_backup=with_backup,
        of=total,
        percent=round(100 * with_backup / total, 1) if total else 0.0,
        link=f"{USERS_PAGE}?backup=true",
    )
    return figures, coverage


def _devices(db: Session) -> dict[str, Figure]:
    active, blocked, flagged = db.execute(
        sa.select(
            _count(Device.status == DeviceStatus.ACTIVE),
            _count(Device.status == DeviceStatus.BLOCKED),
            # A sign counter that went back (a possible clone), on a device still there.
            _count(sa.and_(Device.flagged.is_(True), Device.status != DeviceStatus.REMOVED)),
        ).select_from(Device)
    ).one()
    return {
        "active": Figure(active, USERS_PAGE),
        "blocked": Figure(blocked, f"{AUDIT_PAGE}?kind={events.DeviceBlocked.name}"),
        "flagged": Figure(flagged, f"{USERS_PAGE}?flagged=true"),
    }


def _activity(db: Session, now: datetime) -> dict[str, dict[str, Figure]]:
    starts = {name: now - span for name, span in WINDOWS.items()}
    groups = {"sign_ins": SIGN_INS, "recoveries": RECOVERIES}
    columns = [
        _count(sa.and_(AuditEvent.kind.in_(kinds), AuditEvent.created_at >= start))
        for kinds in groups.values()
        for start in starts.values()
    ]
    counts = iter(
        db.execute(
            sa.select(*columns).where(
                AuditEvent.kind.in_(SIGN_INS + RECOVERIES),
                AuditEvent.created_at >= min(starts.values()),
            )
        ).one()
    )
    return {
        group: {
            window: Figure(next(counts), _audit_link(kinds, start))
            for window, start in starts.items()
        }
        for group, kinds in groups.items()
    }


def _mail(db: Session) -> dict[str, Figure]:
    pending, failed = db.execute(
        sa.select(
            _count(sa.and_(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))),
            _count(OutboxMail.failed_at.is_not(None)),
        ).select_from(OutboxMail)
    ).one()
    return {"pending": Figure(pending, None), "failed": Figure(failed, None)}
