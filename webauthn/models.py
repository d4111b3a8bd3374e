"""Devices (credentials bound to an ID), pending ceremony challenges, and the authenticator
models of the loaded FIDO Metadata Service BLOB."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column

from core.clock import utcnow
from core.orm import Base, StrEnumType, UTCDateTime

MAX_CREDENTIAL_ID_LENGTH = 1023  # WebAuthn L3 §7.1 step 25 (credentialId length ≤ 1023 bytes)


class DeviceStatus(StrEnum):
    """Where a device stands; stored, and sent in JSON, as its value."""

    ACTIVE = "active"
    # For good: only an administrator unblocks.
    BLOCKED = "blocked"
    # Paired by QR code, waiting for approval from a signed-in device: cannot sign in.
    PENDING = "pending"
    # Kept as a row, so its id is never reused by another ID's device and old notifications
    # still name it.
    REMOVED = "removed"


class ChallengePurpose(StrEnum):
    """What a pending ceremony was issued for: a challenge is found only with its purpose."""

    REGISTER = "register"  # sign-up
    AUTHENTICATE = "authenticate"  # sign-in
    ADD_DEVICE = "add_device"  # a signed-in ID adds a passkey
    RECOVER = "recover"  # a new device for an ID being restored or duplicated
    REAUTH = "reauth"  # step-up: verify the signed-in user again
    PAIR = "pair"  # a new device joining by QR code, pending approval
    # The sign-in embedded in a website's frame, bound to a one-time transaction secret
    # instead of the browser cookie (a third-party frame gets none); also its pending consent.
    EMBED = "embed"


# ---- the FIDO Metadata Service (webauthn.metadata) -----------------------------------------


class MetadataBlob(Base):
    """The FIDO Metadata Service BLOB loaded last (one row): its serial number, which a later
    load must exceed (no rollback to an older list), and when the next one is due."""

    __tablename__ = "metadata_blob"

    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[int] = mapped_column(sa.BigInteger)
    next_update: Mapped[date] = mapped_column(sa.Date)
    legal_header: Mapped[str] = mapped_column(sa.Text, default="")
    entry_count: Mapped[int] = mapped_column(sa.Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthenticatorModel(Base):
    """One authenticator model of the loaded BLOB, found by its AAGUID (the primary key: a
    registration costs one indexed lookup): its name, its latest status and the roots its
    attestation must chain to."""

    __tablename__ = "authenticator_models"

    aaguid: Mapped[bytes] = mapped_column(sa.LargeBinary(16), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    # The latest status report's status (``fido2.mds3.AuthenticatorStatus``), as MDS spells it.
    status: Mapped[str | None] = mapped_column(sa.String(64))
    status_date: Mapped[date | None] = mapped_column(sa.Date)
    # DER certificates, base64 (standard alphabet, as in the BLOB).
    attestation_roots: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Unique across all IDs: the same credential can never be registered to two IDs.
    credential_id: Mapped[bytes] = mapped_column(
        sa.LargeBinary(MAX_CREDENTIAL_ID_LENGTH), unique=True
    )
    # The COSE_Key as the authenticator sent it.
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    alg: Mapped[int] = mapped_column(sa.Integer)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    aaguid: Mapped[bytes] = mapped_column(sa.LargeBinary(16))
    name: Mapped[str] = mapped_column(sa.String(64))
    transports: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    backup_eligible: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    status: Mapped[DeviceStatus] = mapped_column(
        StrEnumType(DeviceStatus, 16), default=DeviceStatus.ACTIVE
    )
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # WebAuthn's uvInitialized: the authenticator verified the user when it was registered.
    uv_initialized: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The attestation statement format it was registered with (checked, never trusted).
    attestation_format: Mapped[str | None] = mapped_column(sa.String(32))
    # Set when a sign-in showed a sign counter that did not increase: a possible clone.
    flagged: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The model's name in the loaded FIDO metadata, if it lists the device's AAGUID. Deferred:
    # read only where devices are shown (``list_devices`` undefers it), never on sign-in.
    mds_name: Mapped[str | None] = column_property(
        sa.select(AuthenticatorModel.name)
        .where(AuthenticatorModel.aaguid == aaguid)
        .correlate_except(AuthenticatorModel)
        .scalar_subquery(),
        deferred=True,
    )


class DeviceBrowser(Base):
    """The browsers a device has signed in from: a sign-in from a new pair is announced."""

    __tablename__ = "device_browsers"

    device_id: Mapped[int] = mapped_column(
        sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    browser: Mapped[bytes] = mapped_column(sa.LargeBinary(32), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenge(Base):
    """A pending ceremony. Found by its challenge bytes together with its purpose and the browser
    that began it, and deleted when found: a second use finds nothing."""

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    purpose: Mapped[ChallengePurpose] = mapped_column(StrEnumType(ChallengePurpose, 32))
    browser: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class InvitationDelivery(StrEnum):
    """How an invitation's link reached its person: mailed (the address is then proven by the
    sign-up that uses it) or shown to the administrator to hand over."""

    EMAIL = "email"
    DISPLAY = "display"


class InvitationStatus(StrEnum):
    """Where an invitation stands (derived from its times, sent in JSON, never stored)."""

    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Invitation(Base):
    """An invitation to create an ID (``webauthn.invitations``). Only the token's hash is
    stored; it is used once (``used_at``, set in the transaction that creates the ID)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The ID created with it gets this address (and, if set, this username).
    email: Mapped[str] = mapped_column(sa.String(254))
    username: Mapped[str | None] = mapped_column(sa.String(64))
    # A role admin/ grants on acceptance, kept as a plain name (this package knows no roles).
    role: Mapped[str | None] = mapped_column(sa.String(16))
    delivery: Mapped[InvitationDelivery] = mapped_column(StrEnumType(InvitationDelivery, 16))
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who invited: an administrator's ID, or (from the CLI) the command's actor.
    created_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by: Mapped[str | None] = mapped_column(sa.String(128))

    def status(self, now: datetime) -> InvitationStatus:
        if self.used_at is not None:
            return InvitationStatus.USED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
