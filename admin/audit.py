"""The whole audit trail as an administrator reads it: events filtered (ID, kind, acting ID,
IP, time range), newest first, a page at a time or every one as CSV, streamed; and its
retention (``AUDIT_RETENTION_DAYS``, swept by ``flask --app app purge``).

An event's ``details`` are the data its row stores (``core.audit``): never a secret, because
events that carry one (``events.SecretEvent``) are not recorded at all. The acting ID of an
administrator's action is the ``actor_user_id`` its event records in that data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core import events, retention
from core.models import AuditEvent, User
from core.orm import READ_ONLY, rowcount

MAX_PER_PAGE = 100
# What a CSV export fetches from the database at a time: the rows in between are never all
# in memory, and a server-side cursor (PostgreSQL) serves them.
STREAM_BATCH = 500
# The fields of an event, in the JSON answer and as the CSV's header row.
FIELDS = (
    "id",
    "at",
    "kind",
    "user_id",
    "actor_id",
    "actor",
    "device_id",
    "ip",
    "user_agent",
    "details",
)

_ACTOR_ID = AuditEvent.data["actor_user_id"].as_integer()
_Actor = aliased(User, name="actor")
_COLUMNS = (
    AuditEvent.id,
    AuditEvent.created_at,
    AuditEvent.kind,
    AuditEvent.user_id,
    _ACTOR_ID.label("actor_id"),
    _Actor.username,
    AuditEvent.device_id,
    AuditEvent.ip,
    AuditEvent.user_agent,
    AuditEvent.data,
)


@dataclass(frozen=True)
class Filters:
    """Each one set narrows the events: ``since`` inclusive, ``until`` exclusive."""

    user_id: int | None = None
    kinds: tuple[str, ...] = ()  # any of them
    actor_id: int | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """One event: ``actor`` is the acting ID's username (None when no ID acted for another:
    the ID's own action, or the command line's, named in ``details["actor"]``)."""

    id: int
    at: datetime
    kind: str
    user_id: int | None
    actor_id: int | None
    actor: str | None
    device_id: int | None
    ip: str
    user_agent: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Page:
    events: list[Entry]
    total: int
    page: int
    per_page: int


def _where(filters: Filters) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if filters.user_id is not None:
        where.append(AuditEvent.user_id == filters.user_id)
    if filters.kinds:
        where.append(AuditEvent.kind.in_(filters.kinds))
    if filters.actor_id is not None:
        where.append(_ACTOR_ID == filters.actor_id)
    if filters.ip is not None:
        where.append(AuditEvent.ip == filters.ip)
    if filters.since is not None:
        where.append(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        where.append(AuditEvent.created_at < filters.until)
    return where


def _select(filters: Filters) -> sa.Select[Any]:
    return (
        sa.select(*_COLUMNS)
        .outerjoin(_Actor, _Actor.id == _ACTOR_ID)
        .where(*_where(filters))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )


def _entry(row: sa.Row[Any]) -> Entry:
    return Entry(
        id=row.id,
        at=row.created_at,
        kind=row.kind,
        user_id=row.user_id,
        actor_id=row.actor_id,
        actor=row.username,
        device_id=row.device_id,
        ip=row.ip,
        user_agent=row.user_agent,
        details=dict(row.data or {}),
    )


def list_events(db: Session, filters: Filters, *, page: int, per_page: int) -> Page:
    """One page of the events ``filters`` select, newest first, and how many there are."""
    per_page = min(per_page, MAX_PER_PAGE)
    total = db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(*_where(filters))) or 0
    rows = db.execute(_select(filters).limit(per_page).offset((page - 1) * per_page))
    return Page([_entry(row) for row in rows], total, page, per_page)


def stream_events(db: Session, filters: Filters) -> Generator[Entry, None, None]:
    """Every event ``filters`` select, newest first, fetched ``STREAM_BATCH`` rows at a time
    (a server-side cursor on PostgreSQL: ``db``'s connection stays in its transaction until
    the last row, so its session must live as long as the iteration). ``db`` must not have
    begun a transaction yet: this one only reads (``READ_ONLY``: on SQLite it blocks no writer
    however long the rows take to leave)."""
    db.connection(execution_options={READ_ONLY: True})
    result = db.execute(_select(filters).execution_options(yield_per=STREAM_BATCH))
    try:
        for row in result:
            yield _entry(row)
    finally:
        result.close()


# ---- CSV -----------------------------------------------------------------------------------

# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection"): a
# user agent or a display name is written by whoever signs in.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 200


def csv_cell(value: Any) -> str:
    """One cell: nothing for None, ISO 8601 for a time, compact JSON for the details, and a
    leading ``'`` before text a spreadsheet would run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_chunks(entries: Iterable[Entry]) -> Iterator[str]:
    """The CSV text of ``entries``: the header row (``FIELDS``) at once, then the rows a few
    hundred at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    yield _take(buffer)
    for count, entry in enumerate(entries, start=1):
        writer.writerow([csv_cell(getattr(entry, name)) for name in FIELDS])
        if count % _ROWS_PER_CHUNK == 0:
            yield _take(buffer)
    rest = _take(buffer)
    if rest:
        yield rest


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


# ---- retention -----------------------------------------------------------------------------


def purge_old(db: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Deletes the events older than ``AUDIT_RETENTION_DAYS`` (0: none), except each ID's
    latest ``BACKUP_PROMPT_AFTER_SIGNINS`` sign-ins: the backup prompt (``recovery.backup``)
    counts an ID's ``signed_in`` events against that number, and an ID that reached it must
    not stop being prompted because its sign-ins grew old. Returns how many it deleted."""
    days = config["AUDIT_RETENTION_DAYS"]
    if not days:
        return 0
    ranked = (
        sa.select(
            AuditEvent.id,
            sa.func.row_number()
            .over(partition_by=AuditEvent.user_id, order_by=AuditEvent.id.desc())
            .label("newest"),
        )
        .where(AuditEvent.kind == events.SignedIn.name, AuditEvent.user_id.is_not(None))
        .subquery()
    )
    counted = sa.select(ranked.c.id).where(ranked.c.newest <= config["BACKUP_PROMPT_AFTER_SIGNINS"])
    result = db.execute(
        sa.delete(AuditEvent)
        .where(AuditEvent.created_at < now - timedelta(days=days))
        .where(AuditEvent.id.not_in(counted))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def connect() -> None:
    """``flask purge`` sweeps the events past their retention."""
    retention.register_configured("audit events past AUDIT_RETENTION_DAYS", purge_old)
