"""Use cases of the backup function: activate backup, make a new backup code, re-issue a lost
one (administrators), and restore or duplicate an ID on a new device with both factors.

Recovery needs the backup code AND a one-time code mailed to the ID's address, in that order,
in one browser. Every secret is stored as a keyed hash, compared in constant time, and
consumed with a conditional UPDATE whose row count decides who won.

Failures are counted so that nobody can lock out an owner they cannot impersonate. A wrong
backup code (unguessable: 120 bits) is counted only per browser (locks that browser) and per IP
(slows it by a bounded delay, never locks it): an attacker who knows only a username can hold
up its owner's recovery by at most ``throttle.MAX_DELAY`` and only from the attacker's own
address. The per-ID lock guards the email code, and only once a right backup code was given.
The signed-in owner's backup management counts only the owner's own wrong email codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events, sessions
from core.errors import (
    BackupActive,
    BackupDisabled,
    BackupEmailRequired,
    InvalidCode,
    InvalidInput,
    MailCapReached,
    NotFound,
    RecoveryFailed,
    TooManyAttempts,
)
from core.models import AuditEvent, LoginSession, User
from core.security import ClientInfo, keyed_hash
from core.users import find_user
from recovery import codes, mailcap, otp, throttle
from recovery.models import BackupCode, EmailCode, RecoveryFailure, RecoveryFlow
from webauthn import challenges, devices
from webauthn.models import Device
from webauthn.settings import Settings
from webauthn.signin import start_session

ACTIVATE, REGENERATE, RECOVER = "activate", "regenerate", "recover"
CODE_VERIFIED, OTP_VERIFIED, COMPLETED, VOID = "code_verified", "otp_verified", "completed", "void"
RESTORE, DUPLICATE = "restore", "duplicate"


@dataclass(frozen=True)
class BackupSettings:
    secret_key: str
    mode: str
    delivery: str
    prompt_after: int
    restore_removes_old_devices: bool
    otp: otp.OtpPolicy
    flow_ttl: int
    reauth_max_age: int
    per_browser: throttle.ThrottlePolicy  # one browser's failed recovery steps: may lock
    per_ip: throttle.ThrottlePolicy  # one IP's failed recovery steps: delays only
    per_id: throttle.ThrottlePolicy  # one ID's wrong email codes (after a right backup code)
    mail_cap: mailcap.MailCapPolicy = mailcap.MailCapPolicy()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BackupSettings:
        window = config["RECOVERY_WINDOW"]
        return cls(
            secret_key=config["SECRET_KEY"],
            mode=config["BACKUP_MODE"],
            delivery=config["BACKUP_CODE_DELIVERY"],
            prompt_after=config["BACKUP_PROMPT_AFTER_SIGNINS"],
            restore_removes_old_devices=bool(config["RESTORE_REMOVES_OLD_DEVICES"]),
            otp=otp.OtpPolicy(digits=config["OTP_DIGITS"], ttl=config["OTP_TTL"]),
            flow_ttl=config["RECOVERY_FLOW_TTL"],
            reauth_max_age=config["REAUTH_MAX_AGE"],
            per_browser=throttle.ThrottlePolicy(window, lock_after=config["RECOVERY_MAX_FAILURES"]),
            per_ip=throttle.ThrottlePolicy(
                window, free_failures=config["RECOVERY_MAX_FAILURES_PER_IP"]
            ),
            per_id=throttle.ThrottlePolicy(window, lock_after=config["RECOVERY_MAX_FAILURES"]),
            mail_cap=mailcap.MailCapPolicy(
                cooldown=config["MAIL_CODE_COOLDOWN"], per_hour=config["MAIL_CODES_PER_HOUR"]
            ),
        )


@dataclass(frozen=True)
class NewCode:
    """A freshly made backup code: ``code`` when it is to be shown, None when it was mailed."""

    code: str | None
    delivered: str  # "display" | "email"

    def to_json(self) -> dict[str, Any]:
        if self.code is not None:
            return {"backup_code": self.code}
        return {"backup_code": None, "delivered": "email"}


@dataclass(frozen=True)
class Recovered:
    user: User
    device: Device
    mode: str
    new_code: NewCode
    session_token: str


# ---- status and prompt ---------------------------------------------------------------------


def _backup_row(db: Session, user_id: int | None) -> BackupCode | None:
    if user_id is None:
        # The same query shape for a missing ID, so both answers cost the same.
        return db.scalar(sa.select(BackupCode).where(sa.false()))
    return db.get(BackupCode, user_id)


def sign_in_count(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(
                AuditEvent.user_id == user_id, AuditEvent.kind == "signed_in"
            )
        )
        or 0
    )


def should_prompt(db: Session, settings: BackupSettings, user: User) -> bool:
    """Prompt from the Nth passkey sign-in on (sign-up is not one), at every sign-in until
    backup is active; under ``on_enrollment`` at once."""
    if settings.mode == "disabled" or _backup_row(db, user.id) is not None:
        return False
    if settings.mode == "on_enrollment":
        return True
    return sign_in_count(db, user.id) >= settings.prompt_after


def backup_status(db: Session, settings: BackupSettings, user: User) -> dict[str, Any]:
    row = _backup_row(db, user.id)
    return {
        "active": row is not None,
        "activated_at": row.activated_at.isoformat() if row else None,
        "prompt": should_prompt(db, settings, user),
        "mode": settings.mode,
        "delivery": settings.delivery,
    }


# ---- throttling ----------------------------------------------------------------------------


Subjects = list[tuple[bytes, throttle.ThrottlePolicy]]


def _client_subjects(settings: BackupSettings, client: ClientInfo) -> Subjects:
    """The caller of an anonymous recovery step: its browser (may lock) and its IP (slowed
    only, so an office behind one address is not locked out by a colleague's typos)."""
    return [
        (
            keyed_hash(settings.secret_key, "recovery-browser", client.browser.hex()),
            settings.per_browser,
        ),
        (keyed_hash(settings.secret_key, "recovery-ip", client.ip), settings.per_ip),
    ]


def _recovery_code_subjects(settings: BackupSettings, user: User, client: ClientInfo) -> Subjects:
    """Recovery step 2: only a browser that gave the right backup code gets here, so its wrong
    email codes may lock the ID's email-code step (not its backup management, not step 1)."""
    return [
        (keyed_hash(settings.secret_key, "recovery-email-id", str(user.id)), settings.per_id),
        *_client_subjects(settings, client),
    ]


def _owner_subjects(settings: BackupSettings, user: User) -> Subjects:
    """The signed-in owner's backup management counts only wrong email codes typed in the
    owner's own sessions: no anonymous failure can stop the owner from managing backup."""
    return [(keyed_hash(settings.secret_key, "backup-owner", str(user.id)), settings.per_id)]


def _check_throttle(db: Session, subjects: Subjects, now: datetime) -> None:
    for subject, policy in subjects:
        since = now - timedelta(seconds=policy.window)
        failures = list(
            db.scalars(
                sa.select(RecoveryFailure.created_at)
                .where(RecoveryFailure.subject == subject, RecoveryFailure.created_at > since)
                .order_by(RecoveryFailure.created_at)
            )
        )
        decision = throttle.verdict(failures, now, policy)
        if not decision.allowed:
            raise TooManyAttempts(decision.retry_after)


def _record_failure(db: Session, subjects: Subjects, step: str, now: datetime) -> None:
    for subject, _policy in subjects:
        db.add(RecoveryFailure(subject=subject, step=step, created_at=now))
    db.flush()


# ---- email one-time codes ------------------------------------------------------------------


def mail_cap_wait(
    db: Session,
    settings: BackupSettings,
    *,
    user_id: int,
    purpose: str,
    address: str,
    now: datetime,
) -> int:
    """Seconds before a ``purpose`` code may be mailed to ``address`` for ``user_id`` (0: now),
    counted from the codes mailed in the last hour (``recovery.mailcap``)."""
    key = address.lower()
    rows = db.execute(
        sa.select(
            EmailCode.created_at, EmailCode.purpose, EmailCode.address, EmailCode.user_id
        ).where(
            sa.or_(sa.func.lower(EmailCode.address) == key, EmailCode.user_id == user_id),
            EmailCode.created_at > now - mailcap.HOUR,
        )
    ).all()
    to_address = [row for row in rows if (row.address or "").lower() == key]
    return mailcap.wait(
        settings.mail_cap,
        now,
        same_kind_to_address=[row.created_at for row in to_address if row.purpose == purpose],
        to_address=[row.created_at for row in to_address],
        for_id=[row.created_at for row in rows if row.user_id == user_id],
    )


def _issue_email_code(
    db: Session,
    settings: BackupSettings,
    *,
    user: User,
    purpose: str,
    client: ClientInfo,
    now: datetime,
    flow_id: int | None = None,
    to: str | None = None,
    voids: tuple[str, ...] = (),
) -> str:
    """Mails a new code for ``purpose`` to ``to`` (default: the ID's address); earlier unused
    codes of that purpose (and of ``voids``) are void. Refused with 429 ``too_many_mails``
    while the mail cap holds (nothing changes then)."""
    address = to or user.email
    retry_after = mail_cap_wait(
        db, settings, user_id=user.id, purpose=purpose, address=address, now=now
    )
    if retry_after:
        raise MailCapReached(retry_after, detail=f"mail cap: {purpose} code")
    db.execute(
        sa.update(EmailCode)
        .where(
            EmailCode.user_id == user.id,
            EmailCode.purpose.in_((purpose, *voids)),
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
        )
        .values(voided_at=now)
    )
    code = otp.generate(settings.otp.digits)
    db.add(
        EmailCode(
            user_id=user.id,
            purpose=purpose,
            address=address,
            code_hash=otp.hash_code(settings.secret_key, code),
            browser=client.browser,
            flow_id=flow_id,
            created_at=now,
            expires_at=settings.otp.expiry(now),
        )
    )
    db.flush()
    events.email_code_issued.send(
        None,
        db=db,
        user_id=user.id,
        to=address,
        code=code,
        purpose=purpose,
        valid_minutes=max(1, settings.otp.ttl // 60),
        client=client,
    )
    return otp.mask_email(address)


def _live_email_code(
    db: Session,
    *,
    user_id: int,
    purposes: tuple[str, ...],
    browser: bytes,
    now: datetime,
    flow_id: int | None = None,
) -> EmailCode | None:
    query = sa.select(EmailCode).where(
        EmailCode.user_id == user_id,
        EmailCode.purpose.in_(purposes),
        EmailCode.browser == browser,
        EmailCode.used_at.is_(None),
        EmailCode.voided_at.is_(None),
        EmailCode.expires_at > now,
    )
    if flow_id is not None:
        query = query.where(EmailCode.flow_id == flow_id)
    return db.scalar(query.order_by(EmailCode.id.desc()).limit(1))


def _consume_email_code(db: Session, code: EmailCode, now: datetime) -> bool:
    """Marks the code used if nobody else did first: of 20 parallel right answers, one wins."""
    result = db.execute(
        sa.update(EmailCode)
        .where(EmailCode.id == code.id, EmailCode.used_at.is_(None), EmailCode.voided_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _wrong_email_code(db: Session, code: EmailCode, now: datetime) -> bool:
    """Counts a wrong try; returns True when that voided the code (the 5th wrong try)."""
    db.execute(
        sa.update(EmailCode)
        .where(EmailCode.id == code.id)
        .values(wrong_tries=EmailCode.wrong_tries + 1)
        .execution_options(synchronize_session=False)
    )
    tries = db.scalar(sa.select(EmailCode.wrong_tries).where(EmailCode.id == code.id)) or 0
    if tries >= otp.MAX_WRONG_TRIES:
        db.execute(
            sa.update(EmailCode)
            .where(EmailCode.id == code.id, EmailCode.voided_at.is_(None))
            .values(voided_at=now)
            .execution_options(synchronize_session=False)
        )
        return True
    return False


# ---- activate and regenerate ---------------------------------------------------------------


def _require_enabled(settings: BackupSettings) -> None:
    if settings.mode == "disabled":
        raise BackupDisabled()


def start_activation(
    db: Session, settings: BackupSettings, *, user: User, client: ClientInfo, now: datetime
) -> str:
    """Mails a code to verify the ID's address; the backup code comes after it is typed."""
    _require_enabled(settings)
    if _backup_row(db, user.id) is not None:
        raise BackupActive()
    _require_backup_address(settings, user)
    _check_throttle(db, _owner_subjects(settings, user), now)
    return _issue_email_code(db, settings, user=user, purpose=ACTIVATE, client=client, now=now)


def start_regeneration(
    db: Session,
    settings: BackupSettings,
    *,
    user: User,
    login_session: LoginSession | None,
    client: ClientInfo,
    now: datetime,
) -> str:
    """A new code needs a passkey sign-in within REAUTH_MAX_AGE and the email code again."""
    _require_enabled(settings)
    sessions.require_fresh(login_session, max_age=settings.reauth_max_age, now=now)
    _require_backup_address(settings, user)
    _check_throttle(db, _owner_subjects(settings, user), now)
    return _issue_email_code(db, settings, user=user, purpose=REGENERATE, client=client, now=now)


def confirm_email_code(
    db: Session,
    settings: BackupSettings,
    *,
    user: User,
    typed: str,
    login_session: LoginSession | None,
    client: ClientInfo,
    now: datetime,
) -> NewCode:
    """Checks the mailed code of a pending activation or regeneration and makes the backup
    code, shown once (or mailed under BACKUP_CODE_DELIVERY=email)."""
    _require_enabled(settings)
    subjects = _owner_subjects(settings, user)
    _check_throttle(db, subjects, now)
    pending = _live_email_code(
        db, user_id=user.id, purposes=(ACTIVATE, REGENERATE), browser=client.browser, now=now
    )
    if pending is None:
        raise InvalidCode(detail="no pending email code for this ID and browser")
    if not otp.matches(settings.secret_key, typed, settings.otp.digits, pending.code_hash):
        _wrong_email_code(db, pending, now)
        _record_failure(db, subjects, "email_code", now)
        raise InvalidCode(detail="wrong email code", keep_changes=True)
    if pending.purpose == REGENERATE:
        sessions.require_fresh(login_session, max_age=settings.reauth_max_age, now=now)
    _require_backup_address(settings, user)
    if not _consume_email_code(db, pending, now):
        raise InvalidCode(detail="email code already used")
    _mark_address_proven(db, user, pending, client=client, now=now)
    regenerated = pending.purpose == REGENERATE and _backup_row(db, user.id) is not None
    new_code = _replace_code(db, settings, user=user, client=client, now=now)
    if regenerated:
        _void_open_flows(db, user.id, now)
        events.backup_code_regenerated.send(
            None, db=db, user_id=user.id, client=client, to=user.email
        )
    else:
        events.backup_activated.send(None, db=db, user_id=user.id, client=client)
    return new_code


def _mark_address_proven(
    db: Session, user: User, code: EmailCode, *, client: ClientInfo, now: datetime
) -> None:
    """A code typed back proves the address it was mailed to: the sign-in address, if it
    still is that (codes from before addresses were recorded went to it)."""
    if user.email_verified_at is not None:
        return
    if code.address is not None and code.address.lower() != user.email.lower():
        return
    user.email_verified_at = now
    events.email_verified.send(None, db=db, user_id=user.id, client=client)


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
    *,
    user: User,
    client: ClientInfo,
    now: datetime,
    delivery: str | None = None,
) -> NewCode:
    """Stores a new backup code (activating backup if needed) and delivers it: by policy, or
    as ``delivery`` says."""
    # Before anything changes: a code that cannot be delivered must not replace the old one.
    _require_backup_address(settings, user, delivery)
    code = codes.generate()
    code_hash = codes.hash_code(settings.secret_key, code)
    row = _backup_row(db, user.id)
    if row is None:
        db.add(
            BackupCode(user_id=user.id, code_hash=code_hash, activated_at=now, code_created_at=now)
        )
    else:
        row.code_hash, row.code_created_at = code_hash, now
    db.flush()
    return _deliver(db, settings, user=user, code=code, client=client, delivery=delivery)


def _deliver(
    db: Session,
    settings: BackupSettings,
    *,
    user: User,
    code: str,
    client: ClientInfo,
    delivery: str | None = None,
) -> NewCode:
    to = backup_address(user)
    if (delivery or settings.delivery) == "email" and to is not None:
        events.backup_code_delivered.send(
            None, db=db, user_id=user.id, to=to, code=code, client=client
        )
        return NewCode(None, "email")
    # Shown on screen: the policy says so, or (after a recovery) an ID from before backup
    # addresses has none to mail it to; never mailed to the sign-in address.
    return NewCode(code, "display")


def _void_open_flows(db: Session, user_id: int, now: datetime) -> None:
    """A recovery begun with a code that no longer exists must not complete."""
    db.execute(
        sa.update(RecoveryFlow)
        .where(
            RecoveryFlow.user_id == user_id, RecoveryFlow.stage.in_((CODE_VERIFIED, OTP_VERIFIED))
        )
        .values(stage=VOID)
        .execution_options(synchronize_session=False)
    )


def reissue_code(
    db: Session,
    settings: BackupSettings,
    *,
    username: str,
    deliver: str,
    actor: str,
    now: datetime,
) -> NewCode:
    """An administrator re-issues the backup code of an ID whose owner lost it: the old code
    stops working at once, in-flight recoveries are void, the owner is told by mail."""
    if deliver not in ("display", "email"):
        raise InvalidInput("deliver must be 'display' or 'email'")
    user = find_user(db, username)
    if user is None:
        raise NotFound("No such ID.")
    client = ClientInfo(ip="", user_agent=actor, browser=b"")
    new_code = _replace_code(db, settings, user=user, client=client, now=now, delivery=deliver)
    _void_open_flows(db, user.id, now)
    events.backup_code_reissued.send(
        None,
        db=db,
        user_id=user.id,
        client=client,
        actor=actor,
        delivered=deliver,
        to=user.email,
    )
    return new_code


# ---- recovery: backup code → email code → new passkey --------------------------------------


def begin_recovery(
    db: Session,
    settings: BackupSettings,
    *,
    username: str,
    backup_code: str,
    client: ClientInfo,
    now: datetime,
) -> str:
    """Step 1. An unknown username and a wrong code fail the same way, after the same work."""
    _require_enabled(settings)
    if len(username) > 254 or len(backup_code) > 128:
        raise InvalidInput("Username or backup code too long.")
    # Per client only: the username plays no part, so a stranger's wrong codes never hold up
    # the owner (and an unknown username is throttled exactly like a real one).
    subjects = _client_subjects(settings, client)
    _check_throttle(db, subjects, now)
    user = find_user(db, username)
    row = _backup_row(db, user.id if user else None)
    if user is None or not codes.matches(
        settings.secret_key, backup_code, row.code_hash if row else None
    ):
        _record_failure(db, subjects, "backup_code", now)
        # Audited for unknown usernames too (without an ID): the same writes either way.
        events.recovery_failed.send(
            None, db=db, user_id=user.id if user else None, client=client, step="backup_code"
        )
        raise RecoveryFailed(detail="unknown username or wrong backup code", keep_changes=True)
    assert row is not None
    # One live flow per ID and browser: starting again voids the earlier one.
    db.execute(
        sa.update(RecoveryFlow)
        .where(
            RecoveryFlow.user_id == user.id,
            RecoveryFlow.browser == client.browser,
            RecoveryFlow.stage.in_((CODE_VERIFIED, OTP_VERIFIED)),
        )
        .values(stage=VOID)
        .execution_options(synchronize_session=False)
    )
    flow = RecoveryFlow(
        user_id=user.id,
        browser=client.browser,
        stage=CODE_VERIFIED,
        backup_code_hash=row.code_hash,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.flow_ttl),
    )
    db.add(flow)
    db.flush()
    events.recovery_started.send(None, db=db, user_id=user.id, client=client)
    return _issue_email_code(
        db, settings, user=user, purpose=RECOVER, client=client, now=now, flow_id=flow.id
    )


def _live_flow(db: Session, *, browser: bytes, stage: str, now: datetime) -> RecoveryFlow | None:
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
    db: Session, flow: RecoveryFlow, *, from_stage: str, to_stage: str, **values: Any
) -> bool:
    result = db.execute(
        sa.update(RecoveryFlow)
        .where(RecoveryFlow.id == flow.id, RecoveryFlow.stage == from_stage)
        .values(stage=to_stage, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def verify_recovery_code(
    db: Session,
    settings: BackupSettings,
    webauthn_settings: Settings,
    *,
    typed: str,
    client: ClientInfo,
    now: datetime,
) -> dict[str, Any]:
    """Step 2: the emailed code of this browser's flow. Five wrong tries void the flow."""
    _require_enabled(settings)
    flow = _live_flow(db, browser=client.browser, stage=CODE_VERIFIED, now=now)
    if flow is None:
        raise RecoveryFailed(detail="no recovery in progress in this browser")
    user = db.get(User, flow.user_id)
    assert user is not None
    subjects = _recovery_code_subjects(settings, user, client)
    _check_throttle(db, subjects, now)
    pending = _live_email_code(
        db,
        user_id=user.id,
        purposes=(RECOVER,),
        browser=client.browser,
        now=now,
        flow_id=flow.id,
    )
    if pending is None or not otp.matches(
        settings.secret_key, typed, settings.otp.digits, pending.code_hash
    ):
        if pending is not None and _wrong_email_code(db, pending, now):
            _advance(db, flow, from_stage=CODE_VERIFIED, to_stage=VOID)
        _record_failure(db, subjects, "email_code", now)
        events.recovery_failed.send(None, db=db, user_id=user.id, client=client, step="email_code")
        raise RecoveryFailed(detail="wrong or expired email code", keep_changes=True)
    if not _consume_email_code(db, pending, now) or not _advance(
        db, flow, from_stage=CODE_VERIFIED, to_stage=OTP_VERIFIED, otp_verified_at=now
    ):
        raise RecoveryFailed(detail="email code already used")
    return recovery_options(db, settings, webauthn_settings, client=client, now=now)


@dataclass(frozen=True)
class RecoveryStage:
    """Where this browser's recovery is: 1 (none live), 2 (backup code accepted, email code
    awaited; ``sent_to`` is the masked address) or 3 (both codes given: the new passkey)."""

    step: int
    sent_to: str | None = None


def recovery_stage(db: Session, *, client: ClientInfo, now: datetime) -> RecoveryStage:
    if _live_flow(db, browser=client.browser, stage=OTP_VERIFIED, now=now) is not None:
        return RecoveryStage(3)
    flow = _live_flow(db, browser=client.browser, stage=CODE_VERIFIED, now=now)
    user = db.get(User, flow.user_id) if flow is not None else None
    if flow is None or user is None:
        return RecoveryStage(1)
    # The address its code actually went to (it may differ from today's address).
    code = _live_email_code(
        db, user_id=user.id, purposes=(RECOVER,), browser=client.browser, now=now, flow_id=flow.id
    )
    return RecoveryStage(2, otp.mask_email(code.address if code and code.address else user.email))


def _verified_flow(db: Session, *, client: ClientInfo, now: datetime) -> tuple[RecoveryFlow, User]:
    """This browser's recovery whose two factors were both given, and its ID."""
    flow = _live_flow(db, browser=client.browser, stage=OTP_VERIFIED, now=now)
    user = db.get(User, flow.user_id) if flow is not None else None
    if flow is None or user is None:
        raise RecoveryFailed(detail="no verified recovery in this browser")
    return flow, user


def recovery_options(
    db: Session,
    settings: BackupSettings,
    webauthn_settings: Settings,
    *,
    client: ClientInfo,
    now: datetime,
) -> dict[str, Any]:
    """Creation options for the new device of a verified flow (again after a cancelled
    browser dialog: no new email code needed)."""
    _require_enabled(settings)
    flow, user = _verified_flow(db, client=client, now=now)
    options = devices.begin_add_device(
        db,
        webauthn_settings,
        user=user,
        device_name=None,
        client=client,
        now=now,
        purpose=challenges.RECOVER,
    )
    return {**options, "restore_forced": settings.restore_removes_old_devices}


def complete_recovery(
    db: Session,
    settings: BackupSettings,
    webauthn_settings: Settings,
    raw: Mapping[str, Any],
    *,
    mode: str,
    device_name: str | None,
    client: ClientInfo,
    now: datetime,
    previous_session_token: str | None,
) -> Recovered:
    """Step 3: the new passkey. Restore removes the other devices and ends their sessions;
    duplicate keeps them. The used backup code is void and a new one is made."""
    _require_enabled(settings)
    if mode not in (RESTORE, DUPLICATE):
        raise InvalidInput("mode must be 'restore' or 'duplicate'")
    if settings.restore_removes_old_devices:
        mode = RESTORE
    flow, user = _verified_flow(db, client=client, now=now)
    device = devices.complete_add_device(
        db,
        webauthn_settings,
        raw,
        user=user,
        device_name=device_name,
        client=client,
        now=now,
        purpose=challenges.RECOVER,
    )
    if not _advance(db, flow, from_stage=OTP_VERIFIED, to_stage=COMPLETED, completed_at=now):
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
    if consumed.rowcount != 1:
        raise RecoveryFailed(detail="the backup code changed during the recovery")
    removed: list[str] = []
    if mode == RESTORE:
        removed = devices.remove_other_devices(
            db, user=user, keep_device_id=device.id, client=client, now=now
        )
    event = events.device_restored if mode == RESTORE else events.device_duplicated
    event.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        device_name=device.name,
        removed_devices=removed,
        to=user.email,
        at=now.isoformat(),
    )
    # Both factors and a new passkey made with user verification: the session starts fresh.
    token = start_session(
        db,
        webauthn_settings,
        user_id=user.id,
        device_id=device.id,
        client=client,
        now=now,
        previous_token=previous_session_token,
        verified=True,
    )
    new_code = _deliver(db, settings, user=user, code=new_plain, client=client)
    return Recovered(user, device, mode, new_code, token)
