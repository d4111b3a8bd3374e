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
