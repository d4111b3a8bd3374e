"""The audit trail: one row per event, written in the event's transaction. It subscribes to
every event (``events.Event``) and leaves out by type the ones that carry a secret
(``events.SecretEvent``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.models import AuditEvent


def record(db: Session, event: events.Event) -> None:
    """Writes ``event`` as a row: its name, ID, device, the caller's IP and user agent, its
    time and its details (``Event.details``). A secret-bearing event writes nothing."""
    if isinstance(event, events.SecretEvent):
        return
    client = event.ctx.client
    db.add(
        AuditEvent(
            kind=event.name,
            user_id=event.user_id,
            device_id=event.device_id,
            ip=client.ip,
            user_agent=client.user_agent,
            data=event.details(),
            created_at=event.ctx.now,
        )
    )


# What a deleted ID's audit trail keeps of each event's data: facts about what happened, never
# who or where (names, addresses, user agents). An allow-list, so a key added to an event
# later is erased until someone decides it is not personal.
KEPT_AFTER_DELETION = frozenset(
    {
        "first_device",
        "new_browser",
        "reason",
        "via",
        "stored_count",
        "received_count",
        "mode",
        "delivered",
        "purpose",
        "session_id",
        "ended",
        "actor_user_id",  # the administrator who acted: not the deleted person's data
    }
)


def anonymise(db: Session, user_id: int) -> int:
    """Strips the personal data from ``user_id``'s audit trail (the ID was deleted): kind, time
    and device id stay, IP and user agent go, ``data`` keeps only ``KEPT_AFTER_DELETION``.
    Returns how many rows it rewrote."""
    db.flush()  # events emitted just before are rows too
    rows = db.scalars(sa.select(AuditEvent).where(AuditEvent.user_id == user_id)).all()
    for row in rows:
        row.ip = ""
        row.user_agent = ""
        row.data = {k: v for k, v in (row.data or {}).items() if k in KEPT_AFTER_DELETION}
    return len(rows)


def connect() -> None:
    """Subscribes the trail to every event (idempotent)."""
    events.subscribe(events.Event, record)
