"""Email one-time codes: issuing one (under the mail cap, ``recovery.mailcap``), finding the
live one of a browser, consuming it atomically, and counting wrong tries (the fifth voids it).

Every mailed code (backup activation and regeneration, recovery, the ID's addresses) goes
through here: stored as a keyed hash, bound to one purpose and one browser, single use.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.models import User
from core.orm import rowcount
from recovery import mailcap, otp
from recovery.errors import MailCapReached
from recovery.models import EmailCode, EmailCodePurpose
from recovery.settings import BackupSettings


def mail_cap_wait(
    db: Session,
    settings: BackupSettings,
    *,
    user_id: int,
    purpose: EmailCodePurpose,
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


def issue_email_code(
    db: Session,
    settings: BackupSettings,
    ctx: RequestContext,
    *,
    user: User,
    purpose: EmailCodePurpose,
    flow_id: int | None = None,
    to: str | None = None,
    voids: tuple[str, ...] = (),
) -> str:
    """Mails a new code for ``purpose`` to ``to`` (default: the ID's address); earlier unused
    codes of that purpose (and of ``voids``) are void. Refused with 429 ``too_many_mails``
    while the mail cap holds (nothing changes then)."""
    address, now = to or user.email, ctx.now
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
            browser=ctx.client.browser,
            flow_id=flow_id,
            created_at=now,
            expires_at=settings.otp.expiry(now),
        )
    )
    db.flush()
    events.emit(
        db,
        events.EmailCodeIssued(
            ctx=ctx,
            user_id=user.id,
            to=address,
            code=code,
            purpose=purpose,
            valid_minutes=max(1, settings.otp.ttl // 60),
        ),
    )
    return otp.mask_email(address)


def live_email_code(
    db: Session,
    *,
    user_id: int,
    purposes: tuple[EmailCodePurpose, ...],
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


def consume_email_code(db: Session, code: EmailCode, now: datetime) -> bool:
    """Marks the code used if nobody else did first: of 20 parallel right answers, one wins."""
    result = db.execute(
        sa.update(EmailCode)
        .where(EmailCode.id == code.id, EmailCode.used_at.is_(None), EmailCode.voided_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def wrong_email_code(db: Session, code: EmailCode, now: datetime) -> bool:
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
