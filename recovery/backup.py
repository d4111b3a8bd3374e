"""The backup function of an ID: whether it is active and when to prompt for it, activating it,
making a new backup code (regenerating), an administrator re-issuing a lost one, and delivering
a code (shown once, or mailed to the ID's confirmed backup address).

Activating and regenerating need a code mailed to the sign-in address and typed back in the
same browser (``recovery.email_codes``); a new code replaces the old one in the same statement
and voids any recovery begun with the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events, sessions
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import AuditEvent, User
from recovery import codes, otp
from recovery.email_codes import (
    consume_email_code,
    issue_email_code,
    live_email_code,
    wrong_email_code,
)
from recovery.errors import BackupActive, BackupDisabled, BackupEmailRequired, InvalidCode
from recovery.models import (
    BackupCode,
    EmailCode,
    EmailCodePurpose,
    FailureStep,
    FlowStage,
    RecoveryFlow,
)
from recovery.settings import BackupSettings
from recovery.throttling import check_throttle, owner_subjects, record_failure


@dataclass(frozen=True)
class NewCode:
    """A freshly made backup code: ``code`` when it is to be shown, None when it was mailed."""

    code: str | None
    delivered: str  # "display" | "email"


# ---- status and prompt ---------------------------------------------------------------------


def backup_row(db: Session, user_id: int | None) -> BackupCode | None:
    """The ID's backup code row; None when backup is not active (or there is no ID)."""
    if user_id is None:
        # The same query shape for a missing ID, so both answers cost the same.
        return db.scalar(sa.select(BackupCode).where(sa.false()))
    return db.get(BackupCode, user_id)


def sign_in_count(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(
                AuditEvent.user_id == user_id, AuditEvent.kind == events.SignedIn.name
            )
        )
        or 0
    )


def should_prompt(db: Session, settings: BackupSettings, user: User) -> bool:
    """Prompt from the Nth passkey sign-in on (sign-up is not one), at every sign-in until
    backup is active; under ``on_enrollment`` at once."""
    if settings.mode == "disabled" or backup_row(db, user.id) is not None:
        return False
    if settings.mode == "on_enrollment":
        return True
    return sign_in_count(db, user.id) >= settings.prompt_after


def backup_status(db: Session, settings: BackupSettings, user: User) -> dict[str, Any]:
    row = backup_row(db, user.id)
    return {
        "active": row is not None,
        "activated_at": row.activated_at.isoformat() if row else None,
        "prompt": should_prompt(db, settings, user),
        "mode": settings.mode,
        "delivery": settings.delivery,
    }


# ---- activate and regenerate ---------------------------------------------------------------


def require_enabled(settings: BackupSettings) -> None:
    """Refuses every backup and recovery step under BACKUP_MODE=disabled."""
    if settings.mode == "disabled":
        raise BackupDisabled()


def start_activation(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User
) -> str:
    """Mails a code to verify the ID's address; the backup code comes after it is typed."""
    require_enabled(settings)
    if backup_row(db, user.id) is not None:
        raise BackupActive()
    _require_backup_address(settings, user)
    check_throttle(db, owner_subjects(settings, user), ctx.now)
    return issue_email_code(db, settings, ctx, user=user, purpose=EmailCodePurpose.ACTIVATE)


def start_regeneration(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User
) -> str:
    """A new code needs a passkey sign-in within REAUTH_MAX_AGE and the email code again."""
    require_enabled(settings)
    sessions.require_fresh(ctx.login_session, max_age=settings.reauth_max_age, now=ctx.now)
    _require_backup_address(settings, user)
    check_throttle(db, owner_subjects(settings, user), ctx.now)
    return issue_email_code(db, settings, ctx, user=user, purpose=EmailCodePurpose.REGENERATE)


def confirm_email_code(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User, typed: str
) -> NewCode:
    """Checks the mailed code of a pending activation or regeneration and makes the backup
    code, shown once (or mailed under BACKUP_CODE_DELIVERY=email)."""
    client, now = ctx.client, ctx.now
    require_enabled(settings)
    subjects = owner_subjects(settings, user)
    check_throttle(db, subjects, now)
    pending = live_email_code(
        db,
        user_id=user.id,
        purposes=(EmailCodePurpose.ACTIVATE, EmailCodePurpose.REGENERATE),
        browser=client.browser,
        now=now,
    )
    if pending is None:
        raise InvalidCode(detail="no pending email code for this ID and browser")
    if not otp.matches(settings.secret_key, typed, settings.otp.digits, pending.code_hash):
        wrong_email_code(db, pending, now)
        record_failure(db, subjects, FailureStep.EMAIL_CODE, now)
        raise InvalidCode(detail="wrong email code", keep_changes=True)
    if pending.purpose == EmailCodePurpose.REGENERATE:
        sessions.require_fresh(ctx.login_session, max_age=settings.reauth_max_age, now=now)
    _require_backup_address(settings, user)
    if not consume_email_code(db, pending, now):
        raise InvalidCode(detail="email code already used")
    _mark_address_proven(db, ctx, user, pending)
    regenerated = (
        pending.purpose == EmailCodePurpose.REGENERATE and backup_row(db, user.id) is not None
    )
    new_code = _replace_code(db, settings, ctx, user=user)
    if regenerated:
        void_open_flows(db, user.id, now)
        events.emit(db, events.BackupCodeRegenerated(ctx=ctx, user_id=user.id, to=user.email))
    else:
        events.emit(db, events.BackupActivated(ctx=ctx, user_id=user.id))
    return new_code


def _mark_address_proven(db: Session, ctx: RequestContext, user: User, code: EmailCode) -> None:
    """A code typed back proves the address it was mailed to: the sign-in address, if it
    still is that (codes from before addresses were recorded went to it)."""
    if user.email_verified_at is not None:
        return
    if code.address is not None and code.address.lower() != user.email.lower():
        return
    user.email_verified_at = ctx.now
    events.emit(db, events.EmailVerified(ctx=ctx, user_id=user.id))


def backup_address(user: User) -> str | None:
    """Where a mailed backup code goes: the ID's confirmed backup address, never the sign-in
    address (which receives recovery's email code: one mailbox must not hold both factors)."""
    if user.backup_email and user.backup_email_verified_at is not None:
        if user.backup_email.lower() != user.email.lower():
            return user.backup_email
    return None


def _require_backup_address(
    settings: BackupSettings, user: User, delivery: str | None = None
) -> None:
    if (delivery or settings.delivery) == "email" and backup_address(user) is None:
        raise BackupEmailRequired()


def _replace_code(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    *,
    user: User,
    delivery: str | None = None,
) -> NewCode:
    """Stores a new backup code (activating backup if needed) and delivers it: by policy, or
    as ``delivery`` says."""
    # Before anything changes: a code that cannot be delivered must not replace the old one.
    _require_backup_address(settings, user, delivery)
    code = codes.generate()
    code_hash = codes.hash_code(settings.secret_key, code)
    now = ctx.now
    row = backup_row(db, user.id)
    if row is None:
        db.add(
            BackupCode(user_id=user.id, code_hash=code_hash, activated_at=now, code_created_at=now)
        )
    else:
        row.code_hash, row.code_created_at = code_hash, now
    db.flush()
    return deliver_code(db, settings, ctx, user=user, code=code, delivery=delivery)


def deliver_code(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    *,
    user: User,
    code: str,
    delivery: str | None = None,
) -> NewCode:
    """Mails ``code`` to the backup address (by policy, or as ``delivery`` says) or returns it
    to be shown once."""
    to = backup_address(user)
    if (delivery or settings.delivery) == "email" and to is not None:
        events.emit(db, events.BackupCodeDelivered(ctx=ctx, user_id=user.id, to=to, code=code))
        return NewCode(None, "email")
    # Shown on screen: the policy says so, or (after a recovery) an ID from before backup
    # addresses has none to mail it to; never mailed to the sign-in address.
    return NewCode(code, "display")


def void_open_flows(db: Session, user_id: int, now: datetime) -> None:
    """A recovery begun with a code that no longer exists must not complete."""
    db.execute(
        sa.update(RecoveryFlow)
        .where(
            RecoveryFlow.user_id == user_id,
            RecoveryFlow.stage.in_((FlowStage.CODE_VERIFIED, FlowStage.OTP_VERIFIED)),
        )
        .values(stage=FlowStage.VOID)
        .execution_options(synchronize_session=False)
    )


def reissue_code(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    *,
    user: User,
    deliver: str,
    actor: str,
    actor_user_id: int | None = None,
) -> NewCode:
    """An administrator (``actor``: the command line, or the admin panel's ``actor_user_id``)
    re-issues the backup code of an ID whose owner lost it: the old code stops working at once,
    in-flight recoveries are void, the owner is told by mail. ``deliver``: ``email`` mails it
    to the confirmed backup address (never the sign-in address, which receives recovery's
    other factor), ``display`` returns it to be shown once."""
    if deliver not in ("display", "email"):
        raise InvalidInput("deliver must be 'display' or 'email'")
    new_code = _replace_code(db, settings, ctx, user=user, delivery=deliver)
    void_open_flows(db, user.id, ctx.now)
    events.emit(
        db,
        events.BackupCodeReissued(
            ctx=ctx,
            user_id=user.id,
            actor=actor,
            delivered=deliver,
            to=user.email,
            actor_user_id=actor_user_id,
        ),
    )
    return new_code
