"""The admin feature's errors."""

from __future__ import annotations

from core.errors import AppError, NotFound


class Forbidden(AppError):
    """Signed in, but without a role that may do this (or a helpdesk acting on an admin)."""

    status, code = 403, "forbidden"
    message = "Your ID may not do this."


class LastAdmin(AppError):
    status, code = 409, "last_admin"
    message = "This is the last administrator: grant the role to someone else first."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such ID."
