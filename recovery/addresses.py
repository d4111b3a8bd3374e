"""The ID's addresses: confirming the sign-in address, changing it, and the backup address a
mailed backup code goes to (BACKUP_CODE_DELIVERY=email).

Every address is proven the same way: a one-time code mailed to it (``recovery.email_codes``:
keyed hash, one browser, single use, five wrong tries void it, capped per address and per ID)
and typed back in the browser that asked for it. The address a code proves is the
one stored on its row, never one the request names, so a code mailed to A can only ever make A
the ID's address. Until the sign-in address is confirmed it gets verification mail only.

Two IDs may share an address (a family mailbox, a shared inbox at work): addresses are not
unique and are never used to find an ID.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from core import events, sessions
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import User
from core.users import normalise_email
from recovery import otp
from recovery.email_codes import (
    consume_email_code,
    issue_email_code,
    live_email_code,
    mail_cap_wait,
    wrong_email_code,
)
from recovery.errors import EmailAlreadyVerified, InvalidCode
from recovery.models import EmailCode, EmailCodePurpose, FailureStep
from recovery.settings import BackupSettings
from recovery.throttling import check_throttle, owner_subjects, record_failure

# One pending code for the sign-in address at a time: asking for a change voids a pending
# confirmation and the other way round, so one "enter the code" box always means one code.
SIGN_IN_ADDRESS = (EmailCodePurpose.VERIFY_EMAIL, EmailCodePurpose.CHANGE_EMAIL)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


# ---- the sign-in address ---------------------------------------------------------------------


def send_verification(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User
) -> str:
    """Mails a code that confirms the ID's current address (again: sign-up sent the first)."""
    if user.email_verified_at is not None:
        raise EmailAlreadyVerified()
    return issue_email_code(
        db,
        settings,
        ctx,
        user=user,
        purpose=EmailCodePurpose.VERIFY_EMAIL,
        voids=SIGN_IN_ADDRESS,
    )


def start_change(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User, email: str
) -> str:
    """Mails a code to ``email``, the ID's new address once typed back (fresh verification
    needed: whoever controls the address can get the recovery mail)."""
    sessions.require_fresh(ctx.login_session, max_age=settings.reauth_max_age, now=ctx.now)
    email = normalise_email(email)
    if _same(email, user.email):
        raise InvalidInput("That is already your email address.")
    if _same(email, user.backup_email):
        raise InvalidInput(
            "That is your backup email address: one mailbox must not receive both your backup "
            "code and the recovery code."
        )
    return issue_email_code(
        db,
        settings,
        ctx,
        user=user,
        purpose=EmailCodePurpose.CHANGE_EMAIL,
        to=email,
        voids=SIGN_IN_ADDRESS,
    )


def _pending(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    *,
    user: User,
    purposes: tuple[EmailCodePurpose, ...],
    typed: str,
) -> EmailCode:
    """This browser's live code of ``purposes`` if ``typed`` is it; a wrong try is counted
    (the fifth voids the code) and throttled by the owner's own wrong codes, like backup
    activation (never by anonymous recovery failures)."""
    subjects, now = owner_subjects(settings, user), ctx.now
    check_throttle(db, subjects, now)
    pending = live_email_code(
        db, user_id=user.id, purposes=purposes, browser=ctx.client.browser, now=now
    )
    if pending is None:
        raise InvalidCode(detail="no pending address code for this ID and browser")
    if not otp.matches(settings.secret_key, typed, settings.otp.digits, pending.code_hash):
        wrong_email_code(db, pending, now)
        record_failure(db, subjects, FailureStep.EMAIL_CODE, now)
        raise InvalidCode(detail="wrong address code", keep_changes=True)
    return pending


def confirm(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User, typed: str
) -> User:
    """The code of a pending confirmation (the address is confirmed) or change (the code's
    address becomes the ID's, confirmed; the old one is told)."""
    login_session, now = ctx.login_session, ctx.now
    pending = _pending(db, settings, ctx, user=user, purposes=SIGN_IN_ADDRESS, typed=typed)
    if pending.purpose == EmailCodePurpose.CHANGE_EMAIL:
        sessions.require_fresh(login_session, max_age=settings.reauth_max_age, now=now)
    elif not _same(pending.address, user.email):
        raise InvalidCode(detail="the code confirms an address the ID no longer has")
    if not consume_email_code(db, pending, now):
        raise InvalidCode(detail="address code already used")
    assert pending.address is not None
    if pending.purpose == EmailCodePurpose.VERIFY_EMAIL:
        user.email_verified_at = now
        events.emit(db, events.EmailVerified(ctx=ctx, user_id=user.id))
        return user
    old, old_verified = user.email, user.email_verified_at is not None
    user.email, user.email_verified_at = pending.address, now
    events.emit(
        db,
        events.EmailChanged(
            ctx=ctx,
            user_id=user.id,
            device_id=login_session.device_id if login_session else None,
            old_address=otp.mask_email(old),
            new_address=otp.mask_email(user.email),
            # Where notify.mails tells of the change (hidden from the activity page like every
            # ``to``): the old address, if it was ever proven; else nobody.
            to=old if old_verified else None,
        ),
    )
    db.flush()
    return user


# ---- the backup address ----------------------------------------------------------------------


def start_backup_address(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User, email: str
) -> str:
    """Mails a code to ``email``, which becomes the address mailed backup codes go to once it
    is typed back. It must not be the sign-in address (fresh verification needed)."""
    sessions.require_fresh(ctx.login_session, max_age=settings.reauth_max_age, now=ctx.now)
    email = normalise_email(email)
    if _same(email, user.email):
        raise InvalidInput(
            "Use another address than your sign-in address: one mailbox must not receive both "
            "your backup code and the recovery code."
        )
    return issue_email_code(
        db, settings, ctx, user=user, purpose=EmailCodePurpose.BACKUP_EMAIL, to=email
    )


def confirm_backup_address(
    db: Session, settings: BackupSettings, ctx: RequestContext, *, user: User, typed: str
) -> User:
    now = ctx.now
    pending = _pending(
        db,
        settings,
        ctx,
        user=user,
        purposes=(EmailCodePurpose.BACKUP_EMAIL,),
        typed=typed,
    )
    sessions.require_fresh(ctx.login_session, max_age=settings.reauth_max_age, now=now)
    if _same(pending.address, user.email):
        # The sign-in address changed to this one after the code was sent.
        raise InvalidCode(detail="backup address equals the sign-in address")
    if not consume_email_code(db, pending, now):
        raise InvalidCode(detail="backup address code already used")
    user.backup_email, user.backup_email_verified_at = pending.address, now
    events.emit(
        db,
        events.BackupEmailVerified(
            ctx=ctx, user_id=user.id, address=otp.mask_email(pending.address or "")
        ),
    )
    return user


# ---- sign-up -----------------------------------------------------------------------------------


def on_user_registered(
    settings: Callable[[], BackupSettings],
) -> Callable[[Session, events.UserRegistered], None]:
    """A listener for ``events.UserRegistered``: the new ID's address gets a code to confirm
    it, bound to the sign-up's browser. While the mail cap holds for that address (IDs created
    one after another with someone else's address), sign-up still succeeds and no mail goes
    out: the owner can ask for a code from the account page later. An address the sign-up
    proved already (an invitation mailed to it, ``webauthn.invitations.accept``) gets none."""

    def receive(db: Session, event: events.UserRegistered) -> None:
        user = db.get(User, event.user_id)
        if user is None or user.email_verified_at is not None:
            return  # proven already: the sign-up used an invitation mailed to it
        config = settings()
        wait = mail_cap_wait(
            db,
            config,
            user_id=user.id,
            purpose=EmailCodePurpose.VERIFY_EMAIL,
            address=user.email,
            now=event.ctx.now,
        )
        if not wait:
            send_verification(db, config, event.ctx, user=user)

    return receive
