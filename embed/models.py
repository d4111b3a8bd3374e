"""Partner websites (OAuth clients) and what Keystead's OpenID Connect provider hands them:
each ID's connection to a website (consent), grants (one per sign-in to a website, the family
its codes and tokens belong to), authorization codes, tokens, and the provider's signing keys.

Every secret a website holds (client secret, code, access and refresh token) is stored only as
a hash. A grant records what the sign-in came from (the Keystead session and the device), so
that everything a website holds dies with it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.orm import Base, StrEnumType, UTCDateTime


class Client(Base):
    """A partner website. ``client_id`` is public; confidential clients also hold a secret,
    of which only the hash is kept. Redirect URIs, origins and post-logout redirect URIs match
    exactly (``embed.clients`` checks them when they are registered)."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    # None for a public client (PKCE instead of a secret).
    secret_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Web origins allowed to frame the embedded sign-in and to receive its messages.
    origins: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # First-party: no consent screen.
    trusted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    id_token_alg: Mapped[str] = mapped_column(sa.String(16), default="RS256")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def public(self) -> bool:
        return self.secret_hash is None


class Connection(Base):
    """An ID's link to a website: the scopes it agreed to share (consent) and when it first
    and last signed in there. Deleting it ("Disconnect") forgets the consent; the grants are
    revoked with it."""

    __tablename__ = "oauth_connections"
    __table_args__ = (sa.UniqueConstraint("user_id", "client_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    # Space-separated scopes consented to; empty until the person agrees (trusted clients
    # never ask).
    scopes: Mapped[str] = mapped_column(sa.String(512), default="")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Grant(Base):
    """One sign-in to a website: the family its authorization code, access and refresh tokens
    belong to. It lives only while the Keystead session and the device it came from do
    (``embed.tokens.live_grant``); revoking it ends every token in the family."""

    __tablename__ = "oauth_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SET NULL when the ended session is purged: a grant without its session is dead.
    login_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="SET NULL"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    # The ID token's ``sid``: names the session to websites without its row id
    # (``embed.tokens.session_id_claim``); RP-initiated logout finds the session by it.
    sid: Mapped[str] = mapped_column(sa.String(64), index=True)
    scope: Mapped[str] = mapped_column(sa.String(512))
    nonce: Mapped[str | None] = mapped_column(sa.String(512))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    acr: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(32))


class AuthorizationCode(Base):
    """A code handed to the redirect URI: single use, short-lived, bound to its client (via
    the grant), redirect URI, PKCE challenge and nonce. Marked used rather than deleted, so a
    replay is recognised and the tokens issued from it revoked."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    grant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(sa.String(2048))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TokenKind(StrEnum):
    ACCESS = "access_token"
    REFRESH = "refresh_token"


class Token(Base):
    """An access or refresh token (its hash). A refresh token is used once: using it sets
    ``used_at`` and issues a new pair; presenting a used one revokes the whole grant."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[TokenKind] = mapped_column(StrEnumType(TokenKind, 16))
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """A key the provider signs ID tokens with (a private JWK). The newest of each algorithm
    signs; a retired one stays in the JWKS until every token it signed has expired. Stored in
    the database so every worker and instance signs with the same keys."""

    __tablename__ = "oidc_signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    alg: Mapped[str] = mapped_column(sa.String(16))
    private_jwk: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
