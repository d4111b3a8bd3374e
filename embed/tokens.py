"""What a website holds, from the authorization code to the refresh token, and how it dies.

A sign-in to a website is a ``Grant``: it records what it came from (the Keystead session,
the device, how the person authenticated) and owns one authorization code and the access and
refresh tokens issued from it. Every secret is stored as its hash. A grant is live only while
it is not revoked, its ID is not deleted, its device is active and its Keystead session has
not been ended (``_live``): checked on every use, so blocking a device or signing out takes
effect at once on every worker. Blocking or removing a device, and deleting an ID, also revoke
the grants for good (an unblocked device does not bring them back).

Codes and refresh tokens are consumed with one conditional UPDATE (``… WHERE used_at IS NULL``):
of two concurrent uses, one wins. A second use of a code or of a refresh token is treated as
theft (RFC 6749 §4.1.2, RFC 9700 §4.14.2): the grant and every token in it are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events, retention
from core.context import RequestContext
from core.encoding import b64url
from core.models import LoginSession, User
from core.orm import rowcount
from core.security import keyed_hash, new_token, token_hash
from core.sessions import LAST_SEEN_RESOLUTION, SessionPolicy, live_session
from embed.models import AuthorizationCode, Client, Connection, Grant, Token, TokenKind
from webauthn.models import Device, DeviceStatus

SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")
# What each scope lets a website know, as the consent question says it.
SCOPE_WORDS = {
    "openid": "Know that it is you when you come back",
    "profile": "Your display name and username",
    "email": "Your email address",
    "offline_access": "Stay connected to your ID while you are away",
}


@dataclass(frozen=True)
class Authentication:
    """How the person in front of the website signed in: the Keystead session and device,
    when, and whether the user was verified. Becomes the ID token's ``auth_time``, ``amr``,
    ``acr`` and ``sid``."""

    user: User
    login_session_id: int
    device_id: int
    auth_time: datetime
    user_verified: bool
    synced: bool  # the credential is backup eligible (a synced passkey), per its BE flag
    sid: str  # the ID token's ``sid`` (``session_id_claim``)

    @property
    def amr(self) -> list[str]:
        """RFC 8176: ``hwk`` for a key bound to one device, ``swk`` for a synced passkey, and
        ``user`` when the user was verified (PIN, biometrics)."""
        return ["swk" if self.synced else "hwk"] + (["user"] if self.user_verified else [])

    @property
    def acr(self) -> str:
        """``phrh``: phishing-resistant and hardware-protected (a device-bound key); ``phr``:
        phishing-resistant (a synced passkey)."""
        return "phr" if self.synced else "phrh"


def authentication_of(
    db: Session, login_session: LoginSession, user: User
) -> Authentication | None:
    """What a live Keystead session says about how its person signed in; None when it has no
    device (a session that cannot stand behind a website sign-in)."""
    if login_session.device_id is None:
        return None
    device = db.get(Device, login_session.device_id)
    if device is None or device.status != DeviceStatus.ACTIVE:
        return None
    return Authentication(
        user=user,
        login_session_id=login_session.id,
        device_id=device.id,
        auth_time=login_session.created_at,
        user_verified=login_session.verified_at is not None,
        synced=device.backup_eligible,
        sid=session_id_claim(login_session),
    )


def subject(user: User, client: Client, subject_type: str) -> str:
    """The ``sub`` a website gets. Pairwise: keyed by the ID's secret user handle and the
    client, so it is stable for one website and unrelated between two. Public: one value.
    Never the row id or the username (both can change hands or be guessed)."""
    if subject_type == "public":
        return b64url(keyed_hash(user.user_handle, "oidc-public-subject", b""))
    return b64url(keyed_hash(user.user_handle, "oidc-pairwise-subject", client.client_id))


def session_id_claim(login_session: LoginSession) -> str:
    """The ID token's ``sid``: names the Keystead session without revealing its row id or
    anything a website could turn back into the session's cookie (it is keyed by the stored
    hash of the session token, which never leaves the database)."""
    return b64url(keyed_hash(login_session.token_hash, "oidc-sid", b""))[:32]


# ---- connections (consent) ------------------------------------------------------------------


def connection(db: Session, user_id: int, client: Client) -> Connection | None:
    return db.scalars(
        sa.select(Connection).where(
            Connection.user_id == user_id, Connection.client_pk == client.id
        )
    ).first()


def consent_needed(db: Session, user_id: int, client: Client, scopes: list[str]) -> bool:
    """Trusted clients never ask; the others ask until the ID agreed to these scopes."""
    if client.trusted:
        return False
    found = connection(db, user_id, client)
    return found is None or not set(scopes) <= set(found.scopes.split())


def record_consent(
    db: Session, ctx: RequestContext, user_id: int, client: Client, scopes: list[str]
) -> None:
    found = _connect(db, ctx, user_id, client)
    found.scopes = " ".join(sorted(set(found.scopes.split()) | set(scopes)))
    found.consented_at = ctx.now


def _connect(db: Session, ctx: RequestContext, user_id: int, client: Client) -> Connection:
    found = connection(db, user_id, client)
    if found is None:
        found = Connection(
            user_id=user_id, client_pk=client.id, first_used_at=ctx.now, last_used_at=ctx.now
        )
        db.add(found)
        db.flush()
        events.emit(
            db,
            events.WebsiteConnected(
                ctx=ctx,
                user_id=user_id,
                client_id=client.client_id,
                client_name=client.name,
                origin=website_origin(client),
            ),
        )
    return found


def website_origin(client: Client) -> str:
    """Where the website lives, as people are shown it: its first registered origin, else
    its first redirect URI's."""
    from embed.clients import origin_of

    return client.origins[0] if client.origins else origin_of(client.redirect_uris[0])


def disconnect(db: Session, ctx: RequestContext, *, user_id: int, connection_id: int) -> Connection:
    """The owner disconnects a website: its consent is forgotten and its grants revoked."""
    from embed.errors import ConnectionNotFound

    found = db.get(Connection, connection_id)
    if found is None or found.user_id != user_id:
        raise ConnectionNotFound()
    client = db.get(Client, found.client_pk)
    assert client is not None
    _revoke_where(
        db, ctx.now, "disconnected", Grant.user_id == user_id, Grant.client_pk == client.id
    )
    db.delete(found)
    events.emit(
        db,
        events.WebsiteDisconnected(
            ctx=ctx, user_id=user_id, client_id=client.client_id, client_name=client.name
        ),
    )
    db.flush()
    return found


def connections_of(db: Session, user_id: int) -> list[tuple[Connection, Client]]:
    rows = db.execute(
        sa.select(Connection, Client)
        .join(Client, Client.id == Connection.client_pk)
        .where(Connection.user_id == user_id)
        .order_by(Connection.last_used_at.desc())
    )
    return [(c, client) for c, client in rows]


# ---- codes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRequest:
    """What an authorization code is bound to, besides the person."""

    client: Client
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None


def issue_code(
    db: Session,
    ctx: RequestContext,
    request: CodeRequest,
    who: Authentication,
    *,
    ttl: int,
    code: str | None = None,
) -> str:
    """A new grant and its authorization code (256 bits unless ``code`` is given, stored
    hashed, single use, ``ttl`` seconds). Records the connection's use; the first one tells
    every device."""
    client = request.client
    link = _connect(db, ctx, who.user.id, client)
    link.last_used_at = ctx.now
    grant = Grant(
        client_pk=client.id,
        user_id=who.user.id,
        login_session_id=who.login_session_id,
        device_id=who.device_id,
        sid=who.sid,
        scope=request.scope,
        nonce=request.nonce,
        auth_time=who.auth_time,
        amr=who.amr,
        acr=who.acr,
        created_at=ctx.now,
    )
    db.add(grant)
    db.flush()
    code = code or new_token(32)
    db.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            grant_id=grant.id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(seconds=ttl),
        )
    )
    events.emit(
        db,
        events.WebsiteSignedIn(
            ctx=ctx,
            user_id=who.user.id,
            device_id=who.device_id,
            client_id=client.client_id,
            client_name=client.name,
        ),
    )
    return code


@dataclass(frozen=True)
class RedeemedCode:
    code: AuthorizationCode
    grant: Grant
    user: User


def redeem_code(
    db: Session, code: str, client: Client, now: datetime, policy: SessionPolicy
) -> RedeemedCode | None:
    """Consumes ``code`` for ``client`` (one conditional UPDATE). None when it is unknown,
    another client's, expired, or its grant is no longer live. A code used before revokes the
    grant and every token issued from it."""
    digest = token_hash(code)
    used = db.execute(
        sa.update(AuthorizationCode)
        .where(
            AuthorizationCode.code_hash == digest,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
            AuthorizationCode.grant_id.in_(sa.select(Grant.id).where(Grant.client_pk == client.id)),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    found = db.execute(
        sa.select(AuthorizationCode, Grant)
        .join(Grant, Grant.id == AuthorizationCode.grant_id)
        .where(AuthorizationCode.code_hash == digest)
    ).first()
    if found is None:
        return None
    row, grant = found
    if rowcount(used) != 1:
        if row.used_at is not None:
            # Redeemed before (by its client or by whoever else holds it now): a leaked code.
            revoke_grant(db, grant, now, "code_replayed")
        return None
    db.refresh(row)
    user = live_user(db, grant, now, policy)
    if user is None:
        return None
    return RedeemedCode(row, grant, user)


# ---- tokens --------------------------------------------------------------------------------


def store_tokens(
    db: Session,
    grant: Grant,
    now: datetime,
    *,
    access_token: str,
    access_ttl: int,
    refresh_token: str | None,
    refresh_ttl: int,
    scope: str,
) -> None:
    db.add(
        Token(
            grant_id=grant.id,
            kind=TokenKind.ACCESS,
            token_hash=token_hash(access_token),
            scope=scope,
            created_at=now,
            expires_at=now + timedelta(seconds=access_ttl),
        )
    )
    if refresh_token:
        db.add(
            Token(
                grant_id=grant.id,
                kind=TokenKind.REFRESH,
                token_hash=token_hash(refresh_token),
                scope=scope,
                created_at=now,
                expires_at=now + timedelta(seconds=refresh_ttl),
            )
        )


@dataclass(frozen=True)
class HeldToken:
    """A presented token that matched a stored one: its row, grant and client, whether it
    may be used now (``active``), and the user if so."""

    token: Token
    grant: Grant
    client: Client
    user: User | None
    active: bool


def find_token(
    db: Session,
    presented: str,
    now: datetime,
    policy: SessionPolicy,
    kind: TokenKind | None = None,
) -> HeldToken | None:
    query = (
        sa.select(Token, Grant, Client)
        .join(Grant, Grant.id == Token.grant_id)
        .join(Client, Client.id == Grant.client_pk)
        .where(Token.token_hash == token_hash(presented))
    )
    if kind is not None:
        query = query.where(Token.kind == kind)
    found = db.execute(query).first()
    if found is None:
        return None
    token, grant, client = found
    user = live_user(db, grant, now, policy)
    usable = (
        user is not None
        and token.revoked_at is None
        and token.used_at is None
        and token.expires_at > now
    )
    return HeldToken(token, grant, client, user if usable else None, usable)


def use_refresh_token(
    db: Session, presented: str, client: Client, now: datetime, policy: SessionPolicy
) -> HeldToken | None:
    """Consumes a refresh token of ``client`` (rotation: it works once). A refresh token used
    before is a stolen copy or a replay: the whole grant is revoked. A use is activity of the
    Keystead session it came from: it stays signed in (and in the owner's sessions list, where
    it can be ended) while the website uses it."""
    held = find_token(db, presented, now, policy, TokenKind.REFRESH)
    if held is None or held.client.id != client.id:
        return None
    if held.token.used_at is not None:
        revoke_grant(db, held.grant, now, "refresh_token_reused")
        return None
    if not held.active:
        return None
    consumed = db.execute(
        sa.update(Token)
        .where(Token.id == held.token.id, Token.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(consumed) != 1:
        revoke_grant(db, held.grant, now, "refresh_token_reused")
        return None
    db.execute(
        sa.update(LoginSession)
        .where(
            LoginSession.id == held.grant.login_session_id,
            LoginSession.last_seen_at <= now - LAST_SEEN_RESOLUTION,
        )
        .values(last_seen_at=now)
    )
    return held


def revoke_token(db: Session, held: HeldToken, now: datetime) -> None:
    """RFC 7009: revoking a refresh token ends its grant; an access token ends by itself."""
    if held.token.kind == TokenKind.REFRESH:
        revoke_grant(db, held.grant, now, "revoked_by_client")
    elif held.token.revoked_at is None:
        held.token.revoked_at = now


# ---- liveness and revocation ---------------------------------------------------------------


def live_user(db: Session, grant: Grant, now: datetime, policy: SessionPolicy) -> User | None:
    """The grant's user while the grant lives: not revoked, the ID neither deleted nor
    deactivated, the device
    active, the Keystead session live (not ended, not past its lifetime or idle timeout, as
    ``core.sessions`` decides for the browser). One statement; read on every use."""
    if grant.revoked_at is not None or grant.login_session_id is None or grant.device_id is None:
        return None
    row = db.execute(
        sa.select(User)
        .join(Device, Device.user_id == User.id)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            User.id == grant.user_id,
            User.deleted_at.is_(None),
            User.deactivated_at.is_(None),
            Device.id == grant.device_id,
            Device.status == DeviceStatus.ACTIVE,
            LoginSession.id == grant.login_session_id,
            live_session(policy=policy, now=now),
        )
    ).first()
    return row[0] if row else None


def revoke_grant(db: Session, grant: Grant, now: datetime, reason: str) -> None:
    _revoke_where(db, now, reason, Grant.id == grant.id)


def _revoke_where(db: Session, now: datetime, reason: str, *where: sa.ColumnElement[bool]) -> int:
    result = db.execute(
        sa.update(Grant)
        .where(*where, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result)


def _on_device_gone(db: Session, event: events.DeviceBlocked | events.DeviceRemoved) -> None:
    reason = "device_blocked" if isinstance(event, events.DeviceBlocked) else "device_removed"
    _revoke_where(db, event.ctx.now, reason, Grant.device_id == event.device_id)


def _on_user_deleted(db: Session, event: events.UserDeleted) -> None:
    _revoke_where(db, event.ctx.now, "user_deleted", Grant.user_id == event.user_id)


def _on_user_deactivated(db: Session, event: events.UserDeactivated) -> None:
    # Reactivating does not bring them back: the website signs the person in again.
    _revoke_where(db, event.ctx.now, "user_deactivated", Grant.user_id == event.user_id)


def connect() -> None:
    """Grants die for good with the device (blocked or removed) and the ID (deleted or
    deactivated); an
    ended session is seen on every use (``live_user``). ``flask purge`` sweeps expired codes
    and tokens."""
    retention.register("expired website codes and tokens", purge_expired)
    events.subscribe(events.DeviceBlocked, _on_device_gone)
    events.subscribe(events.DeviceRemoved, _on_device_gone)
    events.subscribe(events.UserDeleted, _on_user_deleted)
    events.subscribe(events.UserDeactivated, _on_user_deactivated)


def purge_expired(db: Session, now: datetime) -> int:
    """Deletes used or expired codes and expired tokens (for ``flask purge``)."""
    codes = db.execute(sa.delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now))
    tokens = db.execute(sa.delete(Token).where(Token.expires_at <= now))
    return rowcount(codes) + rowcount(tokens)
