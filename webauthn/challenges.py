"""The server-side challenge store.

A challenge is issued for one purpose to one browser and expires. ``consume`` deletes it and
commits at once, before any verification: whatever happens next (a failed check rolls the rest
of the request back), the challenge is gone, so a replayed or raced response finds nothing.
``DELETE … RETURNING`` makes the find-and-delete one atomic statement.

This is the one place below the views that commits. It commits the request's session rather
than using a second connection because SQLite allows one writer: a second connection would wait
on a write lock the request's own session may already hold.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from webauthn.models import Challenge, ChallengePurpose


@dataclass(frozen=True)
class PendingCeremony:
    challenge: bytes
    purpose: ChallengePurpose
    user_id: int | None
    state: dict[str, Any]


# Expired challenges are useless but harmless; one begin in this many sweeps them, so the table
# stays small without a scheduler. `flask --app app purge` does the same on demand.
PURGE_EVERY = 100


def issue(
    db: Session,
    *,
    purpose: ChallengePurpose,
    browser: bytes,
    ttl: int,
    now: datetime,
    user_id: int | None = None,
    state: dict[str, Any] | None = None,
) -> bytes:
    challenge = secrets.token_bytes(32)
    if secrets.randbelow(PURGE_EVERY) == 0:
        purge_expired(db, now)
    db.add(
        Challenge(
            challenge=challenge,
            purpose=purpose,
            browser=browser,
            user_id=user_id,
            state=state or {},
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return challenge


def consume(
    db: Session, *, challenge: bytes, purpose: ChallengePurpose, browser: bytes, now: datetime
) -> PendingCeremony | None:
    """Takes the pending ceremony for (challenge, purpose, browser) out of the store, committed
    at once. None when there is none or it has expired (an expired one is deleted too)."""
    table = Challenge.__table__
    row = db.execute(
        sa.delete(table)
        .where(
            table.c.challenge == challenge,
            table.c.purpose == purpose,
            table.c.browser == browser,
        )
        .returning(table.c.user_id, table.c.state, table.c.expires_at)
    ).first()
    db.commit()
    if row is None or now >= row.expires_at:
        return None
    return PendingCeremony(challenge, purpose, row.user_id, row.state or {})


def purge_expired(db: Session, now: datetime) -> int:
    """Deletes challenges past their expiry; run opportunistically, never required for safety."""
    result = db.execute(sa.delete(Challenge).where(Challenge.expires_at <= now))
    return result.rowcount or 0
