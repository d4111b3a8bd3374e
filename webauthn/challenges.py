"""The server-side challenge store.

A challenge is issued for one purpose to one browser and expires. ``consume`` deletes it and
commits at once, before any verification: whatever happens next (a failed check rolls the rest
of the request back), the challenge is gone, so a replayed or raced response finds nothing.
``DELETE … RETURNING`` makes the find-and-delete one atomic statement.

This is the one place below the views that commits. It commits the request's session rather
than using a second connection because SQLite allows one writer: a second connection would wait
on a write lock the request's own session may already hold. So the DELETE must be the first
write of the transaction: anything a step before it had written would be committed with it,
and survive the failed check that rolls the rest back. ``consume`` checks that and raises
``NotFirstWrite`` (a programming error, a 500) rather than commit it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from core.models import LoginSession
from core.orm import rowcount
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
    at once. None when there is none or it has expired (an expired one is deleted too). Must be
    the transaction's first write (``NotFirstWrite``)."""
    _require_first_write(db)
    table = cast(sa.Table, Challenge.__table__)
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
    return rowcount(result)


# ---- consume's commit is the transaction's first write ---------------------------------------


class NotFirstWrite(RuntimeError):
    """``consume`` was called after its transaction had written something, which its commit
    would have committed too. A bug in the calling code, never a client's doing."""


# session.info key: set when the session writes (a flush, or an INSERT, UPDATE or DELETE it
# executes), cleared when its outermost transaction ends.
_WROTE = "keystead.wrote"


@sa.event.listens_for(Session, "after_flush")
def _flushed(db: Session, _flush_context: object) -> None:
    db.info[_WROTE] = True


@sa.event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@sa.event.listens_for(Session, "after_transaction_end")
def _ended(db: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost: not a SAVEPOINT, not a flush's own
        db.info.pop(_WROTE, None)


# The one change allowed to ride along with the consumed challenge: the signed-in session's
# last-seen time, which the edge moves before the view runs (``core.sessions.lookup``, at most
# once a minute). It is true whatever the ceremony's outcome, and a successful request commits
# it anyway.
_RIDES_ALONG = {(LoginSession, "last_seen_at")}


def _require_first_write(db: Session) -> None:
    """Nothing written yet in this transaction, and nothing pending that a commit would write."""
    if db.info.get(_WROTE):
        raise NotFirstWrite("the transaction wrote before the challenge was consumed")
    changed = [
        (type(row), attr.key)
        for row in db.dirty
        for attr in sa.inspect(row).attrs
        if attr.history.has_changes()
    ]
    pending = [*db.new, *db.deleted, *(c for c in changed if c not in _RIDES_ALONG)]
    if pending:
        raise NotFirstWrite(f"changes pending before the challenge was consumed: {pending}")
