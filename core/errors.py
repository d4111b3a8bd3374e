"""The one tree of errors a request can end with. Each carries its machine-readable code, its
HTTP status and a message safe to show anyone; ``app.py`` maps them to JSON or an HTML page."""

from __future__ import annotations


class AppError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."
    # A failed check that must still leave a trace (a flagged clone, its audit event) sets this,
    # so the error handler commits the flushed changes instead of rolling them back.
    keep_changes = False
    headers: dict[str, str] = {}

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str | None = None,
        keep_changes: bool | None = None,
    ) -> None:
        self.message = message or self.message
        if keep_changes is not None:
            self.keep_changes = keep_changes
        # Never shown to the client; logged, so an operator can tell why a check failed.
        self.detail = detail
        super().__init__(detail or self.message)


class InvalidInput(AppError):
    status, code, message = 400, "invalid_input", "The request is malformed."


class RegistrationFailed(AppError):
    status, code, message = 400, "registration_failed", "The passkey could not be registered."


class AuthenticationFailed(AppError):
    status, code, message = 401, "authentication_failed", "Sign-in failed."


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


class NotSignedIn(AppError):
    status, code, message = 401, "not_signed_in", "Sign in first."


class CsrfFailed(AppError):
    status, code, message = 403, "csrf_failed", "The request did not come from an allowed origin."


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found."


class MethodNotAllowed(AppError):
    status, code, message = 405, "method_not_allowed", "Method not allowed."


class UsernameTaken(AppError):
    status, code, message = 409, "username_taken", "That username is taken."


class LastDevice(AppError):
    status, code, message = (
        409,
        "last_device",
        "This is the last active device of the ID; add another before removing it.",
    )


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_media_type", "Send JSON (application/json)."


class RecoveryFailed(AppError):
    status, code, message = (
        401,
        "recovery_failed",
        "That did not work. Check what you typed, or start again.",
    )


class InvalidCode(AppError):
    status, code, message = 401, "invalid_code", "The code is wrong or has expired."


class ReauthRequired(AppError):
    status, code, message = (
        401,
        "reauth_required",
        "Confirm it is you: sign in with your passkey again.",
    )


class BackupDisabled(AppError):
    status, code, message = (
        403,
        "backup_disabled",
        "Backup is turned off on this server by its administrator.",
    )


class BackupActive(AppError):
    status, code, message = (
        409,
        "backup_active",
        "Backup is already active; make a new backup code instead.",
    )


class MustWait(AppError):
    """An error that says how long to wait: ``Retry-After`` carries the true wait in seconds,
    which the pages show as a countdown."""

    def __init__(self, retry_after: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class TooManyAttempts(MustWait):
    status, code, message = (
        429,
        "too_many_attempts",
        "Too many failed attempts. Wait a while before trying again.",
    )


class TooManyPairings(MustWait):
    status, code, message = (
        429,
        "too_many_pairings",
        "There are already 3 pairings waiting; finish or cancel one first.",
    )


class WrongConfirmation(AppError):
    status, code, message = (
        400,
        "wrong_confirmation",
        "That is not the number the new device shows. Check it and type it again.",
    )


class PairingRejected(AppError):
    status, code, message = (
        409,
        "pairing_rejected",
        "The number was wrong too many times, so the new device was rejected and its passkey "
        "deleted. Start again to add it.",
    )


class RateLimited(MustWait):
    status, code, message = 429, "rate_limited", "Too many requests; wait a moment and try again."


class ServiceUnavailable(MustWait):
    status, code, message = 503, "unavailable", "The service is busy; try again in a moment."


class MailCapReached(MustWait):
    """Mailed codes are capped per address and per ID (MAIL_CODE_COOLDOWN, MAIL_CODES_PER_HOUR),
    so nobody can make Keystead flood an address; ``retry_after`` is when the cap frees."""

    status, code, message = (
        429,
        "too_many_mails",
        "We just sent a code there. Wait until you may ask for another one.",
    )


class EmailAlreadyVerified(AppError):
    status, code, message = 409, "email_verified", "Your email address is already confirmed."


class BackupEmailRequired(AppError):
    status, code, message = (
        409,
        "backup_email_required",
        "Backup codes are sent by email here, and never to your sign-in address: add and "
        "confirm a backup email address first (Backup page).",
    )
