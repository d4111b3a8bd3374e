"""The backup, recovery, address and pairing API's edge: request bodies, answers, and the
declaration of each endpoint (what docs/openapi.py writes into the OpenAPI document).

Past 400 lines on purpose: it is the contract of 19 endpoints, flat declarations read one at
a time, kept in one place so the contract of a view is found where its models are."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core.config import SETTINGS
from core.errors import InvalidInput, NotFound
from core.schemas import (
    FRESH,
    SIGNED_IN,
    Answer,
    Body,
    Checked,
    Endpoint,
    NoFields,
    Timestamp,
    UserAnswer,
    UserOut,
    document,
    omitted_if_none,
)
from core.users import TYPED_USERNAME
from recovery import codes, pairing, restore
from recovery.backup import NewCode
from recovery.errors import (
    BackupActive,
    BackupDisabled,
    BackupEmailRequired,
    EmailAlreadyVerified,
    InvalidCode,
    MailCapReached,
    PairingRejected,
    RecoveryFailed,
    TooManyAttempts,
    TooManyPairings,
    WrongConfirmation,
)
from recovery.models import PairingStatus as PairingState  # the schema holds the plain name
from webauthn.errors import RegistrationFailed
from webauthn.schemas import (
    MODEL_REFUSED,
    CreationOptions,
    DeviceName,
    DeviceOut,
    Email,
    NewCredential,
    SignedIn,
)

# ---- request bodies ------------------------------------------------------------------------


class OneTimeCode(Body):
    otp: str = Field(description="The code mailed to the address (spaces and dashes ignored)")


class RecoveryBegin(Body):
    username: str = Field(max_length=TYPED_USERNAME.max_length)
    backup_code: str = Field(
        max_length=codes.TYPED_MAX_LENGTH,
        description="Any case; spaces and dashes are ignored",
    )


class RecoveryComplete(NewCredential):
    """The new passkey of a recovery, and what to do with the ID's other devices."""

    mode: Annotated[str, Checked(restore.check_mode)] = Field(
        description="restore removes the other devices and ends their sessions; duplicate keeps "
        "them (RESTORE_REMOVES_OLD_DEVICES makes every recovery a restore)",
        json_schema_extra={"enum": [mode.value for mode in restore.RecoveryMode]},
    )


class PairingName(Body):
    device_name: DeviceName | None = Field(
        default=None, description="What the new device is called (until the answer names it)"
    )


class Confirmation(Body):
    confirmation: Annotated[str, Checked(pairing.check_confirmation, pairing.CONFIRMATION)] = Field(
        description="The 2-digit number the new device shows, as typed on this one"
    )


class Address(Body):
    email: Email


# ---- answers -------------------------------------------------------------------------------


class OtpSent(Answer):
    """A code was mailed."""

    otp_sent_to: str = Field(description="The address, masked (j***@example.com)")


class BackupStatus(Answer):
    """Backup status of the signed-in ID."""

    active: bool
    activated_at: Timestamp | None
    prompt: bool = Field(description="The user should be asked to activate backup now")
    mode: str = Field(
        description="BACKUP_MODE", json_schema_extra={"enum": list(SETTINGS["BACKUP_MODE"].choices)}
    )
    delivery: str = Field(
        description="BACKUP_CODE_DELIVERY",
        json_schema_extra={"enum": list(SETTINGS["BACKUP_CODE_DELIVERY"].choices)},
    )


# As a code is shown: groups of GROUP symbols of the alphabet.
_GROUP = f"[{codes.ALPHABET}]{{{codes.GROUP}}}"
BACKUP_CODE_PATTERN = f"^{_GROUP}(-{_GROUP}){{{codes.LENGTH // codes.GROUP - 1}}}$"


class NewBackupCode(Answer):
    """The new backup code, shown once; under BACKUP_CODE_DELIVERY=email it is mailed instead
    (`delivered: email`, no `backup_code`)."""

    backup_code: str | None = omitted_if_none(json_schema_extra={"pattern": BACKUP_CODE_PATTERN})
    delivered: Literal["email"] | None = omitted_if_none()

    @classmethod
    def from_code(cls, new_code: NewCode) -> NewBackupCode:
        if new_code.code is None:
            return cls(delivered="email")
        return cls(backup_code=new_code.code)


class RecoveredOut(SignedIn):
    """Recovered and signed in: the old backup code is void; the new one is shown once
    (`backup_code`), or mailed (`backup_code` null, `delivered: email`)."""

    mode: str = Field(json_schema_extra={"enum": [mode.value for mode in restore.RecoveryMode]})
    backup_code: str | None = Field(json_schema_extra={"pattern": BACKUP_CODE_PATTERN})
    delivered: Literal["email"] | None = omitted_if_none()

    @classmethod
    def from_result(cls, result: restore.Recovered) -> RecoveredOut:
        mailed = result.new_code.code is None
        return cls(
            user=UserOut.from_user(result.user),
            device=DeviceOut.from_device(result.device, result.device.id),
            mode=result.mode,
            backup_code=result.new_code.code,
            delivered="email" if mailed else None,
        )


class RecoveryOptions(CreationOptions):
    """Creation options for the new device"""

    restore_forced: bool = Field(
        description="RESTORE_REMOVES_OLD_DEVICES: the other devices will be removed"
    )


class BackupPrompt(Answer):
    backup_prompt: bool = Field(description="Sign-in only: prompt the user to activate backup")


class BackupRequired(Answer):
    backup_required: bool = Field(
        description="Sign-up only: policy on_enrollment, activate backup now"
    )


class PairingCreated(Answer):
    """The pairing URL and its QR code"""

    token: str
    url: str
    qr_svg: str
    expires_at: Timestamp


class PairingOptions(CreationOptions):
    """Creation options for the new device, and the number it shows"""

    confirmation: str = Field(pattern="^[0-9]{2}$")


class Awaiting(Answer):
    """Waiting for approval"""

    status: Literal["awaiting_approval"]


class PairedDevice(DeviceOut):
    """The new device, and where it was redeemed."""

    ip: str
    user_agent: str


class PairingStatus(Answer):
    status: str = Field(json_schema_extra={"enum": [state.value for state in PairingState]})
    device: PairedDevice | None
    confirmation: str | None = Field(
        pattern="^[0-9]{2}$",
        description="The 2-digit number, for the redeeming browser only (null for the ID's "
        "sessions: the approving device types what the new device shows)",
    )
    expires_at: Timestamp

    @classmethod
    def from_view(cls, view: pairing.PairingView) -> PairingStatus:
        device = None
        if view.device is not None:
            device = PairedDevice(
                **PairedDevice.fields_of(view.device, None),
                ip=view.redeemer_ip,
                user_agent=view.redeemer_user_agent,
            )
        return cls(
            status=view.status,
            device=device,
            confirmation=view.confirmation,
            expires_at=view.expires_at,
        )


class Decided(Answer):
    status: str = Field(
        json_schema_extra={"enum": [PairingState.APPROVED.value, PairingState.REJECTED.value]}
    )
    device: DeviceOut | None = omitted_if_none(description="The approved device")

    @classmethod
    def from_decision(cls, decision: pairing.Decision) -> Decided:
        device = decision.device
        return cls(
            status=decision.status,
            device=DeviceOut.from_device(device, None) if device is not None else None,
        )


# ---- the endpoints -------------------------------------------------------------------------

TOO_MANY = (
    TooManyAttempts,
    "Too many failed attempts for this ID or IP (Retry-After header)",
)
MAIL_CAP = (
    MailCapReached,
    "A code of this kind went to this address less than MAIL_CODE_COOLDOWN seconds ago, or "
    "MAIL_CODES_PER_HOUR codes went to it (or for this ID) in the last hour; `Retry-After` says "
    "when the cap frees",
)
DISABLED = (BackupDisabled, "Backup disabled by policy")
NEEDS_BACKUP_ADDRESS = (
    BackupEmailRequired,
    "BACKUP_CODE_DELIVERY=email and no confirmed backup address (nothing changed)",
)
NO_PAIRING = (NotFound, "Unknown, expired or used pairing, or not yours")

document(
    "recovery_api",
    backup_status=Endpoint(
        "Backup status of the signed-in ID",
        tag="backup",
        responses={200: BackupStatus},
        errors=SIGNED_IN,
    ),
    activate=Endpoint(
        "Activate backup: mails a one-time code to verify the address",
        tag="backup",
        body=NoFields,
        responses={202: (OtpSent, "Code mailed")},
        errors=[
            (BackupActive, "Backup already active"),
            NEEDS_BACKUP_ADDRESS,
            TOO_MANY,
            MAIL_CAP,
            DISABLED,
            *SIGNED_IN,
        ],
    ),
    regenerate=Endpoint(
        "Make a new backup code: needs a passkey sign-in within REAUTH_MAX_AGE; mails a "
        "one-time code",
        tag="backup",
        body=NoFields,
        responses={202: (OtpSent, "Code mailed")},
        errors=[NEEDS_BACKUP_ADDRESS, TOO_MANY, MAIL_CAP, DISABLED, *FRESH],
    ),
    confirm=Endpoint(
        "Confirm the mailed code; answers the new backup code once",
        tag="backup",
        body=OneTimeCode,
        responses={200: (NewBackupCode, "The backup code (or: it was mailed)")},
        errors=[
            (InvalidCode, "Wrong, used, expired or superseded code"),
            NEEDS_BACKUP_ADDRESS,
            TOO_MANY,
            DISABLED,
            *FRESH,
        ],
    ),
    recovery_begin=Endpoint(
        "Recovery step 1: username and backup code; mails a one-time code",
        tag="recovery",
        body=RecoveryBegin,
        responses={202: (OtpSent, "Code mailed to the ID's address")},
        errors=[
            (RecoveryFailed, "Unknown username or wrong backup code (the same answer for both)"),
            TOO_MANY,
            MAIL_CAP,
            DISABLED,
        ],
    ),
    recovery_verify=Endpoint(
        "Recovery step 2: the mailed code; answers creation options for the new device",
        tag="recovery",
        body=OneTimeCode,
        responses={200: RecoveryOptions},
        errors=[
            (
                RecoveryFailed,
                "No recovery begun in this browser, or a wrong, used, expired or superseded "
                "code (5 wrong tries void the recovery)",
            ),
            TOO_MANY,
            DISABLED,
        ],
    ),
    recovery_options=Endpoint(
        "Fresh creation options for a verified recovery (after a cancelled browser dialog)",
        tag="recovery",
        body=NoFields,
        responses={200: RecoveryOptions},
        errors=[(RecoveryFailed, "No verified recovery in this browser"), DISABLED],
    ),
    recovery_complete=Endpoint(
        "Recovery step 3: the new passkey; signs in. Restore removes the other devices and "
        "ends their sessions; duplicate keeps them",
        tag="recovery",
        body=RecoveryComplete,
        responses={201: RecoveredOut},
        errors=[
            (RegistrationFailed, "a response that fails a check"),
            *MODEL_REFUSED,
            (RecoveryFailed, "No verified recovery in this browser"),
            DISABLED,
        ],
    ),
    pairing_start=Endpoint(
        "Start pairing a new device by QR code (needs a fresh user verification)",
        tag="pairing",
        body=NoFields,
        responses={201: PairingCreated},
        errors=[(TooManyPairings, "3 pairings already pending"), *FRESH],
    ),
    pairing_status=Endpoint(
        "A pairing's state, for the ID's sessions and the redeeming browser only; the "
        "redeeming browser receives its session cookie with `approved`",
        tag="pairing",
        responses={200: (PairingStatus, "State")},
        errors=[NO_PAIRING],
    ),
    pairing_begin=Endpoint(
        "The new device: begin (the first browser owns the pairing); answers creation options "
        "and the confirmation number",
        tag="pairing",
        body=PairingName,
        responses={200: PairingOptions},
        errors=[NO_PAIRING],
    ),
    pairing_complete=Endpoint(
        "The new device: its passkey, stored pending until approved",
        tag="pairing",
        body=NewCredential,
        responses={202: Awaiting},
        errors=[(RegistrationFailed, "a response that fails a check"), *MODEL_REFUSED, NO_PAIRING],
    ),
    pairing_approve=Endpoint(
        "Approve the new device (needs a fresh user verification and the number it shows; "
        "3 wrong numbers reject it)",
        tag="pairing",
        body=Confirmation,
        responses={200: (Decided, "Decided")},
        errors=[
            (InvalidInput, "No or a malformed number (nothing changes; not counted)"),
            (WrongConfirmation, "The wrong number (nothing changes; counted)"),
            (
                PairingRejected,
                "The 3rd wrong number: the pairing is rejected and its pending passkey deleted",
            ),
            NO_PAIRING,
            *FRESH,
        ],
    ),
    pairing_reject=Endpoint(
        "Reject the new device (its passkey is deleted), or cancel a pairing nobody redeemed yet",
        tag="pairing",
        body=NoFields,
        responses={200: (Decided, "Decided")},
        errors=[NO_PAIRING, *SIGNED_IN],
    ),
)

document(
    "addresses",
    send_verification=Endpoint(
        "Mail a new code to confirm the ID's address",
        tag="account",
        description="Sign-up mails the first code. A code works once, in the browser that asked "
        "for it, for OTP_TTL seconds; a new one voids the previous (and a pending address "
        "change).",
        body=NoFields,
        responses={202: (OtpSent, "Code mailed")},
        errors=[
            (EmailAlreadyVerified, "The address is already confirmed"),
            MAIL_CAP,
            TOO_MANY,
            *SIGNED_IN,
        ],
    ),
    change=Endpoint(
        "Change the ID's address: mails a code to the new address",
        tag="account",
        description="Needs a user verification within REAUTH_MAX_AGE (401 `reauth_required`: "
        "step up and retry). Nothing changes until the code is confirmed at "
        "`/api/me/email/confirm`. Two IDs may share an address.",
        body=Address,
        responses={202: (OtpSent, "Code mailed to the new address")},
        errors=[
            (
                InvalidInput,
                "Not a valid address (email-validator, no DNS), the current address, or the "
                "backup address",
            ),
            MAIL_CAP,
            TOO_MANY,
            *FRESH,
        ],
    ),
    confirm=Endpoint(
        "Confirm the mailed code: confirms the address, or switches to the new one",
        tag="account",
        description="The address set is the one the code was mailed to. On a change, every "
        "device of the ID gets a notification, the old address (if it was confirmed) a mail, "
        "and the audit trail an `email_changed` event. A backup-activation code confirms the "
        "address too.",
        body=OneTimeCode,
        responses={200: (UserAnswer, "The ID, with its (new) address confirmed")},
        errors=[
            (
                InvalidCode,
                "Wrong, used, expired, superseded or another browser's code (five wrong tries "
                "void it)",
            ),
            TOO_MANY,
            *FRESH,
        ],
    ),
    backup_address=Endpoint(
        "Add or replace the backup address: mails a code to it",
        tag="account",
        description="Under BACKUP_CODE_DELIVERY=email a backup code is mailed only to this "
        "address, once confirmed. Needs a user verification within REAUTH_MAX_AGE.",
        body=Address,
        responses={202: (OtpSent, "Code mailed to the backup address")},
        errors=[
            (
                InvalidInput,
                "Not a valid address, or the sign-in address (one mailbox must not hold both "
                "recovery factors)",
            ),
            MAIL_CAP,
            TOO_MANY,
            *FRESH,
        ],
    ),
    confirm_backup_address=Endpoint(
        "Confirm the code mailed to the backup address",
        tag="account",
        body=OneTimeCode,
        responses={200: (UserAnswer, "The ID, with `backup_email` set")},
        errors=[
            (InvalidCode, "Wrong, used, expired or another browser's code"),
            TOO_MANY,
            *FRESH,
        ],
    ),
)
