"""Restoring or duplicating an ID on a new device (recovery): the backup code, then a one-time
code mailed to the ID's address, then the new passkey, in that order and in one browser.

1. ``begin_recovery``: the username and backup code; an unknown username and a wrong code fail
   the same way, after the same work. A flow starts and the email code is mailed.
2. ``verify_recovery_code``: the mailed code of this browser's flow (five wrong tries void it).
3. ``recovery_options`` / ``complete_recovery``: the new passkey. Restore removes the other
   devices; duplicate keeps them. The used backup code is replaced and the session starts.

Every secret is stored as a keyed hash, compared in constant time, and consumed with a
conditional UPDATE whose row count decides who won; a flow's stage moves forward the same way.
Failures are throttled as ``recovery.throttling`` explains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import User
from core.orm import rowcount
from core.users import TYPED_USERNAME, find_user
from recovery import codes, otp
from recovery.backup import NewCode, backup_row, deliver_code, require_enabled
from recovery.email_codes import (
    consume_email_code,
    issue_email_code,
    live_email_code,
    wrong_email_code,
)
from recovery.errors import (
    BackupCodeMismatch,
    RecoveryCodeVoided,
    RecoveryEnded,
    RecoveryFailed,
    WrongRecoveryCode,
)
from recovery.models import (
    BackupCode,
    EmailCodePurpose,
    FailureStep,
    FlowStage,
    RecoveryFlow,
)
from recovery.settings import BackupSettings
from recovery.throttling import (
    check_throttle,
    client_subjects,
    record_failure,
    recovery_code_subjects,
)
from webauthn import devices
from webauthn.models import ChallengePurpose, Device
from webauthn.settings import Settings
from webauthn.signin import start_session


class RecoveryMode(StrEnum):
    """What the new device does to the ID's others: restore removes them, duplicate keeps them."""

    RESTORE = "restore"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Recovered:
    user: User
    device: Device
    mode: RecoveryMode
    new_code: NewCode
    session_token: str


def check_mode(mode: str) -> RecoveryMode:
    """Restore removes the ID's other devices; duplicate keeps them."""
    try:
        return RecoveryMode(mode)
    except ValueError:
        raise InvalidInput(
            "mode must be " + " or ".join(f"'{each}'" for each in RecoveryMode)
        ) from None


# ---- recovery: backup code → email code → new passkey --------------------------------------


def begin_recovery(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, username: str, backup_code: str
) -> str:
    """Step 1. An unknown username and a wrong code fail the same way, after the same work."""
    client, now = ctx.client, ctx.now
    require_enabled(settings)
    if len(username) > TYPED_USERNAME.max_length or len(backup_code) > codes.TYPED_MAX_LENGTH:
        raise InvalidInput("Username or backup code too long.")
    # Per client only: the username plays no part, so a stranger's wrong codes never hold up
    # the owner (and an unknown username is throttled exactly like a real one).
    subjects = client_subjects(settings, client)
    check_throttle(db, subjects, now)
    user = find_user(db, username)
    if user is not None and user.deactivated_at is not None:
        user = None  # no recovery for a deactivated ID, told exactly like an unknown one
    row = backup_row(db, user.id if user else None)
    if user is None or not codes.matches(
        settings.secret_key, backup_code, row.code_hash if row else None
    ):
        record_failure(db, subjects, FailureStep.BACKUP_CODE, now)
        # Audited for unknown usernames too (without an ID): the same writes either way.
        events.emit(
            db,
            events.RecoveryFailed(
                ctx=ctx, user_id=user.id if user else None, step=FailureStep.BACKUP_CODE
            ),
        )
        raise BackupCodeMismatch(detail="unknown username or wrong backup code", keep_changes=True)
    assert row is not None
    # One live flow per ID and browser: starting again voids the earlier one.
    db.execute(
        sa.update(RecoveryFlow)
        .where(
            RecoveryFlow.user_id == user.id,
            RecoveryFlow.browser == client.browser,
            RecoveryFlow.stage.in_((FlowStage.CODE_VERIFIED, FlowStage.OTP_VERIFIED)),
        )
        .values(stage=FlowStage.VOID)
        .execution_options(synchronize_session=False)
    )
    flow = RecoveryFlow(
        user_id=user.id,
        browser=client.browser,
        stage=FlowStage.CODE_VERIFIED,
        backup_code_hash=row.code_hash,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.flow_ttl),
    )
    db.add(flow)
    db.flush()
    events.emit(db, events.RecoveryStarted(ctx=ctx, user_id=user.id))
    return issue_email_code(
        db, settings, ctx, user=user, purpose=EmailCodePurpose.RECOVER, flow_id=flow.id
    )


def _live_flow(
    db: Session, *, browser: bytes, stage: FlowStage, now: datetime
) -> RecoveryFlow | None:
    return db.scalar(
        sa.select(RecoveryFlow)
        .where(
            RecoveryFlow.browser == browser,
            RecoveryFlow.stage == stage,
            RecoveryFlow.expires_at > now,
        )
        .order_by(RecoveryFlow.id.desc())
        .limit(1)
    )


def _advance(
    db: Session, flow: RecoveryFlow, *, from_stage: FlowStage, to_stage: FlowStage, **values: Any
) -> bool:
    result = db.execute(
        sa.update(RecoveryFlow)
        .where(RecoveryFlow.id == flow.id, RecoveryFlow.stage == from_stage)
        .values(stage=to_stage, **values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def verify_recovery_code(
    db: Session,
    settings: BackupSettings,
    webauthn_settings: Settings,
    ctx: RequestContext,
    *,
    typed: str,
) -> dict[str, Any]:
    """Step 2: the emailed code of this browser's flow. Five wrong tries void the flow."""
    client, now = ctx.client, ctx.now
    require_enabled(settings)
    flow = _live_flow(db, browser=client.browser, stage=FlowStage.CODE_VERIFIED, now=now)
    if flow is None:
        raise RecoveryEnded(detail="no recovery in progress in this browser")
    user = db.get(User, flow.user_id)
    assert user is not None
    subjects = recovery_code_subjects(settings, user, client)
    check_throttle(db, subjects, now)
    pending = live_email_code(
        db,
        user_id=user.id,
        purposes=(EmailCodePurpose.RECOVER,),
        browser=client.browser,
        now=now,
        flow_id=flow.id,
    )
    if pending is None or not otp.matches(
        settings.secret_key, typed, settings.otp.digits, pending.code_hash
    ):
        voided = pending is not None and wrong_email_code(db, pending, now)
        if voided:
            _advance(db, flow, from_stage=FlowStage.CODE_VERIFIED, to_stage=FlowStage.VOID)
        record_failure(db, subjects, FailureStep.EMAIL_CODE, now)
        events.emit(
            db, events.RecoveryFailed(ctx=ctx, user_id=user.id, step=FailureStep.EMAIL_CODE)
        )
        refusal = RecoveryCodeVoided if voided else WrongRecoveryCode
        raise refusal(detail="wrong or expired email code", keep_changes=True)
    if not consume_email_code(db, pending, now) or not _advance(
        db,
        flow,
        from_stage=FlowStage.CODE_VERIFIED,
        to_stage=FlowStage.OTP_VERIFIED,
        otp_verified_at=now,
    ):
        raise RecoveryFailed(detail="email code already used")
    return recovery_options(db, settings, webauthn_settings, ctx)


@dataclass(frozen=True)
class RecoveryStage:
    """Where this browser's recovery is: 1 (none live), 2 (backup code accepted, email code
    awaited; ``sent_to`` is the masked address) or 3 (both codes given: the new passkey)."""

    step: int
    sent_to: str | None = None


def recovery_stage(db: Session, ctx: RequestContext) -> RecoveryStage:
    client, now = ctx.client, ctx.now
    if _live_flow(db, browser=client.browser, stage=FlowStage.OTP_VERIFIED, now=now) is not None:
        return RecoveryStage(3)
    flow = _live_flow(db, browser=client.browser, stage=FlowStage.CODE_VERIFIED, now=now)
    user = db.get(User, flow.user_id) if flow is not None else None
    if flow is None or user is None:
        return RecoveryStage(1)
    # The address its code actually went to (it may differ from today's address).
    code = live_email_code(
        db,
        user_id=user.id,
        purposes=(EmailCodePurpose.RECOVER,),
        browser=client.browser,
        now=now,
        flow_id=flow.id,
    )
    return RecoveryStage(2, otp.mask_email(code.address if code and code.address else user.email))


def _verified_flow(db: Session, ctx: RequestContext) -> tuple[RecoveryFlow, User]:
    """This browser's recovery whose two factors were both given, and its ID."""
    flow = _live_flow(db, browser=ctx.client.browser, stage=FlowStage.OTP_VERIFIED, now=ctx.now)
    user = db.get(User, flow.user_id) if flow is not None else None
    if flow is None or user is None:
        raise RecoveryEnded(detail="no verified recovery in this browser")
    return flow, user


def recovery_options(
    db: Session, settings: BackupSettings, webauthn_settings: Settings, ctx: RequestContext
) -> dict[str, Any]:
    """Creation options for the new device of a verified flow (again after a cancelled
    browser dialog: no new email code needed)."""
    require_enabled(settings)
    flow, user = _verified_flow(db, ctx)
    options = devices.begin_add_device(
        db,
        webauthn_settings,
        ctx,
        user=user,
        device_name=None,
        purpose=ChallengePurpose.RECOVER,
    )
    return {**options, "restore_forced": settings.restore_removes_old_devices}


def complete_recovery(
    db: Session,
    settings: BackupSettings,
    webauthn_settings: Settings,
    ctx: RequestContext,
    raw: Mapping[str, Any],
    *,
    mode: str,
    device_name: str | None,
) -> Recovered:
    """Step 3: the new passkey. Restore removes the other devices and ends their sessions;
    duplicate keeps them. The used backup code is void and a new one is made."""
    now = ctx.now
    require_enabled(settings)
    chosen = check_mode(mode)
    if settings.restore_removes_old_devices:
        chosen = RecoveryMode.RESTORE
    flow, user = _verified_flow(db, ctx)
    device = devices.complete_add_device(
        db,
        webauthn_settings,
        ctx,
        raw,
        user=user,
        device_name=device_name,
        purpose=ChallengePurpose.RECOVER,
    )
    if not _advance(
        db, flow, from_stage=FlowStage.OTP_VERIFIED, to_stage=FlowStage.COMPLETED, completed_at=now
    ):
        raise RecoveryFailed(detail="recovery already completed")
    # Consume exactly the backup code this flow began with: if it was replaced meanwhile
    # (regenerated, re-issued), the flow cannot complete.
    new_plain = codes.generate()
    consumed = db.execute(
        sa.update(BackupCode)
        .where(BackupCode.user_id == user.id, BackupCode.code_hash == flow.backup_code_hash)
        .values(code_hash=codes.hash_code(settings.secret_key, new_plain), code_created_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(consumed) != 1:
        raise RecoveryEnded(detail="the backup code changed during the recovery")
    removed: list[str] = []
    if chosen == RecoveryMode.RESTORE:
        removed = devices.remove_other_devices(db, ctx, user=user, keep_device_id=device.id)
    recovered = events.DeviceRestored if chosen == RecoveryMode.RESTORE else events.DeviceDuplicated
    events.emit(
        db,
        recovered(
            ctx=ctx,
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            removed_devices=tuple(removed),
            to=user.email,
            at=now.isoformat(),
        ),
    )
    # Both factors and a new passkey made with user verification: the session starts fresh.
    token = start_session(
        db, webauthn_settings, ctx, user_id=user.id, device_id=device.id, verified=True
    )
    new_code = deliver_code(db, settings, ctx, user=user, code=new_plain)
    return Recovered(user, device, chosen, new_code, token)
