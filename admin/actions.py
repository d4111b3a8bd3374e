"""What an administrator does to an ID's devices and sessions, on the passkey feature's own
functions (``webauthn.devices.block``, ``unblock``, ``remove_by_admin``). Each is audited with
the administrator's ID as ``actor_user_id`` and told to the ID's devices and address like the
owner's own change would be."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events, sessions
from core.context import RequestContext
from core.models import User
from core.sessions import SessionPolicy
from webauthn import devices
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
