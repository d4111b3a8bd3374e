"""The mail outbox: every mail is a row written in the transaction of the change that caused it,
then delivered by ``notify/delivery.py``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class OutboxMail(Base):
    """One mail, from queued to sent (or given up).

    A row is *due* while ``sent_at`` and ``failed_at`` are empty and ``next_attempt_at`` has
    passed. A sender first claims it by setting ``claimed_until`` (a lease) with an atomic
    ``UPDATE … WHERE claimed_until IS NULL OR claimed_until < now``, so several threads or
    processes never send the same mail twice. Once sent (or given up), the bodies are erased:
    they can hold one-time codes.
    """

    __tablename__ = "outbox_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the mail is about (``test``, ``backup_otp``…): for logs, the dev mailbox and tests.
    kind: Mapped[str] = mapped_column(sa.String(64))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(255))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str] = mapped_column(sa.Text)
    # The ID the mail is about; the mail (an audit of what was sent) outlives a deleted ID.
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when retrying stopped (MAIL_RETRY_FOR elapsed): the mail will never be sent.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def status(self) -> str:
        if self.sent_at is not None:
            return "sent"
        if self.failed_at is not None:
            return "failed"
        return "queued" if self.attempts == 0 else "retrying"
