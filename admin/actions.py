"""What an administrator does to an ID, its devices and sessions, on the features' own
functions (``webauthn.devices.block``, ``unblock``, ``remove_by_admin``;
``webauthn.account.deactivate_user``, ``reactivate_user``, ``erase_user``;
``recovery.backup.reissue_code``). Each is audited with the administrator's ID as
``actor_user_id`` and told to the ID's devices and address like the owner's own change would
be, as an administrator's doing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from admin.errors import ConfirmationMismatch, NoBackupAddress, OwnId, PolicyForbids
from admin.roles import keep_an_admin
from core import events, sessions
from core.context import RequestContext
from core.errors import NotFound
from core.models import User
from core.sessions import SessionPolicy
from recovery.backup import NewCode, reissue_code
from recovery.errors import BackupEmailRequired
from recovery.settings import BackupSettings
from webauthn import account, devices
from webauthn.errors import DeviceNotFound
from webauthn.models import Device, DeviceStatus


def find_device(db: Session, device_id: int) -> tuple[Device, User]:
    """A device that is not removed, and its (not deleted) ID; ``DeviceNotFound`` otherwise."""
    row = db.execute(
        sa.select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(
            Device.id == device_id,
            Device.status != DeviceStatus.REMOVED,
            User.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise DeviceNotFound("No such device.")
    return row[0], row[1]


def block_device(db: Session, ctx: RequestContext, device: Device, *, actor: User) -> Device:
    devices.block(db, ctx, device, via="admin", actor_user_id=actor.id)
    return device


def unblock_device(db: Session, ctx: RequestContext, device: Device, *, actor: User) -> Device:
    return devices.unblock(
        db, ctx, device_id=device.id, actor=f"admin:{actor.username}", actor_user_id=actor.id
    )


def remove_device(db: Session, ctx: RequestContext, device: Device, *, actor: User) -> None:
    devices.remove_by_admin(db, ctx, device, actor_user_id=actor.id)


def end_sessions(
    db: Session, ctx: RequestContext, user: User, *, actor: User, policy: SessionPolicy
) -> int:
    """Ends every live session of ``user`` (the websites' tokens issued through them die
    with them); returns how many."""
    count = sessions.end_all_sessions(db, user_id=user.id, policy=policy, now=ctx.now)
    events.emit(
        db,
        events.SessionsEndedByAdmin(ctx=ctx, user_id=user.id, ended=count, actor_user_id=actor.id),
    )
    return count


def end_session(
    db: Session,
    ctx: RequestContext,
    user: User,
    session_id: int,
    *,
    actor: User,
    policy: SessionPolicy,
) -> None:
    """Ends one live session of ``user`` (and the websites' tokens issued through it);
    ``NotFound`` when ``user`` has no such live session."""
    if (
        sessions.end_session(db, user_id=user.id, session_id=session_id, policy=policy, now=ctx.now)
        is None
    ):
        raise NotFound("That session has ended already, or is not this ID's.")
    events.emit(
        db,
        events.SessionsEndedByAdmin(
            ctx=ctx, user_id=user.id, ended=1, actor_user_id=actor.id, session_id=session_id
        ),
    )


def _not_self(user: User, actor: User) -> None:
    if user.id == actor.id:
        raise OwnId()


def deactivate(
    db: Session, ctx: RequestContext, user: User, *, actor: User, policy: SessionPolicy
) -> User:
    """Deactivates ``user`` (data kept; no sign-in, recovery or token until reactivated).
    Never the administrator's own ID, nor the last admin who can sign in."""
    _not_self(user, actor)
    keep_an_admin(db, user)
    account.deactivate_user(db, ctx, user=user, actor_user_id=actor.id, policy=policy)
    return user


def reactivate(db: Session, ctx: RequestContext, user: User, *, actor: User) -> User:
    account.reactivate_user(db, ctx, user=user, actor_user_id=actor.id)
    return user


def delete(db: Session, ctx: RequestContext, user: User, *, actor: User, confirm: str) -> None:
    """Deletes ``user`` for good once ``confirm`` is its username typed exactly. Never the
    administrator's own ID (the account page does that), nor the last admin."""
    if confirm != user.username:
        raise ConfirmationMismatch()
    _not_self(user, actor)
    keep_an_admin(db, user)
    account.erase_user(db, ctx, user=user, actor_user_id=actor.id)


def reissue_backup_code(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    user: User,
    *,
    deliver: str,
    allowed_channels: list[str],
    actor: User,
) -> NewCode:
    """A new backup code for ``user``, by a channel the policy (``BACKUP_REISSUE_CHANNELS``)
    allows: mailed to the confirmed backup address, or returned to be shown once to the
    administrator. The old code stops working at once."""
    if deliver not in allowed_channels:
        raise PolicyForbids()
    try:
        return reissue_code(
            db,
            settings,
            ctx,
            user=user,
            deliver=deliver,
            actor=f"admin:{actor.username}",
            actor_user_id=actor.id,
        )
    except BackupEmailRequired as error:
        raise NoBackupAddress() from error
