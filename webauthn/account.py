"""Use cases of the signed-in ID's own panel: its sessions (list, end one, end all others), its
display name, and deleting the ID; and what an administrator does to the ID as a whole
(deleting, deactivating, reactivating).

Deleting keeps the ``users`` row as a tombstone (its id is never reused, its audit trail keeps
an owner) and erases what identifies a person: the username is freed, the address, display
name and user handle are replaced, the audit trail loses IPs, user agents and names. Features
above this one erase their own data on the ``UserDeleted`` event (recovery/erasure.py), and
notify/ mails the goodbye to the address, which the event carries because it is erased next.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import audit, events, sessions, useragent
from core.context import RequestContext
from core.errors import InvalidInput, NotFound
from core.models import User
from core.sessions import SessionPolicy
from core.users import normalise_display_name
from webauthn.models import Challenge, Device, DeviceBrowser, DeviceStatus, Invitation
from webauthn.settings import Settings, require_fresh


@dataclass(frozen=True)
class SessionInfo:
    """One signed-in session as the panel shows it."""

    id: int
    device: str | None
    browser: str | None
    ip: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


# ---- sessions ------------------------------------------------------------------------------


def list_sessions(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User
) -> list[SessionInfo]:
    """The ID's live sessions (not revoked, expired or idle), latest activity first; the
    calling one is marked ``current``."""
    live = sessions.live_sessions(db, user.id, policy=settings.sessions, now=ctx.now)
    current_session_id = ctx.login_session.id if ctx.login_session else None
    device_ids = {s.device_id for s in live if s.device_id is not None}
    names: dict[int, str] = {}
    if device_ids:
        found = db.execute(
            sa.select(Device.id, Device.name).where(
                Device.id.in_(device_ids), Device.user_id == user.id
            )
        )
        names = {device_id: name for device_id, name in found}
    return [
        SessionInfo(
            id=s.id,
            device=names.get(s.device_id) if s.device_id is not None else None,
            browser=useragent.describe(s.user_agent),
            ip=s.ip,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            current=s.id == current_session_id,
        )
        for s in live
    ]


def end_session(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, session_id: int
) -> bool:
    """Ends one of the ID's sessions (needs a fresh user verification). Another ID's session,
    an ended one and an unknown id are all the same 404. Returns True when it was the calling
    session itself (the caller then clears its cookie)."""
    login_session = ctx.login_session
    require_fresh(login_session, settings, ctx.now)
    ended = sessions.end_session(
        db, user_id=user.id, session_id=session_id, policy=settings.sessions, now=ctx.now
    )
    if ended is None:
        raise NotFound("That session has already ended.")
    events.emit(
        db,
        events.SessionEnded(
            ctx=ctx, user_id=user.id, device_id=ended.device_id, session_id=session_id
        ),
    )
    return login_session is not None and session_id == login_session.id


def end_other_sessions(db: Session, settings: Settings, ctx: RequestContext, *, user: User) -> int:
    """Ends every session of the ID but the calling one (needs a fresh user verification);
    returns how many were live."""
    login_session = ctx.login_session
    require_fresh(login_session, settings, ctx.now)
    assert login_session is not None  # a fresh session exists
    ended = sessions.end_other_sessions(
        db, user_id=user.id, keep_id=login_session.id, policy=settings.sessions, now=ctx.now
    )
    if ended:
        events.emit(
            db,
            events.OtherSessionsEnded(
                ctx=ctx, user_id=user.id, device_id=login_session.device_id, ended=ended
            ),
        )
    return ended


# ---- display name --------------------------------------------------------------------------


def change_display_name(db: Session, ctx: RequestContext, *, user: User, display_name: str) -> User:
    """Sets the name shown for the ID (empty: the username). It changes nothing about what can
    sign in, so it needs no fresh verification; it is audited."""
    new_name = normalise_display_name(display_name, user.username)
    if new_name != user.display_name:
        old_name, user.display_name = user.display_name, new_name
        events.emit(
            db,
            events.DisplayNameChanged(
                ctx=ctx,
                user_id=user.id,
                device_id=ctx.client.device_id,
                old_name=old_name,
                display_name=new_name,
            ),
        )
        db.flush()
    return user


def _confirmed_address(user: User) -> str | None:
    """Where news of the ID may be mailed: an unconfirmed address gets verification mail only
    (nobody proved they read it)."""
    return user.email if user.email_verified_at is not None else None


# ---- deleting the ID -----------------------------------------------------------------------


def delete_user(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, confirm: str
) -> None:
    """Deletes the ID at its owner's request: needs the username typed exactly as ``confirm``
    and a fresh user verification (``erase_user`` does the rest)."""
    # The typed name first: a typo should not cost the person a passkey prompt.
    if confirm != user.username:
        raise InvalidInput("Type your username exactly as shown to confirm.")
    require_fresh(ctx.login_session, settings, ctx.now)
    erase_user(db, ctx, user=user)


def erase_user(
    db: Session, ctx: RequestContext, *, user: User, actor_user_id: int | None = None
) -> None:
    """Deletes the ID (its owner's wish, or an administrator's, ``actor_user_id``): every
    session ends, every device is removed, features erase their data, the address is told, and
    the row stays as a tombstone without personal data. The caller checked the confirmation and
    the freshness of whoever asked."""
    login_session, now = ctx.login_session, ctx.now
    events.emit(
        db,
        events.UserDeleted(
            ctx=ctx,
            user_id=user.id,
            device_id=login_session.device_id if login_session and actor_user_id is None else None,
            to=_confirmed_address(user),
            username=user.username,
            actor_user_id=actor_user_id,
        ),
    )
    sessions.revoke_user_sessions(db, user.id, now)
    db.execute(
        sa.update(Device)
        .where(Device.user_id == user.id, Device.status != DeviceStatus.REMOVED)
        .values(status=DeviceStatus.REMOVED, removed_at=now)
    )
    db.execute(sa.delete(Challenge).where(Challenge.user_id == user.id))
    db.execute(
        sa.delete(DeviceBrowser).where(
            DeviceBrowser.device_id.in_(sa.select(Device.id).where(Device.user_id == user.id))
        )
    )
    # The invitation it was created with kept its address and username: erased too.
    db.execute(
        sa.update(Invitation)
        .where(Invitation.used_by_user_id == user.id)
        .values(email="", username=None)
        .execution_options(synchronize_session=False)
    )
    audit.anonymise(db, user.id)
    # Outside the username pattern (':'), so no sign-up can ever collide with a tombstone.
    user.username = user.username_key = f"deleted:{user.id}"
    user.email = ""
    user.email_verified_at = None
    user.display_name = ""
    user.backup_email = None
    user.backup_email_verified_at = None
    # Authenticators keep the old handle; a fresh random one ties nothing to them any more.
    user.user_handle = secrets.token_bytes(32)
    user.deleted_at = now
    db.flush()


# ---- deactivating the ID (an administrator's doing) ----------------------------------------


def deactivate_user(
    db: Session, ctx: RequestContext, *, user: User, actor_user_id: int, policy: SessionPolicy
) -> bool:
    """Stops the ID from being used while keeping all its data: its sessions end (and with
    them the tokens websites got through them), and from now on no passkey signs it in, no
    recovery or pairing completes for it and no token of it is honoured, until
    ``reactivate_user``. False (nothing written) when it was deactivated already."""
    if user.deactivated_at is not None:
        return False
    user.deactivated_at = ctx.now
    ended = sessions.end_all_sessions(db, user_id=user.id, policy=policy, now=ctx.now)
    # Pending ceremonies of the ID (a sign-in begun by username, adding a device) die too.
    db.execute(sa.delete(Challenge).where(Challenge.user_id == user.id))
    events.emit(
        db,
        events.UserDeactivated(
            ctx=ctx,
            user_id=user.id,
            actor_user_id=actor_user_id,
            ended=ended,
            to=_confirmed_address(user),
        ),
    )
    db.flush()
    return True


def reactivate_user(db: Session, ctx: RequestContext, *, user: User, actor_user_id: int) -> bool:
    """Lets the ID sign in again with its active devices; the sessions and tokens that
    deactivating ended stay ended. False (nothing written) when it was not deactivated."""
    if user.deactivated_at is None:
        return False
    user.deactivated_at = None
    events.emit(
        db,
        events.UserReactivated(
            ctx=ctx,
            user_id=user.id,
            actor_user_id=actor_user_id,
            to=_confirmed_address(user),
        ),
    )
    db.flush()
    return True
