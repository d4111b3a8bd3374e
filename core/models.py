"""The ID (user), its sign-in sessions, its audit trail, and the policies stored while running."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.orm import Base, UTCDateTime


class User(Base):
    __tablename__ = "users"

    # What Flask-Login asks of a signed-in user (core/web.py loads one per request from the
    # server-side session): written out rather than inherited from flask_login.UserMixin, so
    # the model, and everything that imports it, stays free of Flask.
    is_active: ClassVar[bool] = True
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    id: Mapped[int] = mapped_column(primary_key=True)
    # What authenticators store and return as userHandle: random, never the row id or the name.
    user_handle: Mapped[bytes] = mapped_column(sa.LargeBinary(64), unique=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    # Lower-cased username: uniqueness ignores case.
    username_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    display_name: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the owner proved they read ``email`` (a mailed code typed back). Until then the
    # address gets verification mail only.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A second address for a mailed backup code (BACKUP_CODE_DELIVERY=email), so that one
    # mailbox never holds both recovery factors; usable once verified.
    backup_email: Mapped[str | None] = mapped_column(sa.String(254))
    backup_email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A deleted ID stays as a row without personal data, so its id is never reused and its
    # audit trail keeps its owner.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by an administrator: the ID keeps its data but nothing signs in, recovers or holds a
    # token until it is reactivated (webauthn/account.py).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A signed-in browser. The cookie holds an opaque token; only its hash is stored, so a
    database leak does not hand out sessions. Revoking sets ``revoked_at``."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The device (credential) used to sign in; devices live in webauthn/, referenced by table.
    device_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Last user verification in this session (the passkey sign-in, or a step-up): sensitive
    # actions require it to be recent.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


class AuditEvent(Base):
    """One line of an ID's audit trail. ``device_id`` is kept without a foreign key so the trail
    outlives removed devices; ``data`` holds what is needed to read it later (device name...)."""

    __tablename__ = "audit_events"
    # The admin's audit list and its filters read by time and by kind and time (the
    # dashboard's counts of sign-ins and recoveries); the retention sweep by time.
    __table_args__ = (sa.Index("ix_audit_events_kind_created_at", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    device_id: Mapped[int | None] = mapped_column(sa.Integer)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PolicyValue(Base):
    """A policy an administrator set while the server runs (``core.policy``): it wins over the
    configured value of ``key`` until it is unset. ``value`` is the JSON of a value its key's
    declaration in ``core.config`` accepts."""

    __tablename__ = "policy_values"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class PolicyState(Base):
    """One row (id 1): a stamp every policy change replaces in its own transaction. Each
    request compares it with the stamp its process's cached policies were read under, so every
    worker, and every app on the database, sees a change on its next request. Random rather
    than a counter: a counter comes back to an earlier value when the table is restored or
    emptied, and a process that cached the later value would never notice the difference."""

    __tablename__ = "policy_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp: Mapped[str] = mapped_column(sa.String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Branding(Base):
    """One row (id 1): how the organisation presents itself on every page and mail
    (``core.branding``). A null name or accent colour means the configured default (RP_NAME,
    the style sheet's accent); the logo is a PNG or JPEG this server re-encoded, addressed by
    the SHA-256 of its bytes (``logo_hash``) so that its URL changes when it does."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(64))
    accent_color: Mapped[str | None] = mapped_column(sa.String(7))
    # Read only to serve the image: never loaded with the row.
    logo: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    logo_content_type: Mapped[str | None] = mapped_column(sa.String(32))
    logo_hash: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
