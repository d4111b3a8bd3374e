"""Throttling failed recovery and backup steps: whom a failure counts against (its subjects),
checking them before a step, and recording a failure. The verdict itself is pure
(``recovery.throttle``); this module stores and reads the failures (``RecoveryFailure`` rows,
keyed hashes of the subject).

Failures are counted so that nobody can lock out an owner they cannot impersonate. A wrong
backup code (unguessable: 120 bits) is counted only per browser (locks that browser) and per IP
(slows it by a bounded delay, never locks it): an attacker who knows only a username can hold
up its owner's recovery by at most ``throttle.MAX_DELAY`` and only from the attacker's own
address. The per-ID lock guards the email code, and only once a right backup code was given.
The signed-in owner's backup management counts only the owner's own wrong email codes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import User
from core.security import ClientInfo, keyed_hash
from recovery import throttle
from recovery.errors import TooManyAttempts
from recovery.models import FailureStep, RecoveryFailure
from recovery.settings import BackupSettings

Subjects = list[tuple[bytes, throttle.ThrottlePolicy]]


def client_subjects(settings: BackupSettings, client: ClientInfo) -> Subjects:
    """The caller of an anonymous recovery step: its browser (may lock) and its IP (slowed
    only, so an office behind one address is not locked out by a colleague's typos)."""
    return [
        (
            keyed_hash(settings.secret_key, "recovery-browser", client.browser.hex()),
            settings.per_browser,
        ),
        (keyed_hash(settings.secret_key, "recovery-ip", client.ip), settings.per_ip),
    ]


def recovery_code_subjects(settings: BackupSettings, user: User, client: ClientInfo) -> Subjects:
    """Recovery step 2: only a browser that gave the right backup code gets here, so its wrong
    email codes may lock the ID's email-code step (not its backup management, not step 1)."""
    return [
        (keyed_hash(settings.secret_key, "recovery-email-id", str(user.id)), settings.per_id),
        *client_subjects(settings, client),
    ]


def owner_subjects(settings: BackupSettings, user: User) -> Subjects:
    """The signed-in owner's backup management counts only wrong email codes typed in the
    owner's own sessions: no anonymous failure can stop the owner from managing backup."""
    return [(keyed_hash(settings.secret_key, "backup-owner", str(user.id)), settings.per_id)]


def check_throttle(db: Session, subjects: Subjects, now: datetime) -> None:
    """Refuses the step (429) while any subject's recent failures say so."""
    for subject, policy in subjects:
        since = now - timedelta(seconds=policy.window)
        failures = list(
            db.scalars(
                sa.select(RecoveryFailure.created_at)
                .where(RecoveryFailure.subject == subject, RecoveryFailure.created_at > since)
                .order_by(RecoveryFailure.created_at)
            )
        )
        decision = throttle.verdict(failures, now, policy)
        if not decision.allowed:
            raise TooManyAttempts(decision.retry_after)


def record_failure(db: Session, subjects: Subjects, step: FailureStep, now: datetime) -> None:
    """Counts one failed ``step`` against every subject."""
    for subject, _policy in subjects:
        db.add(RecoveryFailure(subject=subject, step=step, created_at=now))
    db.flush()
