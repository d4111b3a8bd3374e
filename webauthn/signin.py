"""Signing up, signing in and stepping up with a passkey, and signing out.

Sign-up creates the ID and its first device; sign-in verifies an assertion
(``webauthn.assertions``) and then starts a session; step-up verifies one again to make the
session fresh for a sensitive action. A username-first sign-in for an unknown name, or an ID
with no active device, is answered with decoy credentials that look like a real ID's.

Services flush and never commit (the views commit once), with one documented exception: the
challenge store commits the consumption of a challenge before verification (see
``webauthn.challenges``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events, sessions
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import User
from core.security import keyed_hash
from core.users import (
    find_user,
    normalise_display_name,
    normalise_email,
    normalise_typed_username,
    normalise_username,
    username_key,
)
from webauthn import challenges, invitations, metadata
from webauthn.assertions import verify_assertion
from webauthn.ceremony import (
    authentication_options,
    parse_registration,
    registration_options,
    verify_registration,
)
from webauthn.devices import (
    add_unique,
    list_devices,
    new_device,
    normalise_device_name,
    remember_browser,
    require_unregistered,
)
from webauthn.errors import (
    AuthenticationFailed,
    InvitationRequired,
    RegistrationClosed,
    RegistrationFailed,
    UsernameTaken,
)
from webauthn.models import ChallengePurpose, Device, DeviceStatus
from webauthn.settings import Settings


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in or sign-up: who, with which device, and the new session's token."""

    user: User
    device: Device
    session_token: str


# ---- sign up -------------------------------------------------------------------------------


def require_open(settings: Settings) -> None:
    """A sign-up without an invitation needs REGISTRATION ``open``."""
    if settings.registration == "closed":
        raise RegistrationClosed()
    if settings.registration == "invite":
        raise InvitationRequired()


def begin_registration(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    *,
    username: str,
    email: str | None,
    display_name: str | None,
    invitation: str | None = None,
) -> dict[str, Any]:
    """Options to create a new ID. With ``invitation`` (a token), whatever REGISTRATION says,
    the token must open a pending invitation, whose address the ID gets (``email`` may be left
    out; if given it must be the same) and whose username, if it names one, ``username`` must
    be. Without, REGISTRATION must be ``open``. The invitation is only looked at here: the
    complete uses it up."""
    invited = None
    if invitation is not None:
        invited = invitations.require_valid(db, invitation, ctx.now)
    else:
        require_open(settings)
    username = normalise_username(username)
    if invited is not None:
        if email is not None and normalise_email(email).lower() != invited.email.lower():
            raise InvalidInput("This invitation is for another email address.")
        email = invited.email
        if invited.username is not None:
            if username_key(username) != username_key(invited.username):
                raise InvalidInput(f"This invitation is for the username {invited.username}.")
            username = invited.username
    if email is None:
        raise InvalidInput("'email' is required.")
    email = normalise_email(email)
    display_name = normalise_display_name(display_name, username)
    if find_user(db, username) is not None:
        raise UsernameTaken()
    user_handle = secrets.token_bytes(32)
    challenge = challenges.issue(
        db,
        purpose=ChallengePurpose.REGISTER,
        browser=ctx.client.browser,
        ttl=settings.challenge_ttl,
        now=ctx.now,
        state={
            "username": username,
            "email": email,
            "display_name": display_name,
            "user_handle": user_handle.hex(),
            "invitation_id": invited.id if invited is not None else None,
        },
    )
    return registration_options(
        settings.rp,
        challenge=challenge,
        user_handle=user_handle,
        username=username,
        display_name=display_name,
        exclude=[],
    )


def complete_registration(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    raw: Mapping[str, Any],
    *,
    device_name: str | None,
) -> SignIn:
    client, now = ctx.client, ctx.now
    device_name = normalise_device_name(device_name)
    response = parse_registration(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=ChallengePurpose.REGISTER,
        browser=client.browser,
        now=now,
    )
    if pending is None:
        raise RegistrationFailed(detail="no pending registration for this challenge and browser")
    credential = verify_registration(settings.rp, response, raw, challenge=pending.challenge)
    metadata.check_new_credential(db, settings, credential, now)
    state = pending.state
    invitation_id = state.get("invitation_id")
    if invitation_id is None:
        require_open(settings)  # the policy may have changed since the begin
    if find_user(db, state["username"]) is not None:
        raise UsernameTaken()
    require_unregistered(db, credential.credential_id)
    user = User(
        user_handle=bytes.fromhex(state["user_handle"]),
        username=state["username"],
        username_key=username_key(state["username"]),
        email=state["email"],
        display_name=state["display_name"],
        created_at=now,
    )
    add_unique(db, user)
    if invitation_id is not None:
        # Used up in this transaction: a second sign-up with the same link fails here.
        invitations.accept(db, ctx, invitation_id, user)
    device = new_device(user, credential, device_name, now)
    add_unique(db, device)
    remember_browser(db, device.id, client.browser, now)
    events.emit(
        db,
        events.UserRegistered(
            ctx=ctx, user_id=user.id, device_id=device.id, username=user.username
        ),
    )
    events.emit(
        db,
        events.DeviceAdded(
            ctx=ctx,
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            first_device=True,
        ),
    )
    token = start_session(
        db, settings, ctx, user_id=user.id, device_id=device.id, verified=credential.user_verified
    )
    return SignIn(user, device, token)


# ---- sign in -------------------------------------------------------------------------------


def begin_authentication(
    db: Session, settings: Settings, ctx: RequestContext, *, username: str | None
) -> dict[str, Any]:
    """Options for username-first (``username`` given) or usernameless sign-in.

    An unknown username, or an ID with no active device, gets the same shape of answer as a real
    one: credential ids derived from a keyed hash of the username, stable across calls, so the
    answer tells nobody which IDs exist."""
    user_id: int | None = None
    allow: list[tuple[bytes, list[str]]] = []
    if username is not None:
        username = normalise_typed_username(username)
        user = find_user(db, username)
        user_id = user.id if user is not None else None
        # The same query runs for an unknown username (matching nothing), so the two answers
        # also cost the same.
        allow = [
            (d.credential_id, list(d.transports or []))
            for d in db.scalars(
                sa.select(Device)
                .where(Device.user_id == user_id, Device.status == DeviceStatus.ACTIVE)
                .order_by(Device.id)
            )
        ]
        if not allow:
            allow = _decoy_credentials(settings.secret_key, username)
    challenge = challenges.issue(
        db,
        purpose=ChallengePurpose.AUTHENTICATE,
        browser=ctx.client.browser,
        ttl=settings.challenge_ttl,
        now=ctx.now,
        user_id=user_id,
        state={"username_first": username is not None},
    )
    return authentication_options(settings.rp, challenge=challenge, allow=allow)


# Shapes real credentials come in (id length, transports the browser reported): platform
# passkeys, synced passkeys, security keys. Decoys pick among them so their values, not only
# their keys, look like a real ID's.
_DECOY_ID_LENGTHS = (16, 20, 32, 48, 64)
_DECOY_TRANSPORTS = (
    ["hybrid", "internal"],
    ["internal"],
    ["usb"],
    ["nfc", "usb"],
    ["hybrid", "internal"],
)


def _decoy_credentials(secret_key: str, username: str) -> list[tuple[bytes, list[str]]]:
    """1–3 made-up credentials for ``username``: derived from a keyed hash, so the same name
    always gets the same answer and nobody without the key can tell them from real ones."""
    key = username_key(username)
    seed = keyed_hash(secret_key, "decoy-credentials", key)
    decoys = []
    for i in range(1 + seed[0] % 3):
        material = keyed_hash(secret_key, f"decoy-credential-{i}", key)
        material += keyed_hash(secret_key, f"decoy-credential-{i}-more", key)
        length = _DECOY_ID_LENGTHS[seed[1 + i] % len(_DECOY_ID_LENGTHS)]
        transports = _DECOY_TRANSPORTS[seed[4 + i] % len(_DECOY_TRANSPORTS)]
        decoys.append((material[:length], list(transports)))
    return decoys


def complete_authentication(
    db: Session, settings: Settings, ctx: RequestContext, raw: Mapping[str, Any]
) -> SignIn:
    """Sign-in: verifies the assertion (``verify_assertion``), then starts the session."""
    assertion = verify_assertion(db, settings, ctx, raw, purpose=ChallengePurpose.AUTHENTICATE)
    device, user = assertion.device, assertion.user
    events.emit(
        db,
        events.SignedIn(
            ctx=ctx,
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            new_browser=remember_browser(db, device.id, ctx.client.browser, ctx.now),
        ),
    )
    token = start_session(
        db, settings, ctx, user_id=user.id, device_id=device.id, verified=assertion.user_verified
    )
    return SignIn(user, device, token)


def start_session(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    *,
    user_id: int,
    device_id: int,
    verified: bool,
) -> str:
    """A new sign-in session for ``device_id`` (ending this browser's previous one); returns
    the token for the cookie. ``verified``: the user was verified just now (fresh)."""
    return sessions.start(
        db,
        ctx,
        user_id=user_id,
        device_id=device_id,
        policy=settings.sessions,
        verified=verified,
    ).token


# ---- step-up (fresh user verification for sensitive actions) --------------------------------


def begin_reauth(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User
) -> dict[str, Any]:
    """Options to verify the signed-in user again: UV required, this ID's active devices."""
    allow = [
        (d.credential_id, list(d.transports or []))
        for d in list_devices(db, user)
        if d.status == DeviceStatus.ACTIVE
    ]
    challenge = challenges.issue(
        db,
        purpose=ChallengePurpose.REAUTH,
        browser=ctx.client.browser,
        ttl=settings.challenge_ttl,
        now=ctx.now,
        user_id=user.id,
        state={"username_first": True},
    )
    options = authentication_options(
        settings.rp, challenge=challenge, allow=allow, user_verification="required"
    )
    return options


def complete_reauth(
    db: Session, settings: Settings, ctx: RequestContext, raw: Mapping[str, Any], *, user: User
) -> None:
    assertion = verify_assertion(db, settings, ctx, raw, purpose=ChallengePurpose.REAUTH)
    device, owner = assertion.device, assertion.user
    login_session = ctx.login_session
    if owner.id != user.id or login_session is None:
        raise AuthenticationFailed(detail="step-up by another ID's device")
    if not assertion.user_verified:
        raise AuthenticationFailed(detail="step-up needs user verification")
    login_session.verified_at = ctx.now
    events.emit(
        db,
        events.Reauthenticated(
            ctx=ctx, user_id=user.id, device_id=device.id, device_name=device.name
        ),
    )


def sign_out(db: Session, ctx: RequestContext, *, user: User | None) -> None:
    """Ends the browser's session (the cookie's, live or not)."""
    if ctx.session_token:
        sessions.revoke_token(db, ctx.session_token, ctx.now)
    if user is not None:
        events.emit(db, events.SignedOut(ctx=ctx, user_id=user.id, device_id=ctx.client.device_id))
