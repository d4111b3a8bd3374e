"""The audit trail listens to every core event and writes one row in the event's transaction."""

from __future__ import annotations

from typing import Any

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
