"""The audit trail listens to every core event and writes one row in the event's transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from blinker import Signal
from sqlalchemy.orm import Session

from core import events
from core.models import AuditEvent
from core.security import ClientInfo


def record(
    db: Session,
    kind: str,
    *,
    user_id: int | None,
    device_id: int | None = None,
    client: ClientInfo | None = None,
    **data: Any,
) -> None:
    db.add(
        AuditEvent(
            kind=kind,
            user_id=user_id,
            device_id=device_id,
            ip=client.ip if client else "",
            user_agent=client.user_agent if client else "",
            data=data,
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


def _listener(signal: Signal):  # noqa: ANN202 - a closure per signal, named for its kind
    def write(_sender: Any, *, db: Session, user_id: int | None, **kwargs: Any) -> None:
        device_id = kwargs.pop("device_id", None)
        client = kwargs.pop("client", None)
        record(db, signal.name, user_id=user_id, device_id=device_id, client=client, **kwargs)

    return write


_LISTENERS = [(signal, _listener(signal)) for signal in events.AUDITED]


def connect() -> None:
    """Idempotent: blinker keeps one connection per (signal, receiver)."""
    for signal, listener in _LISTENERS:
        signal.connect(listener, weak=False)
