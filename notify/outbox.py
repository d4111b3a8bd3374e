"""Queueing mail: ``enqueue`` renders a mail from its templates and adds it to the outbox in the
caller's transaction. Nothing is sent here; ``notify/delivery.py`` sends it after the commit.

Templates live in ``templates/email/``: ``<name>.txt`` and ``<name>.html``, extending the
shared ``_layout.txt`` / ``_layout.html``. The text template names the subject in
``{% block subject %}`` (a block the layout does not print: ``enqueue`` renders it on its own,
on one line); both templates then get it as ``subject``, with the caller's context plus
``rp_name`` (the organisation's name, from its branding), ``accent_color``, ``logo_url`` (an
absolute URL, or None without a logo), ``origin`` (the public origin, for links) and
``recipient``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from sqlalchemy.orm import Session, SessionTransaction

from core.models import User
from core.web import current_branding
from notify import delivery
from notify.models import OutboxMail

log = logging.getLogger(__name__)

# Session.info keys: the mails this transaction queued and the app whose worker to wake.
_PENDING = "keystead.outbox.pending"
_APP = "keystead.outbox.app"


def enqueue(
    db: Session,
    now: datetime,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    kind: str,
    user_id: int | None = None,
    verification: bool = False,
) -> OutboxMail | None:
    """Render ``templates/email/<template>.{txt,html}`` and add the mail to ``db``'s transaction:
    it is sent once that commits, and never if it rolls back; ``now`` is when it was queued
    (the event's time: listeners never read the clock). Call inside an app context with plain
    values in ``context``.

    Mail about an ID (``user_id``) goes only to an address the ID proved it reads (its
    confirmed sign-in or backup address); anything else is dropped here and None returned, so
    nobody can make Keystead mail an address they do not own. ``verification=True`` is for
    the mail that does the proving (a one-time code) and for a caller that checked the
    address itself (the old address told of a change)."""
    if not to or "@" not in to or any(c in to for c in "\r\n"):
        raise ValueError(f"not a mail address: {to!r}")
    if user_id is not None and not verification and not _proven(db, user_id, to):
        log.info("mail %s for ID %s not sent: the address is not confirmed", kind, user_id)
        return None
    # An IDN domain travels in its ASCII (punycode) form: SMTP without SMTPUTF8 needs it.
    to = _ascii_address(to)
    config = current_app.config
    brand = current_branding()
    values = {
        **context,
        "rp_name": brand.name,
        "accent_color": brand.accent_color,
        # An absolute link, never an attachment: the current logo, also in an old mail.
        "logo_url": f"{config['ORIGIN']}/branding/logo" if brand.logo_hash else None,
        "origin": config["ORIGIN"],
        "recipient": to,
    }
    values["subject"] = _subject(f"email/{template}.txt", values)
    text = _tidy(render_template(f"email/{template}.txt", **values))
    html = render_template(f"email/{template}.html", **values)
    mail = OutboxMail(
        kind=kind,
        recipient=to,
        subject=values["subject"],
        text_body=text,
        html_body=html,
        user_id=user_id,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    db.add(mail)
    db.info.setdefault(_PENDING, []).append(mail)
    db.info[_APP] = current_app._get_current_object()  # type: ignore[attr-defined]
    return mail


def _ascii_address(address: str) -> str:
    if address.isascii():
        return address
    try:
        return str(validate_email(address, check_deliverability=False).ascii_email or address)
    except EmailNotValidError:
        return address


def _proven(db: Session, user_id: int, to: str) -> bool:
    user = db.get(User, user_id)
    if user is None:
        return False
    proven = [user.email if user.email_verified_at else None]
    proven.append(user.backup_email if user.backup_email_verified_at else None)
    return to.lower() in {address.lower() for address in proven if address}


def _subject(name: str, values: dict[str, Any]) -> str:
    template = current_app.jinja_env.get_template(name)
    block = template.blocks.get("subject")
    if block is None:
        raise ValueError(f"{name} has no {{% block subject %}}")
    rendered = "".join(block(template.new_context(values)))
    # One line, whatever the values held: a newline in a header would be header injection.
    subject = " ".join(rendered.split())
    if not subject:
        raise ValueError(f"{name} renders an empty subject")
    return subject[:255]


def _tidy(text: str) -> str:
    """What Jinja's block tags leave behind: trailing spaces, runs of blank lines."""
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


# ---- after the transaction ----------------------------------------------------------------
# Global Session listeners: a cheap dict lookup for sessions that queued nothing.


@sa.event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    mails = db.info.pop(_PENDING, None)
    app = db.info.pop(_APP, None)
    if not mails or app is None:
        return
    # Mails added inside a savepoint that rolled back are no longer persistent: skip them.
    committed = [mail for mail in mails if sa.inspect(mail).persistent]
    if not committed:
        return
    if not app.config["MAIL_SERVER"]:
        for mail in committed:
            # Recipient and subject only: a body can hold a one-time code.
            log.info(
                "mail %s to %s: %r kept in the outbox (no MAIL_SERVER configured)",
                mail.kind,
                mail.recipient,
                mail.subject,
            )
        return
    delivery.wake(app)


@sa.event.listens_for(Session, "after_soft_rollback")
def _after_rollback(db: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint
        db.info.pop(_PENDING, None)
        db.info.pop(_APP, None)


# ---- reading (the dev mailbox) -------------------------------------------------------------


def recent(db: Session, limit: int = 50) -> tuple[list[OutboxMail], int]:
    """The newest ``limit`` mails, newest first, and how many there are in all."""
    mails = db.scalars(
        sa.select(OutboxMail)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
        .limit(limit)
    ).all()
    total = db.scalar(sa.select(sa.func.count()).select_from(OutboxMail)) or 0
    return list(mails), int(total)


def find(db: Session, mail_id: int) -> OutboxMail | None:
    return db.get(OutboxMail, mail_id)
