"""When an ID is deleted, recovery forgets it: its backup code, mailed codes, recovery flows and
pairings go, in the deletion's transaction. (webauthn/ deletes the ID without knowing recovery
exists: it emits ``events.UserDeleted`` and this listens.) When an ID is deactivated, what was
under way stops: recovery flows are void, mailed codes deleted, pending pairings refused; the
backup code stays for when it is reactivated.

Failure counts (``recovery_failures``) are keyed by a hash of a username or IP, not by ID, and
age out with their window."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from recovery.backup import void_open_flows
from recovery.models import BackupCode, EmailCode, Pairing, RecoveryFlow
from recovery.pairing import reject_pending


def _forget(db: Session, event: events.UserDeleted) -> None:
    user_id = event.user_id
    # Codes first: an email code may point at a flow.
    db.execute(sa.delete(EmailCode).where(EmailCode.user_id == user_id))
    db.execute(sa.delete(RecoveryFlow).where(RecoveryFlow.user_id == user_id))
    db.execute(sa.delete(BackupCode).where(BackupCode.user_id == user_id))
    db.execute(sa.delete(Pairing).where(Pairing.user_id == user_id))


def _stop(db: Session, event: events.UserDeactivated) -> None:
    assert event.user_id is not None
    void_open_flows(db, event.user_id, event.ctx.now)
    db.execute(sa.delete(EmailCode).where(EmailCode.user_id == event.user_id))
    reject_pending(db, event.user_id, event.ctx.now)


def connect() -> None:
    """Idempotent: ``events.subscribe`` keeps one subscription per (event, handler)."""
    events.subscribe(events.UserDeleted, _forget)
    events.subscribe(events.UserDeactivated, _stop)
