"""Verifying an assertion: a passkey's answer to a sign-in or step-up challenge.

``verify_assertion`` consumes the pending challenge, finds the device, runs the ceremony's
checks (``webauthn.ceremony``) and moves the device's counter forward. It starts no session:
what a verified assertion leads to (a session cookie, a fresh step-up, an authorization code)
is the caller's business.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import events
from core.context import RequestContext
from core.models import User
from core.orm import rowcount
from webauthn import challenges
from webauthn.ceremony import (
    CounterRegression,
    StoredCredential,
    parse_authentication,
    verify_authentication,
)
from webauthn.errors import (
    AccountDeactivated,
    AuthenticationFailed,
    DeviceBlocked,
    DeviceRemoved,
)
from webauthn.models import ChallengePurpose, Device, DeviceStatus
from webauthn.settings import Settings

# What a passkey of a device in that status hears when it tries to sign in (after its
# signature verified).
_REFUSED_STATUS = {DeviceStatus.BLOCKED: DeviceBlocked, DeviceStatus.REMOVED: DeviceRemoved}


@dataclass(frozen=True)
class VerifiedAssertion:
    """A verified assertion: the device that made it, its ID, whether the user was verified
    (PIN, biometrics) in it and, for a ceremony run in a website's frame, the page it ran in
    (``topOrigin``, one of the ``top_origins`` the caller gave)."""

    device: Device
    user: User
    user_verified: bool
    top_origin: str | None = None


def verify_assertion(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    raw: Mapping[str, Any],
    *,
    purpose: ChallengePurpose,
    top_origins: Collection[str] | None = None,
) -> VerifiedAssertion:
    """Consumes the pending challenge of ``purpose`` and runs every check on an assertion; on
    success the device's counter, backup state and last use are updated, and the device, its
    ID and whether the user was verified are returned. Starts no session. Sign-in and step-up
    share it.

    ``top_origins``: None (sign-in, step-up) refuses a response made in a frame; the embedded
    sign-in passes the website's origins and accepts only a response made in a cross-origin
    frame on one of them (``webauthn.ceremony.verify_authentication``)."""
    response = parse_authentication(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=purpose,
        browser=ctx.client.browser,
        now=ctx.now,
    )
    if pending is None:
        raise AuthenticationFailed(detail="no pending ceremony for this challenge and browser")
    row = db.execute(
        sa.select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(Device.credential_id == response.raw_id)
    ).first()
    if row is None:
        raise AuthenticationFailed(detail="unknown credential")
    device, user = row
    if user.deleted_at is not None:
        # Like an unknown credential: a deleted ID's tombstone gathers no new audit rows.
        raise AuthenticationFailed(detail="the ID was deleted")
    username_first = bool(pending.state.get("username_first"))
    if username_first and device.user_id != pending.user_id:
        # A credential of one ID can never complete a ceremony begun for another.
        raise AuthenticationFailed(detail="credential belongs to another ID")
    stored = StoredCredential(
        credential_id=device.credential_id,
        public_key=device.public_key,
        aaguid=device.aaguid,
        sign_count=device.sign_count,
        backup_eligible=device.backup_eligible,
        user_handle=user.user_handle,
    )
    received_count = response.response.authenticator_data.counter
    try:
        assertion = verify_authentication(
            settings.rp,
            response,
            raw,
            challenge=pending.challenge,
            stored=stored,
            user_handle_required=not username_first,
            top_origins=top_origins,
        )
    except CounterRegression as exc:
        if device.status == DeviceStatus.ACTIVE:
            _flag_clone(db, ctx, device, user, received_count, exc)
        assertion = None
    if device.status != DeviceStatus.ACTIVE:
        # Recorded only after the signature verified: without the key nobody can write to an
        # ID's audit trail by replaying a blocked device's (public) credential id.
        events.emit(
            db,
            events.SignInFailed(
                ctx=ctx,
                user_id=user.id,
                device_id=device.id,
                reason=f"device_{device.status}",
                device_name=device.name,
            ),
        )
        refused = _REFUSED_STATUS.get(device.status, AuthenticationFailed)
        raise refused(detail=f"device is {device.status}", keep_changes=True)
    if assertion is None:  # unreachable: a regression on an active device raised above
        raise AuthenticationFailed(detail="no assertion")
    if user.deactivated_at is not None:
        # After the signature verified, like a blocked device: whoever learns it holds the key.
        events.emit(
            db,
            events.SignInFailed(
                ctx=ctx,
                user_id=user.id,
                device_id=device.id,
                reason="account_deactivated",
                device_name=device.name,
            ),
        )
        raise AccountDeactivated(detail="the ID is deactivated", keep_changes=True)
    if not _advance_counter(db, device, assertion, ctx.now):
        status_now = db.scalar(sa.select(Device.status).where(Device.id == device.id))
        if status_now != DeviceStatus.ACTIVE:  # blocked or removed meanwhile
            refused = _REFUSED_STATUS.get(status_now or DeviceStatus.REMOVED, AuthenticationFailed)
            raise refused(detail=f"device became {status_now}")
        # Another sign-in with the same or a higher counter won between our read and this
        # write (two workers, the same assertion counter): exactly one may win.
        _flag_clone(
            db,
            ctx,
            device,
            user,
            received_count,
            CounterRegression(detail="sign counter raced by a concurrent sign-in"),
        )
    return VerifiedAssertion(device, user, assertion.user_verified, assertion.top_origin)


def _advance_counter(db: Session, device: Device, assertion: Any, now: datetime) -> bool:
    """Stores the new counter only if it still moves forward (§7.2 step 22) as one conditional
    UPDATE, so that of two concurrent sign-ins with the same counter exactly one wins. An
    authenticator without a counter (0 stored, 0 received) always passes."""
    table = cast(sa.Table, Device.__table__)
    new_count = assertion.sign_count
    moves_forward = table.c.sign_count < new_count if new_count else table.c.sign_count == 0
    result = db.execute(
        sa.update(table)
        .where(table.c.id == device.id, table.c.status == DeviceStatus.ACTIVE, moves_forward)
        .values(sign_count=new_count, backed_up=assertion.backed_up, last_used_at=now)
    )
    if rowcount(result) != 1:
        return False
    # The row is written; keep the loaded object in step without another UPDATE.
    for key, value in (
        ("sign_count", new_count),
        ("backed_up", assertion.backed_up),
        ("last_used_at", now),
    ):
        set_committed_value(device, key, value)
    return True


def _flag_clone(
    db: Session,
    ctx: RequestContext,
    device: Device,
    user: User,
    received_count: int,
    exc: CounterRegression,
) -> None:
    """Flags a possibly cloned device, records it, and refuses the sign-in (keeping the flag)."""
    stored_count = db.scalar(sa.select(Device.sign_count).where(Device.id == device.id))
    device.flagged = True
    events.emit(
        db,
        events.DeviceFlagged(
            ctx=ctx,
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            stored_count=stored_count,
            received_count=received_count,
        ),
    )
    exc.keep_changes = True
    raise exc
