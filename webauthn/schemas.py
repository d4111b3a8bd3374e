"""The passkey API's edge: request bodies, answers, and the declaration of each endpoint (what
docs/openapi.py writes into the OpenAPI document).

Past 400 lines on purpose: it is the contract of 19 endpoints (sign-up, sign-in, devices,
step-up, the account panel), flat declarations read one at a time, kept in one place so the
contract of a view is found where its models are."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from core.encoding import b64url
from core.errors import InvalidInput, NotFound
from core.schemas import (
    FRESH,
    SIGNED_IN,
    Answer,
    Body,
    Checked,
    CredentialBody,
    Endpoint,
    Extended,
    Extension,
    NoFields,
    Timestamp,
    UserAnswer,
    UserOut,
    document,
)
from core.users import (
    DISPLAY_NAME,
    EMAIL,
    TYPED_USERNAME,
    USERNAME,
    check_display_name,
    normalise_email,
    normalise_typed_username,
    normalise_username,
)
from webauthn.aaguids import device_model_name, format_aaguid
from webauthn.account import SessionInfo
from webauthn.devices import DEVICE_NAME, normalise_device_name
from webauthn.errors import (
    AttestationNotTrusted,
    AuthenticationFailed,
    AuthenticatorCompromised,
    AuthenticatorNotAllowed,
    DeviceBlocked,
    DeviceRemoved,
    InvitationInvalid,
    InvitationRequired,
    LastDevice,
    RegistrationClosed,
    RegistrationFailed,
    UsernameTaken,
)
from webauthn.invitations import MAX_TOKEN_LENGTH
from webauthn.models import Device, DeviceStatus

# ---- fields --------------------------------------------------------------------------------

Username = Annotated[str, Checked(normalise_username, USERNAME)]
TypedUsername = Annotated[str, Checked(normalise_typed_username, TYPED_USERNAME)]
Email = Annotated[str, Checked(normalise_email, EMAIL, format="email")]
DisplayName = Annotated[
    str,
    Checked(check_display_name, DISPLAY_NAME),
    Field(description="One line; empty means the username"),
]
DeviceName = Annotated[
    str,
    Checked(normalise_device_name, DEVICE_NAME),
    Field(description="Whitespace is collapsed; empty means the default name"),
]
NewDeviceName = Annotated[
    str,
    Checked(partial(normalise_device_name, required=True), DEVICE_NAME),
    Field(json_schema_extra={"minLength": 1}, description="Whitespace is collapsed"),
]

# ---- the credentials' shapes (checked by webauthn/ceremony.py's parser) --------------------


class AttestationResponseJSON(BaseModel):
    clientDataJSON: str = Field(description="base64url")
    attestationObject: str = Field(description="base64url")
    transports: list[str] | None = None


class RegistrationCredential(BaseModel):
    """RegistrationResponseJSON (WebAuthn L3): ``credential.toJSON()`` of a new passkey"""

    id: str = Field(description="base64url")
    rawId: str = Field(description="base64url, the same as `id`")
    type: Literal["public-key"]
    response: AttestationResponseJSON
    authenticatorAttachment: str | None = None
    clientExtensionResults: dict[str, Any] | None = None


class AssertionResponseJSON(BaseModel):
    clientDataJSON: str = Field(description="base64url")
    authenticatorData: str = Field(description="base64url")
    signature: str = Field(description="base64url")
    userHandle: str | None = Field(default=None, description="base64url")


class AuthenticationCredential(BaseModel):
    """AuthenticationResponseJSON (WebAuthn L3): ``credential.toJSON()`` of an assertion"""

    id: str = Field(description="base64url")
    rawId: str = Field(description="base64url, the same as `id`")
    type: Literal["public-key"]
    response: AssertionResponseJSON
    authenticatorAttachment: str | None = None
    clientExtensionResults: dict[str, Any] | None = None


class NewCredential(CredentialBody):
    """A new passkey, and what to call its device."""

    documents = RegistrationCredential
    device_name: DeviceName | None = None


class Assertion(CredentialBody):
    """An assertion of one of the ID's passkeys."""

    documents = AuthenticationCredential


# ---- request bodies ------------------------------------------------------------------------


class SignUpBegin(Body):
    username: Username = Field(
        description="With an invitation that names a username: that one (any case)"
    )
    email: Email | None = Field(
        default=None,
        description="Required without an invitation; with one, its address (which the ID "
        "gets) or left out",
    )
    display_name: DisplayName | None = None
    invitation: str | None = Field(
        default=None,
        max_length=MAX_TOKEN_LENGTH,
        description="The token of an invitation link (`/signup?invitation=…`): needed when "
        "registration is `invite`, and opens sign-up even when it is `closed`",
    )


class SignInBegin(Body):
    username: TypedUsername | None = Field(
        default=None, description="Any case; surrounding spaces are ignored"
    )


class NameDevice(Body):
    device_name: DeviceName | None = Field(
        default=None, description="The name of the device to add (until the answer names it)"
    )


class RenameDevice(Body):
    name: NewDeviceName


class ChangeDisplayName(Body):
    display_name: DisplayName


class DeleteId(Body):
    confirm: str = Field(description="The username, exactly (case too)")


# ---- answers -------------------------------------------------------------------------------


class CreationOptions(Answer):
    """Options for `navigator.credentials.create()`, wrapped as `{"publicKey": {...}}`"""

    publicKey: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptionsJSON (WebAuthn L3)",
        json_schema_extra={"required": ["rp", "user", "challenge", "pubKeyCredParams"]},
    )


class RequestOptions(Answer):
    """Options for `navigator.credentials.get()`, wrapped as `{"publicKey": {...}}`"""

    publicKey: dict[str, Any] = Field(
        description="PublicKeyCredentialRequestOptionsJSON (WebAuthn L3)",
        json_schema_extra={"required": ["challenge"]},
    )


class DeviceOut(Answer):
    """A passkey or security key of the ID."""

    id: int
    credential_id: str = Field(description="base64url")
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    status: str = Field(
        description="pending: paired by QR code, waiting for approval",
        json_schema_extra={
            "enum": [
                DeviceStatus.ACTIVE.value,
                DeviceStatus.BLOCKED.value,
                DeviceStatus.PENDING.value,
            ]
        },
    )
    aaguid: str | None = Field(
        description="Authenticator model id; null when the authenticator sends none (all zeros)"
    )
    authenticator: str | None = Field(
        description="Model name: the loaded FIDO metadata's, else for well-known AAGUIDs"
    )
    backup_eligible: bool = Field(description="BE flag: the passkey can be synced")
    backed_up: bool = Field(description="BS flag: the passkey is synced")
    flagged: bool = Field(
        description="A sign-in showed a sign counter that did not increase: possible clone"
    )
    current: bool = Field(description="The device this session signed in with")
    blocked_at: Timestamp | None

    @classmethod
    def fields_of(cls, device: Device, current_device_id: int | None) -> dict[str, Any]:
        return {
            "id": device.id,
            "credential_id": b64url(device.credential_id),
            "name": device.name,
            "created_at": device.created_at,
            "last_used_at": device.last_used_at,
            "status": device.status,
            "aaguid": format_aaguid(device.aaguid),
            "authenticator": device_model_name(device),
            "backup_eligible": device.backup_eligible,
            "backed_up": device.backed_up,
            "flagged": device.flagged,
            "current": device.id == current_device_id,
            "blocked_at": device.blocked_at,
        }

    @classmethod
    def from_device(cls, device: Device, current_device_id: int | None) -> DeviceOut:
        return cls(**cls.fields_of(device, current_device_id))


class DeviceAnswer(Answer):
    device: DeviceOut


class DevicesOut(Answer):
    """The ID's devices (removed ones are gone)."""

    devices: list[DeviceOut]


class AcceptedCredentials(Answer):
    """Arguments for PublicKeyCredential.signalAllAcceptedCredentials"""

    rpId: str
    userId: str
    allAcceptedCredentialIds: list[str]


class Me(Answer):
    """The signed-in ID and its devices."""

    user: UserOut
    devices: list[DeviceOut]
    signal: AcceptedCredentials


class SignedIn(Answer):
    """The ID and the device it signed in with."""

    user: UserOut
    device: DeviceOut


class SessionOut(Answer):
    """A signed-in session of the ID."""

    id: int
    device: str | None = Field(description="Name of the device that signed in (null if it is gone)")
    browser: str | None = Field(
        description="A short label from the user agent, e.g. `Chrome on Linux`"
    )
    ip: str
    created_at: Timestamp
    last_seen_at: Timestamp
    current: bool = Field(description="The session of this request")

    @classmethod
    def from_info(cls, info: SessionInfo) -> SessionOut:
        return cls.model_validate(info, from_attributes=True)


class SessionsOut(Answer):
    sessions: list[SessionOut]


class Ended(Answer):
    ended: int = Field(ge=0, description="How many sessions were ended")


# ---- features above add keys to these answers (see webauthn.views) -------------------------

sign_up_answer_extras: list[Extension] = []
sign_in_answer_extras: list[Extension] = []


# ---- the endpoints -------------------------------------------------------------------------

# What the authenticator policies refuse at registration (``webauthn.metadata``).
MODEL_REFUSED = [
    (AuthenticatorCompromised, "a model the loaded FIDO metadata reports compromised"),
    (AttestationNotTrusted, "ATTESTATION_REQUIRED: attestation not verified to the model's roots"),
    (AuthenticatorNotAllowed, "ATTESTATION_REQUIRED: a model not on ALLOWED_AUTHENTICATORS"),
]


document(
    "webauthn_api",
    register_begin=Endpoint(
        "Begin creating an ID (sign-up)",
        tag="sign-up",
        body=SignUpBegin,
        responses={200: CreationOptions},
        description="Without `invitation`, REGISTRATION must be `open`. With one, it must open "
        "a pending invitation (an unknown, expired, used or revoked token is refused alike); "
        "the ID gets the invitation's address and, if it names one, its username.",
        errors=[
            (UsernameTaken, "Username taken (ignoring case)"),
            (RegistrationClosed, "REGISTRATION is `closed` and no invitation was sent"),
            (
                InvitationRequired,
                "REGISTRATION is `invite` and no invitation was sent, or the invitation "
                "cannot be used",
            ),
            (InvalidInput, "also: the address or username is not the invitation's"),
        ],
    ),
    register_complete=Endpoint(
        "Finish creating an ID; signs the browser in",
        tag="sign-up",
        body=NewCredential,
        responses={
            201: (Extended(SignedIn, sign_up_answer_extras), "The new ID and its first device")
        },
        errors=[
            (RegistrationFailed, "a response that fails a check"),
            *MODEL_REFUSED,
            (UsernameTaken, "Username taken meanwhile"),
            (RegistrationClosed, "registration closed since the begin"),
            (InvitationInvalid, "the invitation was used (another sign-up), revoked or expired"),
        ],
    ),
    authenticate_begin=Endpoint(
        "Begin signing in",
        tag="sign-in",
        body=SignInBegin,
        responses={200: RequestOptions},
        description="With `username`: username-first (allowCredentials lists the ID's active "
        "devices). Without: usernameless (empty allowCredentials, discoverable credentials, "
        "also used for autofill). An unknown username gets an answer of the same shape whose "
        "credential ids derive from a keyed hash of the username, stable across calls.",
    ),
    authenticate_complete=Endpoint(
        "Finish signing in",
        tag="sign-in",
        body=Assertion,
        responses={200: (Extended(SignedIn, sign_in_answer_extras), "Signed in")},
        errors=[
            (AuthenticationFailed, "Any failed check"),
            (DeviceBlocked, "the passkey (verified) is of a blocked device"),
            (DeviceRemoved, "the passkey (verified) is of a removed device"),
        ],
    ),
    logout=Endpoint(
        "Sign out (revokes this session)", tag="sign-in", responses={204: "Signed out"}
    ),
    me=Endpoint(
        "The signed-in ID and its devices",
        tag="account",
        responses={200: Me},
        errors=SIGNED_IN,
    ),
    devices=Endpoint(
        "The ID's devices", tag="devices", responses={200: DevicesOut}, errors=SIGNED_IN
    ),
    add_device_begin=Endpoint(
        "Begin adding a passkey or security key to the ID (needs a fresh user verification)",
        tag="devices",
        body=NameDevice,
        responses={
            200: (
                CreationOptions,
                "Creation options; excludeCredentials lists every device of the ID",
            )
        },
        errors=FRESH,
    ),
    add_device_complete=Endpoint(
        "Finish adding a device",
        tag="devices",
        body=NewCredential,
        responses={201: (DeviceAnswer, "The new device")},
        errors=[(RegistrationFailed, "a response that fails a check"), *MODEL_REFUSED, *FRESH],
    ),
    rename_device=Endpoint(
        "Rename a device",
        tag="devices",
        body=RenameDevice,
        responses={200: (DeviceAnswer, "Renamed")},
        errors=[(NotFound, "Not a device of this ID"), *SIGNED_IN],
    ),
    remove_device=Endpoint(
        "Unpair a device (ends its sessions; needs a fresh user verification)",
        tag="devices",
        responses={204: "Removed"},
        errors=[
            (NotFound, "Not a device of this ID"),
            (LastDevice, "The last active device of the ID"),
            *FRESH,
        ],
    ),
    block_device=Endpoint(
        "Block a device at once and for good (needs a fresh user verification)",
        tag="devices",
        body=NoFields,
        responses={200: (DeviceAnswer, "Blocked")},
        errors=[(NotFound, "Not a device of this ID"), *FRESH],
    ),
    reauth_begin=Endpoint(
        "Begin a step-up: request options (UV required) for this ID's active devices",
        tag="devices",
        body=NoFields,
        responses={200: RequestOptions},
        errors=SIGNED_IN,
    ),
    reauth_complete=Endpoint(
        "Finish a step-up: the session counts as freshly verified",
        tag="devices",
        body=Assertion,
        responses={204: "Verified"},
        errors=[
            (AuthenticationFailed, "A failed check"),
            DeviceBlocked,
            DeviceRemoved,
            *SIGNED_IN,
        ],
    ),
)

document(
    "account_api",
    list_sessions=Endpoint(
        "The ID's signed-in sessions (not ended, expired or idle), latest activity first",
        tag="account",
        responses={200: SessionsOut},
        errors=SIGNED_IN,
    ),
    end_session=Endpoint(
        "End one of the ID's sessions (needs a fresh user verification)",
        tag="account",
        description="Ending this request's own session signs this browser out (the cookie is "
        "cleared). Audited.",
        responses={204: "Ended"},
        errors=[
            (NotFound, "Unknown, already ended, or another ID's session (indistinguishable)"),
            *FRESH,
        ],
    ),
    end_other_sessions=Endpoint(
        "End every session of the ID but this one (needs a fresh user verification)",
        tag="account",
        body=NoFields,
        responses={200: (Ended, "How many sessions were ended")},
        errors=FRESH,
    ),
    change_me=Endpoint(
        "Change the display name (audited; no fresh verification: it changes nothing that "
        "signs in)",
        tag="account",
        body=ChangeDisplayName,
        responses={200: UserAnswer},
        errors=SIGNED_IN,
    ),
    delete_me=Endpoint(
        "Delete the ID (needs a fresh user verification and the username typed exactly)",
        tag="account",
        description="Every session ends (the cookie is cleared), every device is removed, "
        "backup and recovery data are deleted, a verified address is told by mail, and the "
        "username is free again. The audit trail is kept without IPs, user agents, names or "
        "addresses.",
        body=DeleteId,
        responses={204: "Deleted"},
        errors=[(InvalidInput, "`confirm` missing or not the username"), *FRESH],
    ),
)
