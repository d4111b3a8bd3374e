"""When an ID is deleted, recovery forgets it: its backup code, mailed codes, recovery flows and
pairings go, in the deletion's transaction. (webauthn/ deletes the ID without knowing recovery
exists: it emits ``user_deleted`` and this listens.)

Failure counts (``recovery_failures``) are keyed by a hash of a username or IP, not by ID, and
age out with their window."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from recovery.models import BackupCode, EmailCode, Pairing, RecoveryFlow


def _forget(_sender: Any, *, db: Session, user_id: int, **_: Any) -> None:
    # Codes first: an email code may point at a flow.
    db.execute(sa.delete(EmailCode).where(EmailCode.user_id == user_id))
    db.execute(sa.delete(RecoveryFlow).where(RecoveryFlow.user_id == user_id))
    db.execute(sa.delete(BackupCode).where(BackupCode.user_id == user_id))
    db.execute(sa.delete(Pairing).where(Pairing.user_id == user_id))


def connect() -> None:
    """Idempotent: blinker keeps one connection per (signal, receiver)."""
    events.user_deleted.connect(_forget, weak=False)
