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
