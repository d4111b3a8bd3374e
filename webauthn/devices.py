"""The ID's devices (its passkeys and security keys): adding one, listing, renaming, removing,
blocking and unblocking. Also what every ceremony that stores a new credential shares:
building the device row, refusing a credential already registered, and remembering which
browsers a device was used in. (How a device is shown in JSON is ``webauthn.schemas.DeviceOut``.)

Statuses: ``active`` signs in; ``pending`` waits for a pairing's approval; ``blocked`` (by its
owner or a mailed link) and ``removed`` never sign in again. Removed devices stay as rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from fido2.utils import websafe_encode
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from core import events, sessions
from core.context import RequestContext
from core.errors import InvalidInput, NotFound
from core.models import User
from core.users import TextRule
from webauthn import challenges, metadata
from webauthn.ceremony import parse_registration, registration_options, verify_registration
from webauthn.errors import (
    AlreadyRegistered,
    DeviceNotFound,
    LastDevice,
    RegistrationFailed,
    UsernameTaken,
)
from webauthn.models import ChallengePurpose, Device, DeviceBrowser, DeviceStatus
from webauthn.settings import Settings, require_fresh

# A device's name, once its whitespace is collapsed (pages render it as the inputs' maxlength).
DEVICE_NAME = TextRule(max_length=64)
DEFAULT_DEVICE_NAME = "Passkey"


def normalise_device_name(name: str | None, *, required: bool = False) -> str:
    name = " ".join((name or "").split())
    if not name:
        if required:
            raise InvalidInput("A device name cannot be empty.")
        return DEFAULT_DEVICE_NAME
    if not DEVICE_NAME.matches(name):
        raise InvalidInput(f"A device name is at most {DEVICE_NAME.max_length} characters.")
    return name


# ---- storing a new credential (sign-up, adding, pairing, recovery) --------------------------


def new_device(user: User, credential: Any, name: str, now: datetime) -> Device:
    """The row for a verified new credential: active, named ``name``, last used ``now``."""
    return Device(
        user_id=user.id,
        credential_id=credential.credential_id,
        public_key=credential.public_key,
        alg=credential.alg,
        sign_count=credential.sign_count,
        aaguid=credential.aaguid,
        name=name,
        transports=list(credential.transports),
        backup_eligible=credential.backup_eligible,
        backed_up=credential.backed_up,
        uv_initialized=credential.user_verified,
        attestation_format=credential.attestation_format,
        status=DeviceStatus.ACTIVE,
        flagged=False,
        created_at=now,
        last_used_at=now,
    )


def require_unregistered(db: Session, credential_id: bytes) -> None:
    """A credential id is unique across all IDs (§7.1 step 26)."""
    if db.scalar(sa.select(Device.id).where(Device.credential_id == credential_id)) is not None:
        raise AlreadyRegistered(detail="credential id already registered")


def add_unique(db: Session, row: object) -> None:
    """Adds ``row`` and flushes it; a unique-constraint race lost to a concurrent request reads
    as the same error the pre-check gives. The insert runs in a SAVEPOINT, so a lost race
    undoes only itself: the caller's transaction stays usable and is still the caller's to end
    (services never commit or roll back; app.py's error handler rolls the request back)."""
    try:
        with db.begin_nested():  # flushes what is pending first, outside the savepoint
            db.add(row)
    except IntegrityError as exc:
        if "username" in str(exc.orig).lower():
            raise UsernameTaken() from exc
        raise AlreadyRegistered(detail=str(exc.orig)) from exc


def remember_browser(db: Session, device_id: int, browser: bytes, now: datetime) -> bool:
    """Records that ``device`` was used in this browser; True the first time (a sign-in from
    a device the ID has not used before on that browser)."""
    table = cast(sa.Table, DeviceBrowser.__table__)
    known = db.execute(
        sa.select(table.c.device_id).where(
            table.c.device_id == device_id, table.c.browser == browser
        )
    ).first()
    if known is not None:
        return False
    db.execute(sa.insert(table).values(device_id=device_id, browser=browser, first_seen_at=now))
    return True


# ---- devices -------------------------------------------------------------------------------


def list_devices(db: Session, user: User) -> list[Device]:
    """The ID's devices as its owner sees them: removed ones are kept as rows (their ids are
    never reused) but are gone for the owner."""
    return list(
        db.scalars(
            sa.select(Device)
            .where(Device.user_id == user.id, Device.status != DeviceStatus.REMOVED)
            .options(undefer(Device.mds_name))
            .order_by(Device.id)
        )
    )


def begin_add_device(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    *,
    user: User,
    device_name: str | None,
    purpose: ChallengePurpose = ChallengePurpose.ADD_DEVICE,
) -> dict[str, Any]:
    """Options to add a device; ``device_name`` is kept with the challenge and used unless
    the completing request names the device itself. ``purpose`` RECOVER is for recovery,
    whose new device is announced by recovery's own events, and PAIR for pairing (approved
    later by a verified device). A signed-in ID adding a device (ADD_DEVICE) changes what can
    sign in to it, so its session needs a fresh user verification, at begin and at complete."""
    if purpose == ChallengePurpose.ADD_DEVICE:
        require_fresh(ctx.login_session, settings, ctx.now)
    state = {} if device_name is None else {"device_name": normalise_device_name(device_name)}
    devices = list_devices(db, user)
    challenge = challenges.issue(
        db,
        purpose=purpose,
        browser=ctx.client.browser,
        ttl=settings.challenge_ttl,
        now=ctx.now,
        user_id=user.id,
        state=state,
    )
    return registration_options(
        settings.rp,
        challenge=challenge,
        user_handle=user.user_handle,
        username=user.username,
        display_name=user.display_name,
        exclude=[d.credential_id for d in devices],
    )


def complete_add_device(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    raw: Mapping[str, Any],
    *,
    user: User,
    device_name: str | None,
    purpose: ChallengePurpose = ChallengePurpose.ADD_DEVICE,
) -> Device:
    client, now = ctx.client, ctx.now
    if purpose == ChallengePurpose.ADD_DEVICE:
        require_fresh(ctx.login_session, settings, now)
    if device_name is not None:
        device_name = normalise_device_name(device_name)
    response = parse_registration(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=purpose,
        browser=client.browser,
        now=now,
    )
    if pending is None or pending.user_id != user.id:
        raise RegistrationFailed(detail="no pending device registration for this ID and browser")
    if device_name is None:
        device_name = normalise_device_name(pending.state.get("device_name"))
    credential = verify_registration(settings.rp, response, raw, challenge=pending.challenge)
    metadata.check_new_credential(db, settings, credential, now)
    require_unregistered(db, credential.credential_id)
    device = new_device(user, credential, device_name, now)
    # A recovered device signs in with this very ceremony; an added or paired one has not
    # been used yet.
    device.last_used_at = now if purpose == ChallengePurpose.RECOVER else None
    add_unique(db, device)
    remember_browser(db, device.id, client.browser, now)
    if purpose == ChallengePurpose.ADD_DEVICE:
        events.emit(
            db,
            events.DeviceAdded(
                ctx=ctx, user_id=user.id, device_id=device.id, device_name=device.name
            ),
        )
    return device


def _own_device(db: Session, user: User, device_id: int) -> Device:
    device = db.scalar(
        sa.select(Device).where(
            Device.id == device_id, Device.user_id == user.id, Device.status != DeviceStatus.REMOVED
        )
    )
    if device is None:
        raise DeviceNotFound()
    return device


def rename_device(
    db: Session, ctx: RequestContext, *, user: User, device_id: int, name: str
) -> Device:
    name = normalise_device_name(name, required=True)
    device = _own_device(db, user, device_id)
    old_name, device.name = device.name, name
    events.emit(
        db,
        events.DeviceRenamed(
            ctx=ctx, user_id=user.id, device_id=device.id, old_name=old_name, device_name=name
        ),
    )
    return device


def remove_device(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, device_id: int
) -> None:
    """Unpairs a device and ends its sessions (needs a fresh user verification). The last
    active device stays: an ID without one could only come back through recovery."""
    now = ctx.now
    require_fresh(ctx.login_session, settings, now)
    device = _own_device(db, user, device_id)
    if device.status == DeviceStatus.ACTIVE:
        others = db.scalar(
            sa.select(sa.func.count(Device.id)).where(
                Device.user_id == user.id,
                Device.status == DeviceStatus.ACTIVE,
                Device.id != device.id,
            )
        )
        if not others:
            raise LastDevice()
    sessions.revoke_device_sessions(db, device.id, now)
    events.emit(
        db,
        events.DeviceRemoved(
            ctx=ctx,
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            credential_id=websafe_encode(device.credential_id),
        ),
    )
    _mark_removed(device, now)
    db.flush()


def remove_by_admin(
    db: Session, ctx: RequestContext, device: Device, *, actor_user_id: int
) -> None:
    """An administrator unpairs ``device`` at any point, the ID's last one included (it then
    comes back through recovery or an invitation): its sessions end, every other device and
    the address are told."""
    sessions.revoke_device_sessions(db, device.id, ctx.now)
    events.emit(
        db,
        events.DeviceRemoved(
            ctx=ctx,
            user_id=device.user_id,
            device_id=device.id,
            device_name=device.name,
            credential_id=websafe_encode(device.credential_id),
            reason="admin",
            actor_user_id=actor_user_id,
        ),
    )
    _mark_removed(device, ctx.now)
    db.flush()


def _mark_removed(device: Device, now: datetime) -> None:
    """Removed devices stay as rows: their ids are never given to another ID's device (an old
    notification or link names exactly this one), and their passkey hears why it cannot sign
    in."""
    device.status, device.removed_at = DeviceStatus.REMOVED, now


def block_device(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, device_id: int
) -> Device:
    """Blocks a device of the signed-in ID at once and for good (needs a fresh user
    verification)."""
    require_fresh(ctx.login_session, settings, ctx.now)
    device = _own_device(db, user, device_id)
    block(db, ctx, device, via="account")
    return device


def block(
    db: Session,
    ctx: RequestContext,
    device: Device,
    *,
    via: str,
    actor_user_id: int | None = None,
) -> bool:
    """Blocks ``device``: it cannot sign in, its sessions end now, only an administrator can
    unblock it. False when it was already blocked or is removed (nothing changes).
    ``actor_user_id``: the administrator who did it (``via="admin"``)."""
    now = ctx.now
    if device.status in (DeviceStatus.BLOCKED, DeviceStatus.REMOVED):
        return False
    was_pending = device.status == DeviceStatus.PENDING
    device.status, device.blocked_at = DeviceStatus.BLOCKED, now
    sessions.revoke_device_sessions(db, device.id, now)
    if not was_pending:
        events.emit(
            db,
            events.DeviceBlocked(
                ctx=ctx,
                user_id=device.user_id,
                device_id=device.id,
                device_name=device.name,
                via=via,
                credential_id=websafe_encode(device.credential_id),
                actor_user_id=actor_user_id,
            ),
        )
    db.flush()
    return True


def remove_other_devices(
    db: Session, ctx: RequestContext, *, user: User, keep_device_id: int
) -> list[str]:
    """Removes every device of the ID but ``keep_device_id`` and ends their sessions (a
    restore after a lost or stolen device). Returns the removed devices' names."""
    now = ctx.now
    removed = []
    for device in list_devices(db, user):
        if device.id == keep_device_id:
            continue
        sessions.revoke_device_sessions(db, device.id, now)
        events.emit(
            db,
            events.DeviceRemoved(
                ctx=ctx,
                user_id=user.id,
                device_id=device.id,
                device_name=device.name,
                reason="restore",
            ),
        )
        removed.append(device.name)
        _mark_removed(device, now)
    db.flush()
    return removed


def unblock(
    db: Session,
    ctx: RequestContext,
    *,
    device_id: int,
    actor: str,
    actor_user_id: int | None = None,
) -> Device:
    """An administrator (``actor``) unblocks a device (the owner blocked their last one by
    mistake, or locked themselves out): it can sign in again. Audited; every device and the
    address are told, like any device the ID gains."""
    device = db.scalar(
        sa.select(Device).where(Device.id == device_id, Device.status == DeviceStatus.BLOCKED)
    )
    if device is None:
        raise NotFound("No blocked device with that id.")
    device.status, device.blocked_at = DeviceStatus.ACTIVE, None
    db.flush()
    events.emit(
        db,
        events.DeviceUnblocked(
            ctx=ctx,
            user_id=device.user_id,
            device_id=device.id,
            device_name=device.name,
            actor=actor,
            actor_user_id=actor_user_id,
        ),
    )
    return device
