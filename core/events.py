"""The events features emit: one frozen dataclass per event, sent with ``emit(db, event)``.

A feature that must react to another's change subscribes to the event's class instead of
importing the other feature: ``subscribe(DeviceAdded, handler)``, where the handler takes
``(db, event)``. ``db`` is the SQLAlchemy session of the change: listeners write in that same
transaction, so nothing is recorded or sent for a change that rolled back. A subscriber to a
base class hears its subclasses too: the audit trail (``core.audit``) subscribes to ``Event``
and so records every event but a ``SecretEvent`` (one that carries a one-time code), which it
leaves out by type.

Every event carries ``ctx`` (the per-request value: who acted, from where, and when; listeners
take the time from it, never from the clock), ``user_id`` and, when a device is concerned,
``device_id``. Its other fields are its details, which the audit trail stores under the
event's ``name`` (a stored value: never rename one). A detail with a default is recorded only
when set: some emitters know more than others (a device removed by its owner carries its
``credential_id``, one removed by a restore the ``reason``). The fields are keyword-only, so a
misspelt one is a TypeError where the event is made, not a fact silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, TypeVar

from sqlalchemy.orm import Session

from core.context import RequestContext

_COMMON = frozenset({"ctx", "user_id", "device_id"})


@dataclass(frozen=True, kw_only=True)
class Event:
    """The base of every event; only its subclasses that have a ``name`` are emitted."""

    name: ClassVar[str]

    ctx: RequestContext
    user_id: int | None
    device_id: int | None = None

    def __post_init__(self) -> None:
        if "name" not in vars(type(self)):
            raise TypeError(f"{type(self).__name__} is a kind of event, not one to emit")

    def details(self) -> dict[str, Any]:
        """The event's own facts as plain JSON values: every field but the common ones, and a
        field with a default only when it differs from it."""
        found: dict[str, Any] = {}
        for field in fields(self):
            if field.name in _COMMON:
                continue
            value = getattr(self, field.name)
            if field.default is not MISSING and value == field.default:
                continue
            found[field.name] = list(value) if isinstance(value, tuple) else value
        return found


@dataclass(frozen=True, kw_only=True)
class SecretEvent(Event):
    """An event that carries a secret (a one-time or backup code) for the mail that delivers
    it: never audited, never logged."""


@dataclass(frozen=True, kw_only=True)
class DeviceEvent(Event):
    """An event about one device (``device_id``), named as it was then."""

    device_id: int
    device_name: str


# ---- sign-up, sign-in, step-up -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    name = "user_registered"
    username: str


@dataclass(frozen=True, kw_only=True)
class SignedIn(DeviceEvent):
    name = "signed_in"
    new_browser: bool  # the device's first sign-in in this browser


@dataclass(frozen=True, kw_only=True)
class SignedOut(Event):
    name = "signed_out"


@dataclass(frozen=True, kw_only=True)
class SignInFailed(DeviceEvent):
    """A verified assertion from a device that may not sign in (blocked, removed...)."""

    name = "sign_in_failed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class Reauthenticated(DeviceEvent):
    name = "reauthenticated"


# ---- devices -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeviceAdded(DeviceEvent):
    name = "device_added"
    first_device: bool = False  # the device the ID was created with


@dataclass(frozen=True, kw_only=True)
class DeviceRenamed(DeviceEvent):
    name = "device_renamed"
    old_name: str


@dataclass(frozen=True, kw_only=True)
class DeviceRemoved(DeviceEvent):
    name = "device_removed"
    credential_id: str | None = None  # base64url; set when its owner removed it
    reason: str | None = None  # "restore": removed by a restore, which tells of it itself
    actor_user_id: int | None = None  # the administrator who removed it ("admin" reason)


@dataclass(frozen=True, kw_only=True)
class DeviceFlagged(DeviceEvent):
    """Its sign counter went back: it may have been cloned."""

    name = "device_flagged"
    stored_count: int | None
    received_count: int


@dataclass(frozen=True, kw_only=True)
class DeviceBlocked(DeviceEvent):
    name = "device_blocked"
    via: str  # "account", "email" (the mail's block link) or "admin"
    credential_id: str
    actor_user_id: int | None = None  # the administrator who blocked it (via "admin")


@dataclass(frozen=True, kw_only=True)
class DeviceUnblocked(DeviceEvent):
    name = "device_unblocked"
    actor: str
    actor_user_id: int | None = None  # the administrator's ID (None: the CLI)


@dataclass(frozen=True, kw_only=True)
class DevicePaired(DeviceEvent):
    """A pairing was approved; ``ctx.client`` is the new device's browser, not the
    approver's."""

    name = "device_paired"
    approved_from: str  # the approving browser's user agent


# ---- the account panel ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionEnded(Event):
    name = "session_ended"
    session_id: int


@dataclass(frozen=True, kw_only=True)
class OtherSessionsEnded(Event):
    name = "other_sessions_ended"
    ended: int


@dataclass(frozen=True, kw_only=True)
class DisplayNameChanged(Event):
    name = "display_name_changed"
    old_name: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class UserDeleted(Event):
    """Emitted before the ID's personal data is erased: features delete what they hold for
    the ID (recovery/erasure.py) and notify/ mails ``to`` (None: no confirmed address)."""

    name = "user_deleted"
    to: str | None
    username: str
    actor_user_id: int | None = None  # the administrator who deleted it (None: its owner)


@dataclass(frozen=True, kw_only=True)
class UserDeactivated(Event):
    """An administrator deactivated the ID: its sessions ended (``ended``), nothing signs in,
    recovers or holds a token until it is reactivated; its data stays. ``to``: its confirmed
    address, told (None: none confirmed)."""

    name = "user_deactivated"
    actor_user_id: int
    ended: int
    to: str | None


@dataclass(frozen=True, kw_only=True)
class UserReactivated(Event):
    name = "user_reactivated"
    actor_user_id: int
    to: str | None


# ---- backup and recovery -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupActivated(Event):
    name = "backup_activated"


@dataclass(frozen=True, kw_only=True)
class BackupCodeRegenerated(Event):
    name = "backup_code_regenerated"
    to: str


@dataclass(frozen=True, kw_only=True)
class BackupCodeReissued(Event):
    name = "backup_code_reissued"
    actor: str
    delivered: str  # "display" or "email"
    to: str
    actor_user_id: int | None = None  # the administrator's ID (None: the command line)


@dataclass(frozen=True, kw_only=True)
class RecoveryStarted(Event):
    name = "recovery_started"


@dataclass(frozen=True, kw_only=True)
class RecoveryFailed(Event):
    """A wrong backup code (``user_id`` None for an unknown username) or email code."""

    name = "recovery_failed"
    step: str


@dataclass(frozen=True, kw_only=True)
class DeviceRecovered(DeviceEvent):
    """A recovery's new device: ``DeviceRestored`` (the other devices were removed) or
    ``DeviceDuplicated`` (they were kept)."""

    mode: ClassVar[str]
    removed_devices: tuple[str, ...]
    to: str
    at: str  # ISO 8601, for the mail


@dataclass(frozen=True, kw_only=True)
class DeviceRestored(DeviceRecovered):
    name = "device_restored"
    mode = "restored"


@dataclass(frozen=True, kw_only=True)
class DeviceDuplicated(DeviceRecovered):
    name = "device_duplicated"
    mode = "duplicated"


# ---- the ID's addresses --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EmailVerified(Event):
    name = "email_verified"


@dataclass(frozen=True, kw_only=True)
class EmailChanged(Event):
    name = "email_changed"
    old_address: str  # masked
    new_address: str  # masked
    to: str | None  # the old address, told by mail if it was ever proven


@dataclass(frozen=True, kw_only=True)
class BackupEmailVerified(Event):
    name = "backup_email_verified"
    address: str  # masked


# ---- administration ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PolicyChanged(Event):
    """An administrator set or unset a policy (``core.policy``); ``user_id`` is None (it
    concerns no ID)."""

    name = "policy_changed"
    key: str
    value: Any  # None: back to the configured value
    previous: Any  # the value stored before (None: none was)
    actor_user_id: int | None  # the administrator's ID, or
    actor: str | None  # who, when no ID did it (``cli:<login>``)


# ---- authenticator models (the FIDO Metadata Service) ---------------------------------------


@dataclass(frozen=True, kw_only=True)
class AuthenticatorMetadataLoaded(Event):
    """A verified FIDO Metadata Service BLOB replaced the authenticator models
    (``webauthn.metadata``); ``user_id`` is None (it concerns no ID)."""

    name = "authenticator_metadata_loaded"
    no: int  # the BLOB's serial number
    next_update: str  # ISO date
    entries: int  # models loaded (entries with an AAGUID)
    previous_no: int | None  # the BLOB loaded before (None: none was)
    actor_user_id: int | None  # the administrator's ID, or
    actor: str | None  # who, when no ID did it (``cli:<login>``)


# ---- administration: roles ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RoleGranted(Event):
    """``user_id`` got ``role``; ``actor_user_id`` (an admin) or ``actor`` (the CLI) gave it."""

    name = "role_granted"
    role: str
    actor_user_id: int | None
    actor: str | None


@dataclass(frozen=True, kw_only=True)
class RoleRevoked(Event):
    name = "role_revoked"
    role: str
    actor_user_id: int | None
    actor: str | None


@dataclass(frozen=True, kw_only=True)
class BrandingChanged(Event):
    """An administrator changed the organisation's name, accent colour or logo
    (``core.branding``); ``user_id`` is None. A logo is recorded by its hash, type and size,
    never its bytes."""

    name = "branding_changed"
    field: str  # "name", "accent_color" or "logo"
    value: Any  # None: back to the default (no logo)
    previous: Any
    actor_user_id: int


@dataclass(frozen=True, kw_only=True)
class SessionsEndedByAdmin(Event):
    """An administrator ended sessions of ``user_id``: all of them, or the one
    ``session_id``."""

    name = "sessions_ended_by_admin"
    ended: int
    actor_user_id: int
    session_id: int | None = None


# ---- administration: invitations ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InvitationCreated(Event):
    """An invitation to create an ID (``user_id`` None: no ID exists yet). Its address and
    username stay in the invitation's row (erased with the ID it creates), not in the trail."""

    name = "invitation_created"
    invitation_id: int
    role: str | None
    delivery: str  # "email" or "display"
    actor_user_id: int | None  # the administrator, or
    actor: str | None  # who, when no ID did it (``cli:<login>``)


@dataclass(frozen=True, kw_only=True)
class InvitationRevoked(Event):
    name = "invitation_revoked"
    invitation_id: int
    actor_user_id: int


@dataclass(frozen=True, kw_only=True)
class InvitationAccepted(Event):
    """``user_id`` was created with the invitation; admin/ grants ``role`` (if any) with the
    inviting administrator as actor."""

    name = "invitation_accepted"
    invitation_id: int
    role: str | None
    actor_user_id: int | None  # who invited
    actor: str | None


# ---- partner websites (embed/) -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClientRegistered(Event):
    """A partner website was registered (``user_id`` None: it concerns no ID)."""

    name = "client_registered"
    client_id: str
    client_name: str
    actor: str | None
    actor_user_id: int | None = None  # the administrator's ID (the admin API)


@dataclass(frozen=True, kw_only=True)
class ClientRemoved(Event):
    name = "client_removed"
    client_id: str
    client_name: str
    actor: str | None
    actor_user_id: int | None = None  # the administrator's ID (the admin API)


@dataclass(frozen=True, kw_only=True)
class ClientUpdated(Event):
    """A partner website's settings changed: ``changes`` maps each changed setting to its
    old and new value (``{"origins": {"old": [...], "new": [...]}}``)."""

    name = "client_updated"
    client_id: str
    changes: dict[str, Any]
    actor: str | None
    actor_user_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ClientSecretRotated(Event):
    name = "client_secret_rotated"
    client_id: str
    actor: str | None
    actor_user_id: int | None = None  # the administrator's ID (the admin API)


@dataclass(frozen=True, kw_only=True)
class SigningKeysRotated(Event):
    name = "signing_keys_rotated"
    kids: tuple[str, ...]
    actor: str | None


@dataclass(frozen=True, kw_only=True)
class WebsiteConnected(Event):
    """An ID signed in to a website for the first time: every device is told."""

    name = "website_connected"
    client_id: str
    client_name: str
    origin: str  # where the website lives (its first redirect URI's origin)


@dataclass(frozen=True, kw_only=True)
class WebsiteSignedIn(Event):
    """A website received an authorization code for this ID (``device_id``: the device used)."""

    name = "website_signed_in"
    client_id: str
    client_name: str


@dataclass(frozen=True, kw_only=True)
class WebsiteDisconnected(Event):
    """The owner disconnected a website: its consent and tokens are gone."""

    name = "website_disconnected"
    client_id: str
    client_name: str


# ---- mail that carries a secret ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EmailCodeIssued(SecretEvent):
    name = "email_code_issued"
    to: str
    code: str
    purpose: str
    valid_minutes: int


@dataclass(frozen=True, kw_only=True)
class BackupCodeDelivered(SecretEvent):
    name = "backup_code_delivered"
    to: str
    code: str


@dataclass(frozen=True, kw_only=True)
class InvitationDelivered(SecretEvent):
    """An invitation's link, for the mail that carries it (``user_id`` None)."""

    name = "invitation_delivered"
    to: str
    url: str
    expires: str  # "YYYY-MM-DD HH:MM UTC", for the mail
    username: str | None


# ---- emitting and subscribing --------------------------------------------------------------

E = TypeVar("E", bound=Event)
_subscriptions: list[tuple[type[Event], Callable[[Session, Any], None]]] = []


def subscribe(event_type: type[E], handler: Callable[[Session, E], None]) -> None:
    """Calls ``handler(db, event)`` for every emitted ``event_type``, subclasses included.
    Idempotent (apps are created many times in one process); handlers run in the order they
    subscribed."""
    if (event_type, handler) not in _subscriptions:
        _subscriptions.append((event_type, handler))


def emit(db: Session, event: Event) -> None:
    """Hands ``event`` to its subscribers, in ``db``'s transaction; none is fine."""
    for event_type, handler in tuple(_subscriptions):
        if isinstance(event, event_type):
            handler(db, event)
