"""When an ID is deleted, recovery forgets it: its backup code, mailed codes, recovery flows and
pairings go, in the deletion's transaction. (webauthn/ deletes the ID without knowing recovery
exists: it emits ``events.UserDeleted`` and this listens.)

Failure counts (``recovery_failures``) are keyed by a hash of a username or IP, not by ID, and
age out with their window."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from recovery.models import BackupCode, EmailCode, Pairing, RecoveryFlow


def _forget(db: Session, event: events.UserDeleted) -> None:
    user_id = event.user_id
    # Codes first: an email code may point at a flow.
    db.execute(sa.delete(EmailCode).where(EmailCode.user_id == user_id))
    db.execute(sa.delete(RecoveryFlow).where(RecoveryFlow.user_id == user_id))
    db.execute(sa.delete(BackupCode).where(BackupCode.user_id == user_id))
    db.execute(sa.delete(Pairing).where(Pairing.user_id == user_id))


def connect() -> None:
    """Idempotent: ``events.subscribe`` keeps one subscription per (event, handler)."""
    events.subscribe(events.UserDeleted, _forget)
