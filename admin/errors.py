"""The admin feature's errors."""

from __future__ import annotations

from core.errors import AppError, InvalidInput, NotFound
from recovery.errors import BackupEmailRequired


class Forbidden(AppError):
    """Signed in, but without a role that may do this (or a helpdesk acting on an admin)."""

    status, code = 403, "forbidden"
    message = "Your ID may not do this."


class LastAdmin(AppError):
    status, code = 409, "last_admin"
    message = "This is the last administrator: grant the role to someone else first."


class OwnId(AppError):
    """An administrator deactivating or deleting their own ID from the admin panel (the
    account page deletes one's own ID, with its own confirmation)."""

    status, code = 409, "own_id"
    message = "You cannot do this to your own ID from the admin panel."


class PolicyForbids(AppError):
    """The organisation's policy (``BACKUP_REISSUE_CHANNELS``) does not allow this."""

    status, code = 403, "policy_forbids"
    message = "Your organisation's policy does not allow re-issuing a backup code this way."


class ConfirmationMismatch(InvalidInput):
    message = "Type the ID's username exactly as shown to confirm."


class NoBackupAddress(BackupEmailRequired):
    """Re-issuing by email for an ID without a confirmed backup address (the sign-in address
    never receives a backup code: it receives recovery's other factor)."""

    message = (
        "This ID has no confirmed backup email address, and a backup code is never mailed to "
        "the sign-in address. Show the code instead, or ask the owner to add a backup address."
    )


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such ID."
