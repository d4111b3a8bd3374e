"""Use cases of the passkey feature: sign up, sign in, add, rename and remove devices.

Each ties storage, the pure ceremony checks and events together. Services flush and never
commit (the views commit once), with one documented exception: the challenge store commits
the consumption of a challenge before verification (see ``webauthn.challenges``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from fido2.utils import websafe_encode
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import events, sessions
from core.errors import (
    AuthenticationFailed,
    DeviceBlocked,
    DeviceRemoved,
    InvalidInput,
    LastDevice,
    NotFound,
    RegistrationFailed,
    UsernameTaken,
)
from core.models import LoginSession, User
from core.security import ClientInfo, keyed_hash
from webauthn import challenges
from webauthn.aaguids import authenticator_name, format_aaguid
from webauthn.ceremony import (
    CounterRegression,
    RelyingParty,
    StoredCredential,
    authentication_options,
    parse_authentication,
    parse_registration,
    registration_options,
    verify_authentication,
    verify_registration,
)
from webauthn.models import Device, DeviceBrowser

USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
DEVICE_NAME_MAX = 64
DEFAULT_DEVICE_NAME = "Passkey"
ACTIVE, BLOCKED, PENDING, REMOVED = "active", "blocked", "pending", "removed"
# What a passkey of a device in that status hears when it tries to sign in (after its
# signature verified).
_REFUSED_STATUS = {BLOCKED: DeviceBlocked, REMOVED: DeviceRemoved}


@dataclass(frozen=True)
class Settings:
    """What the passkey use cases need from configuration, built once per app."""

    rp: RelyingParty
    challenge_ttl: int
    secret_key: str
    sessions: sessions.SessionPolicy
    reauth_max_age: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            rp=RelyingParty(
                id=config["RP_ID"],
                name=config["RP_NAME"],
                origins=frozenset(config["ALLOWED_ORIGINS"]),
                user_verification=config["USER_VERIFICATION"],
                resident_key=config["RESIDENT_KEY"],
                timeout_ms=config["CHALLENGE_TTL"] * 1000,
            ),
            challenge_ttl=config["CHALLENGE_TTL"],
            secret_key=config["SECRET_KEY"],
            sessions=sessions.SessionPolicy(
                config["SESSION_LIFETIME"], config["SESSION_IDLE_TIMEOUT"]
            ),
            reauth_max_age=config["REAUTH_MAX_AGE"],
        )


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in or sign-up: who, with which device, and the new session's token."""

    user: User
    device: Device
    session_token: str


# ---- validation of user-supplied values (domain rules, shared by every entry point) ---------


def normalise_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput("A username is 3 to 64 letters, digits, '.', '_' or '-'.")
    return username


def normalise_email(email: str) -> str:
    """A deliverable-looking address in its normal form (email-validator's syntax rules, IDN
    domains and plus-addressing included; no DNS lookup). Control characters, ``,``, ``<``,
    ``;`` and friends never reach a mail header. A non-ASCII local part is refused: it needs
    SMTPUTF8, which the outbox does not speak (IDN domains are mailed in their ASCII form)."""
    email = email.strip()
    if len(email) > 254:
        raise InvalidInput("Enter a valid email address.")
    try:
        return str(
            validate_email(
                email, check_deliverability=False, strict=True, allow_smtputf8=False
            ).normalized
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"Enter a valid email address. {exc}") from exc


def normalise_display_name(display_name: str | None, username: str) -> str:
    display_name = (display_name or "").strip()
    if len(display_name) > 128 or any(ch in display_name for ch in "\x00\r\n"):
        raise InvalidInput("A display name is at most 128 characters on one line.")
    return display_name or username


def normalise_device_name(name: str | None, *, required: bool = False) -> str:
    name = " ".join((name or "").split())
    if not name:
        if required:
            raise InvalidInput("A device name cannot be empty.")
        return DEFAULT_DEVICE_NAME
    if len(name) > DEVICE_NAME_MAX:
        raise InvalidInput(f"A device name is at most {DEVICE_NAME_MAX} characters.")
    return name


def _find_user(db: Session, username: str) -> User | None:
    return db.scalar(sa.select(User).where(User.username_key == username.lower()))


# ---- sign up -------------------------------------------------------------------------------


def begin_registration(
    db: Session,
    settings: Settings,
    *,
    username: str,
    email: str,
    display_name: str | None,
    client: ClientInfo,
    now: datetime,
) -> dict[str, Any]:
    username = normalise_username(username)
    email = normalise_email(email)
    display_name = normalise_display_name(display_name, username)
    if _find_user(db, username) is not None:
        raise UsernameTaken()
    user_handle = secrets.token_bytes(32)
    challenge = challenges.issue(
        db,
        purpose=challenges.REGISTER,
        browser=client.browser,
        ttl=settings.challenge_ttl,
        now=now,
        state={
            "username": username,
            "email": email,
            "display_name": display_name,
            "user_handle": user_handle.hex(),
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
    raw: Mapping[str, Any],
    *,
    device_name: str | None,
    client: ClientInfo,
    now: datetime,
    previous_session_token: str | None,
) -> SignIn:
    device_name = normalise_device_name(device_name)
    response = parse_registration(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=challenges.REGISTER,
        browser=client.browser,
        now=now,
    )
    if pending is None:
        raise RegistrationFailed(detail="no pending registration for this challenge and browser")
    credential = verify_registration(settings.rp, response, raw, challenge=pending.challenge)
    state = pending.state
    if _find_user(db, state["username"]) is not None:
        raise UsernameTaken()
    _require_unregistered(db, credential.credential_id)
    user = User(
        user_handle=bytes.fromhex(state["user_handle"]),
        username=state["username"],
        username_key=state["username"].lower(),
        email=state["email"],
        display_name=state["display_name"],
        created_at=now,
    )
    db.add(user)
    _flush_unique(db)
    device = _new_device(user, credential, device_name, now)
    db.add(device)
    _flush_unique(db)
    _remember_browser(db, device.id, client.browser, now)
    events.user_registered.send(
        None, db=db, user_id=user.id, device_id=device.id, client=client, username=user.username
    )
    events.device_added.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        device_name=device.name,
        first_device=True,
    )
    token = start_session(
        db,
        settings,
        user_id=user.id,
        device_id=device.id,
        client=client,
        now=now,
        previous_token=previous_session_token,
        verified=credential.user_verified,
    )
    return SignIn(user, device, token)


def _new_device(user: User, credential: Any, name: str, now: datetime) -> Device:
    return Device(
        user_id=user.id,
        credential_id=credential.credential_id,
        public_key=credential.public_key,
        alg=credential.alg,
        sign_count=credential.sign_count,
        aaguid=credential.aaguid,
        name=name,
        transports=list(credential.transports),
        backup_eligible=credential.backup_eligible,
        backed_up=credential.backed_up,
        uv_initialized=credential.user_verified,
        attestation_format=credential.attestation_format,
        status=ACTIVE,
        flagged=False,
        created_at=now,
        last_used_at=now,
    )


def _require_unregistered(db: Session, credential_id: bytes) -> None:
    """A credential id is unique across all IDs (§7.1 step 26)."""
    if db.scalar(sa.select(Device.id).where(Device.credential_id == credential_id)) is not None:
        raise RegistrationFailed(
            "This passkey or security key is already registered.",
            detail="credential id already registered",
        )


def _flush_unique(db: Session) -> None:
    """Flush; a unique-constraint race lost to a concurrent request reads as the same error the
    pre-check gives."""
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        if "username" in str(exc.orig).lower():
            raise UsernameTaken() from exc
        raise RegistrationFailed(
            "This passkey or security key is already registered.", detail=str(exc.orig)
        ) from exc


# ---- sign in -------------------------------------------------------------------------------


def begin_authentication(
    db: Session, settings: Settings, *, username: str | None, client: ClientInfo, now: datetime
) -> dict[str, Any]:
    """Options for username-first (``username`` given) or usernameless sign-in.

    An unknown username, or an ID with no active device, gets the same shape of answer as a real
    one: credential ids derived from a keyed hash of the username, stable across calls, so the
    answer tells nobody which IDs exist."""
    user_id: int | None = None
    allow: list[tuple[bytes, list[str]]] = []
    if username is not None:
        username = username.strip()
        if not username or len(username) > 254:
            raise InvalidInput("Enter your username.")
        user = _find_user(db, username)
        user_id = user.id if user is not None else None
        # The same query runs for an unknown username (matching nothing), so the two answers
        # also cost the same.
        allow = [
            (d.credential_id, list(d.transports or []))
            for d in db.scalars(
                sa.select(Device)
                .where(Device.user_id == user_id, Device.status == "active")
                .order_by(Device.id)
            )
        ]
        if not allow:
            allow = _decoy_credentials(settings.secret_key, username)
    challenge = challenges.issue(
        db,
        purpose=challenges.AUTHENTICATE,
        browser=client.browser,
        ttl=settings.challenge_ttl,
        now=now,
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
    key = username.lower()
    seed = keyed_hash(secret_key, "decoy-credentials", key)
    decoys = []
    for i in range(1 + seed[0] % 3):
        material = keyed_hash(secret_key, f"decoy-credential-{i}", key)
        material += keyed_hash(secret_key, f"decoy-credential-{i}-more", key)
        length = _DECOY_ID_LENGTHS[seed[1 + i] % len(_DECOY_ID_LENGTHS)]
        transports = _DECOY_TRANSPORTS[seed[4 + i] % len(_DECOY_TRANSPORTS)]
        decoys.append((material[:length], list(transports)))
    return decoys


def _verified_assertion(
    db: Session,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    purpose: str,
    client: ClientInfo,
    now: datetime,
) -> tuple[Device, User, bool]:
    """Consumes the pending challenge and runs every check on an assertion; on success the
    device's counter, backup state and last use are updated, and whether the user was verified
    is returned. Sign-in and step-up share it."""
    response = parse_authentication(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=purpose,
        browser=client.browser,
        now=now,
    )
    if pending is None:
        raise AuthenticationFailed(detail="no pending ceremony for this challenge and browser")
    row = db.execute(
        sa.select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(Device.credential_id == response.raw_id)
    ).first()
    if row is None:
        raise AuthenticationFailed(detail="unknown credential")
    device, user = row
    if user.deleted_at is not None:
        # Like an unknown credential: a deleted ID's tombstone gathers no new audit rows.
        raise AuthenticationFailed(detail="the ID was deleted")
    username_first = bool(pending.state.get("username_first"))
    if username_first and device.user_id != pending.user_id:
        # A credential of one ID can never complete a ceremony begun for another.
        raise AuthenticationFailed(detail="credential belongs to another ID")
    stored = StoredCredential(
        credential_id=device.credential_id,
        public_key=device.public_key,
        aaguid=device.aaguid,
        sign_count=device.sign_count,
        backup_eligible=device.backup_eligible,
        user_handle=user.user_handle,
    )
    received_count = response.response.authenticator_data.counter
    try:
        assertion = verify_authentication(
            settings.rp,
            response,
            raw,
            challenge=pending.challenge,
            stored=stored,
            user_handle_required=not username_first,
        )
    except CounterRegression as exc:
        if device.status == ACTIVE:
            _flag_clone(db, device, user, client, received_count, exc)
        assertion = None
    if device.status != ACTIVE:
        # Recorded only after the signature verified: without the key nobody can write to an
        # ID's audit trail by replaying a blocked device's (public) credential id.
        events.sign_in_failed.send(
            None,
            db=db,
            user_id=user.id,
            device_id=device.id,
            client=client,
            reason=f"device_{device.status}",
            device_name=device.name,
        )
        refused = _REFUSED_STATUS.get(device.status, AuthenticationFailed)
        raise refused(detail=f"device is {device.status}", keep_changes=True)
    if assertion is None:  # unreachable: a regression on an active device raised above
        raise AuthenticationFailed(detail="no assertion")
    if not _advance_counter(db, device, assertion, now):
        status_now = db.scalar(sa.select(Device.status).where(Device.id == device.id))
        if status_now != ACTIVE:  # blocked or removed meanwhile
            refused = _REFUSED_STATUS.get(status_now or REMOVED, AuthenticationFailed)
            raise refused(detail=f"device became {status_now}")
        # Another sign-in with the same or a higher counter won between our read and this
        # write (two workers, the same assertion counter): exactly one may win.
        _flag_clone(
            db,
            device,
            user,
            client,
            received_count,
            CounterRegression(detail="sign counter raced by a concurrent sign-in"),
        )
    return device, user, assertion.user_verified


def _advance_counter(db: Session, device: Device, assertion: Any, now: datetime) -> bool:
    """Stores the new counter only if it still moves forward (§7.2 step 22) as one conditional
    UPDATE, so that of two concurrent sign-ins with the same counter exactly one wins. An
    authenticator without a counter (0 stored, 0 received) always passes."""
    table = Device.__table__
    new_count = assertion.sign_count
    moves_forward = table.c.sign_count < new_count if new_count else table.c.sign_count == 0
    result = db.execute(
        sa.update(table)
        .where(table.c.id == device.id, table.c.status == ACTIVE, moves_forward)
        .values(sign_count=new_count, backed_up=assertion.backed_up, last_used_at=now)
    )
    if result.rowcount != 1:
        return False
    # The row is written; keep the loaded object in step without another UPDATE.
    for key, value in (
        ("sign_count", new_count),
        ("backed_up", assertion.backed_up),
        ("last_used_at", now),
    ):
        set_committed_value(device, key, value)
    return True


def _flag_clone(
    db: Session,
    device: Device,
    user: User,
    client: ClientInfo,
    received_count: int,
    exc: CounterRegression,
) -> None:
    """Flags a possibly cloned device, records it, and refuses the sign-in (keeping the flag)."""
    stored_count = db.scalar(sa.select(Device.sign_count).where(Device.id == device.id))
    device.flagged = True
    events.device_flagged.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        device_name=device.name,
        stored_count=stored_count,
        received_count=received_count,
    )
    exc.keep_changes = True
    raise exc


def complete_authentication(
    db: Session,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    client: ClientInfo,
    now: datetime,
    previous_session_token: str | None,
) -> SignIn:
    device, user, user_verified = _verified_assertion(
        db, settings, raw, purpose=challenges.AUTHENTICATE, client=client, now=now
    )
    events.signed_in.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        device_name=device.name,
        new_browser=_remember_browser(db, device.id, client.browser, now),
    )
    token = start_session(
        db,
        settings,
        user_id=user.id,
        device_id=device.id,
        client=client,
        now=now,
        previous_token=previous_session_token,
        verified=user_verified,
    )
    return SignIn(user, device, token)


def start_session(
    db: Session,
    settings: Settings,
    *,
    user_id: int,
    device_id: int,
    client: ClientInfo,
    now: datetime,
    previous_token: str | None,
    verified: bool,
) -> str:
    """A new sign-in session for ``device_id`` (ending this browser's previous one); returns
    the token for the cookie. ``verified``: the user was verified just now (fresh)."""
    return sessions.start(
        db,
        user_id=user_id,
        device_id=device_id,
        client=client,
        policy=settings.sessions,
        now=now,
        previous_token=previous_token,
        verified=verified,
    ).token


def _remember_browser(db: Session, device_id: int, browser: bytes, now: datetime) -> bool:
    """Records that ``device`` was used in this browser; True the first time (a sign-in from
    a device the ID has not used before on that browser)."""
    table = DeviceBrowser.__table__
    known = db.execute(
        sa.select(table.c.device_id).where(
            table.c.device_id == device_id, table.c.browser == browser
        )
    ).first()
    if known is not None:
        return False
    db.execute(sa.insert(table).values(device_id=device_id, browser=browser, first_seen_at=now))
    return True


# ---- step-up (fresh user verification for sensitive actions) --------------------------------


def begin_reauth(
    db: Session, settings: Settings, *, user: User, client: ClientInfo, now: datetime
) -> dict[str, Any]:
    """Options to verify the signed-in user again: UV required, this ID's active devices."""
    allow = [
        (d.credential_id, list(d.transports or []))
        for d in list_devices(db, user)
        if d.status == "active"
    ]
    challenge = challenges.issue(
        db,
        purpose=challenges.REAUTH,
        browser=client.browser,
        ttl=settings.challenge_ttl,
        now=now,
        user_id=user.id,
        state={"username_first": True},
    )
    options = authentication_options(
        settings.rp, challenge=challenge, allow=allow, user_verification="required"
    )
    return options


def complete_reauth(
    db: Session,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    user: User,
    login_session: LoginSession | None,
    client: ClientInfo,
    now: datetime,
) -> None:
    device, owner, user_verified = _verified_assertion(
        db, settings, raw, purpose=challenges.REAUTH, client=client, now=now
    )
    if owner.id != user.id or login_session is None:
        raise AuthenticationFailed(detail="step-up by another ID's device")
    if not user_verified:
        raise AuthenticationFailed(detail="step-up needs user verification")
    login_session.verified_at = now
    events.reauthenticated.send(
        None, db=db, user_id=user.id, device_id=device.id, client=client, device_name=device.name
    )


def require_fresh(login_session: LoginSession | None, settings: Settings, now: datetime) -> None:
    """Sensitive actions need a user verification in this session within REAUTH_MAX_AGE."""
    sessions.require_fresh(login_session, max_age=settings.reauth_max_age, now=now)


def sign_out(
    db: Session,
    *,
    user: User | None,
    session_token: str | None,
    client: ClientInfo,
    device_id: int | None,
    now: datetime,
) -> None:
    if session_token:
        sessions.revoke_token(db, session_token, now)
    if user is not None:
        events.signed_out.send(None, db=db, user_id=user.id, device_id=device_id, client=client)


# ---- devices -------------------------------------------------------------------------------


def device_json(device: Device, current_device_id: int | None) -> dict[str, Any]:
    return {
        "id": device.id,
        "credential_id": websafe_encode(device.credential_id),
        "name": device.name,
        "created_at": device.created_at.isoformat(),
        "last_used_at": device.last_used_at.isoformat() if device.last_used_at else None,
        "status": device.status,
        "aaguid": format_aaguid(device.aaguid),
        "authenticator": authenticator_name(device.aaguid),
        "backup_eligible": device.backup_eligible,
        "backed_up": device.backed_up,
        "flagged": device.flagged,
        "current": device.id == current_device_id,
        "blocked_at": device.blocked_at.isoformat() if device.blocked_at else None,
    }


def list_devices(db: Session, user: User) -> list[Device]:
    """The ID's devices as its owner sees them: removed ones are kept as rows (their ids are
    never reused) but are gone for the owner."""
    return list(
        db.scalars(
            sa.select(Device)
            .where(Device.user_id == user.id, Device.status != REMOVED)
            .order_by(Device.id)
        )
    )


def begin_add_device(
    db: Session,
    settings: Settings,
    *,
    user: User,
    device_name: str | None,
    client: ClientInfo,
    now: datetime,
    purpose: str = challenges.ADD_DEVICE,
    login_session: LoginSession | None = None,
) -> dict[str, Any]:
    """Options to add a device; ``device_name`` is kept with the challenge and used unless
    the completing request names the device itself. ``purpose`` RECOVER is for recovery,
    whose new device is announced by recovery's own events, and PAIR for pairing (approved
    later by a verified device). A signed-in ID adding a device (ADD_DEVICE) changes what can
    sign in to it, so its session needs a fresh user verification, at begin and at complete."""
    if purpose == challenges.ADD_DEVICE:
        require_fresh(login_session, settings, now)
    state = {} if device_name is None else {"device_name": normalise_device_name(device_name)}
    devices = list_devices(db, user)
    challenge = challenges.issue(
        db,
        purpose=purpose,
        browser=client.browser,
        ttl=settings.challenge_ttl,
        now=now,
        user_id=user.id,
        state=state,
    )
    return registration_options(
        settings.rp,
        challenge=challenge,
        user_handle=user.user_handle,
        username=user.username,
        display_name=user.display_name,
        exclude=[d.credential_id for d in devices],
    )


def complete_add_device(
    db: Session,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    user: User,
    device_name: str | None,
    client: ClientInfo,
    now: datetime,
    purpose: str = challenges.ADD_DEVICE,
    login_session: LoginSession | None = None,
) -> Device:
    if purpose == challenges.ADD_DEVICE:
        require_fresh(login_session, settings, now)
    if device_name is not None:
        device_name = normalise_device_name(device_name)
    response = parse_registration(raw)
    pending = challenges.consume(
        db,
        challenge=response.response.client_data.challenge,
        purpose=purpose,
        browser=client.browser,
        now=now,
    )
    if pending is None or pending.user_id != user.id:
        raise RegistrationFailed(detail="no pending device registration for this ID and browser")
    if device_name is None:
        device_name = normalise_device_name(pending.state.get("device_name"))
    credential = verify_registration(settings.rp, response, raw, challenge=pending.challenge)
    _require_unregistered(db, credential.credential_id)
    device = _new_device(user, credential, device_name, now)
    # A recovered device signs in with this very ceremony; an added or paired one has not
    # been used yet.
    device.last_used_at = now if purpose == challenges.RECOVER else None
    db.add(device)
    _flush_unique(db)
    _remember_browser(db, device.id, client.browser, now)
    if purpose == challenges.ADD_DEVICE:
        events.device_added.send(
            None,
            db=db,
            user_id=user.id,
            device_id=device.id,
            client=client,
            device_name=device.name,
        )
    return device


def _own_device(db: Session, user: User, device_id: int) -> Device:
    device = db.scalar(
        sa.select(Device).where(
            Device.id == device_id, Device.user_id == user.id, Device.status != REMOVED
        )
    )
    if device is None:
        raise NotFound("No such device.")
    return device


def rename_device(
    db: Session, *, user: User, device_id: int, name: str, client: ClientInfo
) -> Device:
    name = normalise_device_name(name, required=True)
    device = _own_device(db, user, device_id)
    old_name, device.name = device.name, name
    events.device_renamed.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        old_name=old_name,
        device_name=name,
    )
    return device


def remove_device(
    db: Session,
    settings: Settings,
    *,
    user: User,
    device_id: int,
    login_session: LoginSession | None,
    client: ClientInfo,
    now: datetime,
) -> None:
    """Unpairs a device and ends its sessions (needs a fresh user verification). The last
    active device stays: an ID without one could only come back through recovery."""
    require_fresh(login_session, settings, now)
    device = _own_device(db, user, device_id)
    if device.status == "active":
        others = db.scalar(
            sa.select(sa.func.count(Device.id)).where(
                Device.user_id == user.id, Device.status == "active", Device.id != device.id
            )
        )
        if not others:
            raise LastDevice()
    sessions.revoke_device_sessions(db, device.id, now)
    events.device_removed.send(
        None,
        db=db,
        user_id=user.id,
        device_id=device.id,
        client=client,
        device_name=device.name,
        credential_id=websafe_encode(device.credential_id),
    )
    _mark_removed(device, now)
    db.flush()


def _mark_removed(device: Device, now: datetime) -> None:
    """Removed devices stay as rows: their ids are never given to another ID's device (an old
    notification or link names exactly this one), and their passkey hears why it cannot sign
    in."""
    device.status, device.removed_at = REMOVED, now


def block_device(
    db: Session,
    settings: Settings,
    *,
    user: User,
    device_id: int,
    login_session: LoginSession | None,
    client: ClientInfo,
    now: datetime,
) -> Device:
    """Blocks a device of the signed-in ID at once and for good (needs a fresh user
    verification)."""
    require_fresh(login_session, settings, now)
    device = _own_device(db, user, device_id)
    block(db, device, client=client, now=now, via="account")
    return device


def block(db: Session, device: Device, *, client: ClientInfo, now: datetime, via: str) -> bool:
    """Blocks ``device``: it cannot sign in, its sessions end now, only an administrator can
    unblock it. False when it was already blocked or is removed (nothing changes)."""
    if device.status in (BLOCKED, REMOVED):
        return False
    was_pending = device.status == "pending"
    device.status, device.blocked_at = "blocked", now
    sessions.revoke_device_sessions(db, device.id, now)
    if not was_pending:
        events.device_blocked.send(
            None,
            db=db,
            user_id=device.user_id,
            device_id=device.id,
            client=client,
            device_name=device.name,
            via=via,
            credential_id=websafe_encode(device.credential_id),
        )
    db.flush()
    return True


def remove_other_devices(
    db: Session, *, user: User, keep_device_id: int, client: ClientInfo, now: datetime
) -> list[str]:
    """Removes every device of the ID but ``keep_device_id`` and ends their sessions (a
    restore after a lost or stolen device). Returns the removed devices' names."""
    removed = []
    for device in list_devices(db, user):
        if device.id == keep_device_id:
            continue
        sessions.revoke_device_sessions(db, device.id, now)
        events.device_removed.send(
            None,
            db=db,
            user_id=user.id,
            device_id=device.id,
            client=client,
            device_name=device.name,
            reason="restore",
        )
        removed.append(device.name)
        _mark_removed(device, now)
    db.flush()
    return removed


def unblock(db: Session, *, device_id: int, actor: str, now: datetime) -> Device:
    """An administrator unblocks a device (the owner blocked their last one by mistake, or
    locked themselves out): it can sign in again. Audited; every device and the address are
    told, like any device the ID gains."""
    device = db.scalar(sa.select(Device).where(Device.id == device_id, Device.status == BLOCKED))
    if device is None:
        raise NotFound("No blocked device with that id.")
    device.status, device.blocked_at = ACTIVE, None
    db.flush()
    events.device_unblocked.send(
        None,
        db=db,
        user_id=device.user_id,
        device_id=device.id,
        client=ClientInfo(ip="", user_agent=actor, browser=b""),
        device_name=device.name,
        actor=actor,
    )
    return device
