"""The recovery feature's errors: backup codes, emailed codes, recovery, addresses and pairing.
Their messages are what people read (the pages show them as sent); see ``core/errors.py``."""

from __future__ import annotations

from core.errors import AppError, MustWait, NotFound


class RecoveryFailed(AppError):
    """Every refusal of the anonymous recovery says ``recovery_failed``; the subclasses word
    the step it happened at. None of them tells whether a username exists."""

    status, code, message = (
        401,
        "recovery_failed",
        "That did not match, or this recovery attempt has ended. Check what you entered and "
        "try again, or start again with your backup code.",
    )


class BackupCodeMismatch(RecoveryFailed):
    """Step 1: an unknown username and a wrong backup code get this same answer."""

    message = "That username and backup code do not match. Check both and try again."


class WrongRecoveryCode(RecoveryFailed):
    """Step 2: a wrong or expired emailed code; the attempt goes on."""

    message = (
        "The code is wrong or has expired. Check the newest email from us and try again, send "
        "a new code, or start again."
    )


class RecoveryCodeVoided(RecoveryFailed):
    """Step 2: the wrong try that used up the emailed code's tries, and ended the attempt."""

    message = (
        "The code was wrong too many times, so this attempt has ended. Start again with your "
        "backup code; we will email you a new code."
    )


class RecoveryEnded(RecoveryFailed):
    """Steps 2 and 3: this browser has no recovery to go on with (expired, finished, or its
    backup code replaced meanwhile)."""

    message = (
        "This recovery attempt has ended, for example because it took too long. Start again "
        "with your backup code."
    )


class InvalidCode(AppError):
    status, code, message = (
        401,
        "invalid_code",
        "That code is wrong or has expired. Check the newest email from us and try again, or "
        "send a new code.",
    )


class BackupDisabled(AppError):
    status, code, message = (
        403,
        "backup_disabled",
        "Backup is turned off by your administrator, so it cannot be activated or changed here.",
    )


class BackupActive(AppError):
    status, code, message = (
        409,
        "backup_active",
        "Backup is already active on your ID: make a new backup code instead. Reload the page "
        "to see it.",
    )


class BackupEmailRequired(AppError):
    status, code, message = (
        409,
        "backup_email_required",
        "Backup codes are sent by email here, and never to your sign-in address: add and "
        "confirm a backup email address first (Backup page).",
    )


class EmailAlreadyVerified(AppError):
    status, code, message = 409, "email_verified", "Your email address is already confirmed."


class TooManyAttempts(MustWait):
    status, code, message = (
        429,
        "too_many_attempts",
        "Too many failed attempts. For your safety this is paused for a while.",
    )


class MailCapReached(MustWait):
    """Mailed codes are capped per address and per ID (MAIL_CODE_COOLDOWN, MAIL_CODES_PER_HOUR),
    so nobody can make Keystead flood an address; ``retry_after`` is when the cap frees."""

    status, code, message = (
        429,
        "too_many_mails",
        "We just sent a code there. Wait until you may ask for another one.",
    )


# ---- pairing a new device by QR code -------------------------------------------------------


class PairingNotFound(NotFound):
    """Unknown, expired, used by another browser, or cancelled: the same answer for each."""

    message = (
        "This pairing code is not valid any more: it expired, was used by another device, or "
        "was cancelled. Start again to add a device."
    )


class TooManyPairings(MustWait):
    status, code, message = (
        429,
        "too_many_pairings",
        "You already have 3 pairing codes waiting. Finish adding those devices or cancel one, "
        "or wait until a code expires.",
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
