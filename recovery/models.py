"""Backup codes, email one-time codes, recovery flows and the failures that throttle them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.orm import Base, StrEnumType, UTCDateTime


class BackupCode(Base):
    """The ID's one backup code, as a keyed hash. A new code replaces the hash in place, so
    the old one stops working in the same statement."""

    __tablename__ = "backup_codes"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    code_created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowStage(StrEnum):
    """RecoveryFlow.stage: restore.py moves a flow forward; backup.py voids the open ones when
    the backup code they began with is replaced."""

    CODE_VERIFIED = "code_verified"
    OTP_VERIFIED = "otp_verified"
    COMPLETED = "completed"
    VOID = "void"


class RecoveryFlow(Base):
    """One attempt to restore or duplicate an ID, bound to the browser that began it.
    Stages move forward only: code_verified → otp_verified → completed (or void)."""

    __tablename__ = "recovery_flows"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    browser: Mapped[bytes] = mapped_column(sa.LargeBinary(32), index=True)
    stage: Mapped[FlowStage] = mapped_column(StrEnumType(FlowStage, 16))
    # The backup code this flow was begun with: completing consumes exactly that code.
    backup_code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    otp_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailCodePurpose(StrEnum):
    """What a mailed code is for: it is found, and mail caps count, only within its purpose."""

    ACTIVATE = "activate"  # backup: activate it
    REGENERATE = "regenerate"  # backup: a new backup code
    RECOVER = "recover"  # recovery, step 2
    VERIFY_EMAIL = "verify_email"  # confirm the sign-in address
    CHANGE_EMAIL = "change_email"  # a new sign-in address
    BACKUP_EMAIL = "backup_email"  # confirm the backup address


class EmailCode(Base):
    """A one-time code mailed to the ID's address, as a keyed hash, for one purpose (activate,
    regenerate, recover) and one browser. Used or voided codes keep their row (timestamps) so
    a replay finds a used code, not a missing one."""

    __tablename__ = "email_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[EmailCodePurpose] = mapped_column(StrEnumType(EmailCodePurpose, 16))
    # The address the code was mailed to (the ID's, or a new or backup address being
    # verified): mail caps count per address.
    address: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    browser: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    flow_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("recovery_flows.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wrong_tries: Mapped[int] = mapped_column(sa.Integer, default=0)


class FailureStep(StrEnum):
    """What a counted failure was (RecoveryFailure.step)."""

    BACKUP_CODE = "backup_code"
    EMAIL_CODE = "email_code"
    PAIRING_NUMBER = "pairing_number"


class RecoveryFailure(Base):
    """A failed recovery or backup step (or a wrong pairing number). ``subject`` is a keyed
    hash of what is counted: a browser, an IP, an ID's email-code step, or a pairing. A wrong
    backup code is never counted against the username typed, so unknown usernames are
    throttled exactly like real ones and nobody can lock out an owner by naming the ID."""

    __tablename__ = "recovery_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[bytes] = mapped_column(sa.LargeBinary(32), index=True)
    step: Mapped[FailureStep] = mapped_column(StrEnumType(FailureStep, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PairingStatus(StrEnum):
    """waiting → awaiting_approval → approved | rejected; or expired. Sent in JSON as is."""

    WAITING = "waiting"  # created, nobody redeemed it yet
    AWAITING_APPROVAL = "awaiting_approval"  # the new device made its passkey
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Pairing(Base):
    """A new device joining an ID by QR code: created by a signed-in device, redeemed by the
    first browser that opens it (and only that one), approved or rejected by the ID. Only the
    token's hash is stored."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[PairingStatus] = mapped_column(StrEnumType(PairingStatus, 24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemer_browser: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    redeemer_ip: Mapped[str] = mapped_column(sa.String(64), default="")
    redeemer_user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    confirmation: Mapped[str | None] = mapped_column(sa.String(2))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("devices.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
