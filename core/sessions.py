"""Server-side sign-in sessions: started at sign-in with a new token (so a session id is never
carried over from before sign-in), looked up per request, revocable one by one or per device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import ReauthRequired
from core.models import LoginSession, User
from core.orm import rowcount
from core.security import new_token, token_hash

# Writing last_seen_at on every request would turn every read into a write; a minute of
# precision is enough for the idle timeout and the sessions list.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: int
    idle_timeout: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        return cls(config["SESSION_LIFETIME"], config["SESSION_IDLE_TIMEOUT"])


@dataclass(frozen=True)
class StartedSession:
    token: str
    session: LoginSession


def start(
    db: Session,
    ctx: RequestContext,
    *,
    user_id: int,
    device_id: int | None,
    policy: SessionPolicy,
    verified: bool = True,
) -> StartedSession:
    """A fresh session for a sign-in; the browser's previous session (the cookie's
    ``ctx.session_token``, if any) ends with it. ``verified``: the sign-in verified the user (a
    passkey with UV), so the session starts fresh for sensitive actions."""
    client, now = ctx.client, ctx.now
    if ctx.session_token:
        revoke_token(db, ctx.session_token, now)
    token = new_token()
    login_session = LoginSession(
        token_hash=token_hash(token),
        user_id=user_id,
        device_id=device_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=policy.lifetime),
        verified_at=now if verified else None,
        user_agent=client.user_agent[:512],
        ip=client.ip[:64],
    )
    db.add(login_session)
    db.flush()
    return StartedSession(token, login_session)


def lookup(
    db: Session, token: str, *, policy: SessionPolicy, now: datetime
) -> tuple[LoginSession, User] | None:
    """The live session behind ``token`` and its user, or None if it is unknown, revoked,
    expired or idle for too long."""
    row = db.execute(
        sa.select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    login_session, user = row
    if user.deactivated_at is not None:  # its sessions were ended; never honour a straggler
        return None
    idle_limit = login_session.last_seen_at + timedelta(seconds=policy.idle_timeout)
    if login_session.revoked_at is not None or now >= login_session.expires_at or now >= idle_limit:
        return None
    if now - login_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        login_session.last_seen_at = now
    return login_session, user


def revoke_token(db: Session, token: str, now: datetime) -> None:
    # Core UPDATE on the table, not an ORM bulk update: no session synchronisation to pay for
    # on the sign-in path.
    table = cast(sa.Table, LoginSession.__table__)
    db.execute(
        sa.update(table)
        .where(table.c.token_hash == token_hash(token), table.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_device_sessions(db: Session, device_id: int, now: datetime) -> int:
    """Ends every session signed in with ``device_id``; returns how many were live."""
    result = db.execute(
        sa.update(LoginSession)
        .where(LoginSession.device_id == device_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return rowcount(result)


def live_session(*, policy: SessionPolicy, now: datetime) -> sa.ColumnElement[bool]:
    """The SQL twin of ``lookup``'s test: not revoked, not expired, not idle too long."""
    return sa.and_(
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > now,
        LoginSession.last_seen_at > now - timedelta(seconds=policy.idle_timeout),
    )


def live_sessions(
    db: Session, user_id: int, *, policy: SessionPolicy, now: datetime
) -> list[LoginSession]:
    """The ID's signed-in sessions, latest activity first."""
    return list(
        db.scalars(
            sa.select(LoginSession)
            .where(LoginSession.user_id == user_id, live_session(policy=policy, now=now))
            .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
        )
    )


def end_session(
    db: Session, *, user_id: int, session_id: int, policy: SessionPolicy, now: datetime
) -> LoginSession | None:
    """Ends one live session of ``user_id`` and returns it; None when there is no such live
    session (another ID's looks exactly like a missing one). One conditional UPDATE: of two
    concurrent calls, one ends it."""
    # session_id comes from a URL, where core.web already refused ids out of ROW_ID_MAX.
    ended = db.execute(
        sa.update(LoginSession)
        .where(
            LoginSession.id == session_id,
            LoginSession.user_id == user_id,
            live_session(policy=policy, now=now),
        )
        .values(revoked_at=now)
    )
    if rowcount(ended) != 1:
        return None
    return db.get(LoginSession, session_id)


def end_other_sessions(
    db: Session, *, user_id: int, keep_id: int, policy: SessionPolicy, now: datetime
) -> int:
    """Ends every live session of ``user_id`` but ``keep_id``; returns how many."""
    result = db.execute(
        sa.update(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.id != keep_id,
            live_session(policy=policy, now=now),
        )
        .values(revoked_at=now)
    )
    return rowcount(result)


def end_all_sessions(db: Session, *, user_id: int, policy: SessionPolicy, now: datetime) -> int:
    """Ends every live session of ``user_id`` (an administrator's doing); returns how many."""
    result = db.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user_id, live_session(policy=policy, now=now))
        .values(revoked_at=now)
    )
    return rowcount(result)


def revoke_user_sessions(db: Session, user_id: int, now: datetime) -> None:
    """Ends every session of ``user_id``, live or not (the ID is going away)."""
    db.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# Ended sessions are kept this long (the account's session history), then deleted.
ENDED_SESSION_RETENTION = timedelta(days=30)


def purge_ended(db: Session, now: datetime) -> int:
    cutoff = now - ENDED_SESSION_RETENTION
    result = db.execute(
        sa.delete(LoginSession).where(
            sa.or_(LoginSession.expires_at <= cutoff, LoginSession.revoked_at <= cutoff)
        )
    )
    return rowcount(result)


def require_fresh(login_session: LoginSession | None, *, max_age: int, now: datetime) -> None:
    """Sensitive actions need a user verification in this session within ``max_age``."""
    if not is_fresh(login_session, max_age=max_age, now=now):
        raise ReauthRequired()


def is_fresh(login_session: LoginSession | None, *, max_age: int, now: datetime) -> bool:
    """Whether the session verified its user within the last ``max_age`` seconds."""
    if login_session is None or login_session.verified_at is None:
        return False
    return now - login_session.verified_at <= timedelta(seconds=max_age)
