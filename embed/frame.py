"""The sign-in embedded in a website's page: a Keystead frame on one of the website's
registered origins runs a usernameless passkey sign-in and hands the website an
authorization code, as the authorization endpoint would have at its redirect URI.

A third-party frame gets none of Keystead's cookies, so nothing here uses them. Each step is
bound to a one-time **transaction** secret instead: ``begin`` issues a sign-in challenge
(purpose ``EMBED``) whose browser binding is the hash of a new transaction, and keeps the
checked authorization request in it; ``complete`` finds it by that hash, verifies the
assertion (which consumes it) and accepts it only if it was made in a cross-origin frame whose
top-level page (``topOrigin``) is one of the website's registered origins; ``decide`` takes
the consent a website that is not trusted must ask for, held under a second transaction. The
frame hands the code only to that verified page.

The sign-in starts a Keystead session without a cookie: the owner sees it among their
sessions, and ending it ends what the website holds (``embed.tokens.live_user``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import sessions
from core.context import RequestContext
from core.models import LoginSession, User
from core.security import new_token, token_hash
from embed.clients import find_client
from embed.errors import EmbedOriginRefused, EmbedRequestRefused, EmbedTransactionInvalid
from embed.models import Client
from embed.requests import RequestRefused, code_request, registered_client
from embed.tokens import (
    Authentication,
    CodeRequest,
    authentication_of,
    consent_needed,
    issue_code,
    record_consent,
)
from webauthn import challenges
from webauthn.assertions import verify_assertion
from webauthn.ceremony import TopOriginRefused, authentication_options
from webauthn.models import Challenge, ChallengePurpose
from webauthn.settings import Settings

# What an authorization request carries that the embedded sign-in takes (``response_type``
# is always ``code``).
REQUEST_PARAMETERS = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


# The two kinds of transaction, kept in the pending row's state.
_SIGN_IN = "sign_in"
_CONSENT = "consent"


@dataclass(frozen=True)
class FrameSettings:
    """What the embedded sign-in needs from configuration: the passkey settings, how long a
    code lives, and the issuer (``iss``) the website checks."""

    passkeys: Settings
    code_ttl: int
    issuer: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FrameSettings:
        return cls(
            passkeys=Settings.from_config(config),
            code_ttl=config["OIDC_CODE_TTL"],
            issuer=config["ORIGIN"],
        )


@dataclass(frozen=True)
class Begun:
    """A sign-in in the frame: its transaction secret and the passkey request options."""

    transaction: str
    options: dict[str, Any]


@dataclass(frozen=True)
class CodeIssued:
    """A code for the website, to be posted to ``origin`` (the verified top-level page) only."""

    code: str
    state: str | None
    issuer: str
    origin: str


@dataclass(frozen=True)
class ConsentAsked:
    """The person must agree first: what to ask, and the transaction that answers it."""

    transaction: str
    website: str
    origin: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AccessDenied:
    """The person said no: the website hears ``access_denied`` at ``origin``."""

    state: str | None
    issuer: str
    origin: str


def website(db: Session, params: Mapping[str, str]) -> Client:
    """The registered website an embedded sign-in names (client and redirect URI matched
    exactly); ``UnknownWebsite`` otherwise. Its origins are the pages that may frame it."""
    client, _redirect_uri = registered_client(db, params)
    return client


def begin(
    db: Session, settings: FrameSettings, ctx: RequestContext, params: Mapping[str, str]
) -> Begun:
    """Checks the authorization request and issues a usernameless sign-in challenge bound to a
    new transaction, which holds the request."""
    client, redirect_uri = registered_client(db, params)
    try:
        request = code_request(client, redirect_uri, {**params, "response_type": "code"})
    except RequestRefused as refused:
        raise EmbedRequestRefused(refused.description, detail=str(refused)) from None
    transaction = new_token()
    challenge = challenges.issue(
        db,
        purpose=ChallengePurpose.EMBED,
        browser=token_hash(transaction),
        ttl=settings.passkeys.challenge_ttl,
        now=ctx.now,
        state={"kind": _SIGN_IN, "request": _saved(request, params.get("state"))},
    )
    options = authentication_options(settings.passkeys.rp, challenge=challenge, allow=[])
    return Begun(transaction, options)


def complete(
    db: Session,
    settings: FrameSettings,
    ctx: RequestContext,
    transaction: str,
    raw: Mapping[str, Any],
) -> CodeIssued | ConsentAsked:
    """Verifies the assertion of ``transaction``'s sign-in, made in a frame on one of the
    website's origins (``EmbedOriginRefused`` otherwise: the popup still works), starts a
    session without a cookie, and issues the code, or asks for consent first."""
    saved = _pending_sign_in(db, transaction, ctx.now)
    request = _code_request(db, saved["request"])
    bound = _bound(ctx, transaction)
    try:
        verified = verify_assertion(
            db,
            settings.passkeys,
            bound,
            raw,
            purpose=ChallengePurpose.EMBED,
            top_origins=request.client.origins,
        )
    except TopOriginRefused as refused:
        raise EmbedOriginRefused(detail=refused.detail) from refused
    device, user, origin = verified.device, verified.user, verified.top_origin
    if origin is None:  # verify_assertion returns one whenever top_origins is given
        raise EmbedOriginRefused(detail="no verified topOrigin")
    # The device that signed in is the one acting: it is not told about it (notify).
    acting = replace(bound, client=replace(bound.client, device_id=device.id))
    started = sessions.start(
        db,
        acting,
        user_id=user.id,
        device_id=device.id,
        policy=settings.passkeys.sessions,
        verified=verified.user_verified,
    )
    who = _authentication(db, started.session, user)
    scopes = request.scope.split()
    if consent_needed(db, user.id, request.client, scopes):
        consent_transaction = new_token()
        challenges.issue(
            db,
            purpose=ChallengePurpose.EMBED,
            browser=token_hash(consent_transaction),
            ttl=settings.passkeys.challenge_ttl,
            now=ctx.now,
            user_id=user.id,
            state={
                "kind": _CONSENT,
                "request": saved["request"],
                "login_session_id": started.session.id,
                "device_id": device.id,
                "origin": origin,
            },
        )
        return ConsentAsked(consent_transaction, request.client.name, origin, tuple(scopes))
    code = issue_code(db, acting, request, who, ttl=settings.code_ttl)
    return CodeIssued(code, saved["request"]["state"], settings.issuer, origin)


def decide(
    db: Session, settings: FrameSettings, ctx: RequestContext, transaction: str, *, allow: bool
) -> CodeIssued | AccessDenied:
    """The person's answer to the consent question of ``transaction`` (used once). Allow:
    the consent is recorded and the code issued. Deny: the website hears ``access_denied`` and
    the session the sign-in started ends, as nothing was signed in to. A refusal keeps the
    transaction used up."""
    saved, user_id = _take_consent(db, transaction, ctx.now)
    request = _code_request(db, saved["request"])
    state, origin = saved["request"]["state"], saved["origin"]
    bound = _bound(ctx, transaction)
    acting = replace(bound, client=replace(bound.client, device_id=saved["device_id"]))
    if not allow:
        sessions.end_session(
            db,
            user_id=user_id,
            session_id=saved["login_session_id"],
            policy=settings.passkeys.sessions,
            now=ctx.now,
        )
        return AccessDenied(state, settings.issuer, origin)
    who = _still_signed_in(db, user_id, saved["login_session_id"], ctx.now)
    record_consent(db, acting, user_id, request.client, request.scope.split())
    code = issue_code(db, acting, request, who, ttl=settings.code_ttl)
    return CodeIssued(code, state, settings.issuer, origin)


# ---- the transactions ------------------------------------------------------------------------


def _bound(ctx: RequestContext, transaction: str) -> RequestContext:
    """The request as the transaction's: its hash stands in for the browser id, and no cookie
    session is read or ended (a third-party frame sends none)."""
    return replace(
        ctx,
        client=replace(ctx.client, browser=token_hash(transaction)),
        login_session=None,
        session_token=None,
    )


def _pending(transaction: str) -> sa.ColumnElement[bool]:
    table = cast(sa.Table, Challenge.__table__)
    return sa.and_(
        table.c.browser == token_hash(transaction), table.c.purpose == ChallengePurpose.EMBED
    )


def _pending_sign_in(db: Session, transaction: str, now: datetime) -> dict[str, Any]:
    """The request a sign-in transaction holds, read (not consumed: ``verify_assertion``
    consumes it with the challenge the browser signed). An expired one, or a consent
    transaction sent here, is deleted: it can never be used again."""
    table = cast(sa.Table, Challenge.__table__)
    row = db.execute(
        sa.select(table.c.id, table.c.state, table.c.expires_at).where(_pending(transaction))
    ).first()
    if row is None:
        raise EmbedTransactionInvalid(detail="no pending embedded sign-in for this transaction")
    state = row.state or {}
    if now >= row.expires_at or state.get("kind") != _SIGN_IN:
        db.execute(sa.delete(table).where(table.c.id == row.id))
        raise EmbedTransactionInvalid(
            detail="expired, or not a sign-in transaction", keep_changes=True
        )
    return dict(state)


def _take_consent(db: Session, transaction: str, now: datetime) -> tuple[dict[str, Any], int]:
    """Consumes a consent transaction (one ``DELETE … RETURNING``: of two answers, one finds
    it). A sign-in transaction sent here is consumed too, and refused."""
    table = cast(sa.Table, Challenge.__table__)
    row = db.execute(
        sa.delete(table)
        .where(_pending(transaction))
        .returning(table.c.user_id, table.c.state, table.c.expires_at)
    ).first()
    if row is None:
        raise EmbedTransactionInvalid(detail="no pending consent for this transaction")
    state = row.state or {}
    if now >= row.expires_at or state.get("kind") != _CONSENT or row.user_id is None:
        raise EmbedTransactionInvalid(
            detail="expired, or not a consent transaction", keep_changes=True
        )
    return dict(state), int(row.user_id)


def _saved(request: CodeRequest, state: str | None) -> dict[str, Any]:
    """The checked request, as the pending row keeps it (JSON)."""
    return {
        "client_id": request.client.client_id,
        "redirect_uri": request.redirect_uri,
        "scope": request.scope,
        "state": state or None,
        "nonce": request.nonce,
        "code_challenge": request.code_challenge,
        "code_challenge_method": request.code_challenge_method,
    }


def _code_request(db: Session, saved: Mapping[str, Any]) -> CodeRequest:
    """The request checked at ``begin``, with its client as it is now: a website removed, or
    a redirect URI it no longer registers, ends the transaction."""
    client = find_client(db, saved["client_id"])
    if client is None or saved["redirect_uri"] not in client.redirect_uris:
        # Nothing is written before this in ``complete``; in ``decide`` the consumed consent
        # transaction stays consumed.
        raise EmbedTransactionInvalid(
            detail="the website or its redirect URI is gone", keep_changes=True
        )
    return CodeRequest(
        client=client,
        redirect_uri=saved["redirect_uri"],
        scope=saved["scope"],
        nonce=saved["nonce"],
        code_challenge=saved["code_challenge"],
        code_challenge_method=saved["code_challenge_method"],
    )


def _authentication(db: Session, login_session: LoginSession, user: User) -> Authentication:
    who = authentication_of(db, login_session, user)
    if who is None:  # the device was blocked or removed meanwhile
        raise EmbedTransactionInvalid(detail="the device of the sign-in is no longer active")
    return who


def _still_signed_in(
    db: Session, user_id: int, login_session_id: int, now: datetime
) -> Authentication:
    """The sign-in a consent transaction came from, if its session, ID and device still stand;
    ``EmbedTransactionInvalid`` otherwise (the transaction stays used up)."""
    login_session = db.get(LoginSession, login_session_id)
    user = db.get(User, user_id)
    who = None
    if (
        login_session is not None
        and user is not None
        and user.deleted_at is None
        and user.deactivated_at is None
        and login_session.user_id == user_id
        and login_session.revoked_at is None
        and now < login_session.expires_at
    ):
        who = authentication_of(db, login_session, user)
    if who is None:
        raise EmbedTransactionInvalid(
            detail="the session or device of the sign-in ended meanwhile", keep_changes=True
        )
    return who
