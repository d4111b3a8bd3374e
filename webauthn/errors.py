"""The passkey feature's errors: registering, signing in, and managing devices. Their messages
are what people read (the pages show them as sent); see ``core/errors.py``."""

from __future__ import annotations

from core.errors import AppError, NotFound


class RegistrationFailed(AppError):
    status, code, message = (
        400,
        "registration_failed",
        "Your passkey or security key could not be registered. Try again, or use a different one.",
    )


class AlreadyRegistered(RegistrationFailed):
    """The credential id is registered already (to this ID or another: it is unique)."""

    message = (
        "This passkey or security key is already registered. Use a different one, or sign in "
        "with it instead."
    )


class AuthenticationFailed(AppError):
    status, code, message = (
        401,
        "authentication_failed",
        "That passkey did not sign you in. Make sure you chose the right one for this site, "
        "then try again.",
    )


class DeviceBlocked(AuthenticationFailed):
    """Said only after the passkey's signature verified: whoever sees it holds the passkey."""

    code = "device_blocked"
    message = (
        "This passkey was blocked on your ID and cannot sign in any more. Sign in with another "
        "of your devices, or recover your ID with your backup code."
    )


class DeviceRemoved(AuthenticationFailed):
    """Said only after the passkey's signature verified: whoever sees it holds the passkey."""

    code = "device_removed"
    message = (
        "This passkey was removed from your ID and cannot sign in any more. Sign in with another "
        "of your devices, or recover your ID with your backup code."
    )


class AccountDeactivated(AuthenticationFailed):
    """Said only after the passkey's signature verified: whoever sees it holds the passkey."""

    status, code = 403, "account_deactivated"
    message = (
        "Your ID was deactivated by your organisation's administrator, so it cannot sign in. "
        "Ask your administrator to reactivate it."
    )


class DeviceNotFound(NotFound):
    """Not one of the signed-in ID's devices (any more): removed meanwhile, or never its own."""

    message = "That device is no longer on your ID. Reload the page to see the current list."


class UsernameTaken(AppError):
    status, code, message = (
        409,
        "username_taken",
        "That username is already taken. Please choose another one.",
    )


class LastDevice(AppError):
    status, code, message = (
        409,
        "last_device",
        "This is the only passkey or security key that can sign in to your ID. Add another one "
        "first, so you are not locked out.",
    )


# ---- authenticator models (the FIDO Metadata Service and the policies over it) -------------


class AuthenticatorCompromised(RegistrationFailed):
    """The model's latest status in the loaded FIDO metadata is a compromise (refused whether
    its AAGUID was attested or only claimed)."""

    code = "authenticator_compromised"
    message = (
        "This kind of passkey or security key has a known security problem and cannot be "
        "registered. Use a different one."
    )


class AttestationNotTrusted(RegistrationFailed):
    """ATTESTATION_REQUIRED: the attestation is self or none, or does not chain to the roots
    the loaded FIDO metadata lists for the AAGUID (or it lists none)."""

    code = "attestation_not_trusted"
    message = (
        "Your organisation accepts only security keys that prove their make and model, and "
        "this one did not. Use one your organisation accepts."
    )


class AuthenticatorNotAllowed(RegistrationFailed):
    """ATTESTATION_REQUIRED with ALLOWED_AUTHENTICATORS: a verified model not on the list."""

    code = "authenticator_not_allowed"
    message = (
        "Your organisation does not allow this kind of passkey or security key. Use one your "
        "organisation accepts."
    )


class MetadataRefused(AppError):
    """A FIDO Metadata Service BLOB that was not loaded (nothing changed)."""

    status, code, message = (
        400,
        "metadata_refused",
        "This FIDO metadata file was not loaded: it is not a valid BLOB. Nothing changed.",
    )


class MetadataSignatureInvalid(MetadataRefused):
    code = "metadata_signature_invalid"
    message = (
        "This FIDO metadata file was not loaded: its signature does not verify. Nothing changed."
    )


class MetadataChainInvalid(MetadataRefused):
    code = "metadata_chain_invalid"
    message = (
        "This FIDO metadata file was not loaded: its certificate chain does not lead to the "
        "trusted root. Nothing changed."
    )


class MetadataRollback(MetadataRefused):
    status, code = 409, "metadata_rollback"
    message = (
        "This FIDO metadata file was not loaded: it is not newer than the one loaded already "
        "(its number must be greater). Nothing changed."
    )


class RegistrationClosed(AppError):
    status, code, message = (
        403,
        "registration_closed",
        "New IDs cannot be created here at the moment. If you were invited, open the link from "
        "your invitation.",
    )


class InvitationRequired(AppError):
    status, code, message = (
        403,
        "invitation_required",
        "Creating an ID here needs an invitation. Ask your administrator for one, then open "
        "the link it gives you.",
    )


class InvitationInvalid(InvitationRequired):
    """Unknown, expired, used or revoked: all answered alike."""

    message = (
        "This invitation link cannot be used: it may have expired, been used already or been "
        "withdrawn. Ask your administrator for a new one."
    )


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    message = "No such invitation."


class InvitationUsed(AppError):
    status, code, message = (
        409,
        "invitation_used",
        "This invitation was used already: its ID exists.",
    )


class EmailInUse(AppError):
    status, code, message = (
        409,
        "email_in_use",
        "An ID with this email address exists already.",
    )
