"""The one tree of errors a request can end with. Each carries its machine-readable code, its
HTTP status and a message safe to show anyone; ``app.py`` maps them to JSON or an HTML page.

This module holds the base class, the generic HTTP and edge errors, and what ``core`` itself
raises. A feature's own errors live in its package (``webauthn/errors.py``,
``recovery/errors.py``, ``notify/errors.py``).

The message is the text people read: the pages show it as the server sends it and keep no copy
of their own, so a change of wording (or a translation) is made here, once. A page keeps only
what the server can never say (no connection, the browser's passkey dialog cancelled)."""

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
    status, code, message = (
        400,
        "invalid_input",
        "Some of the details are not valid. Check them and try again.",
    )


class NotSignedIn(AppError):
    status, code, message = (
        401,
        "not_signed_in",
        "You are not signed in, or your session has ended. Sign in to continue.",
    )


class ReauthRequired(AppError):
    status, code, message = (
        401,
        "reauth_required",
        "For your safety, confirm it's you with your passkey or security key first, then try "
        "again.",
    )


class CsrfFailed(AppError):
    status, code, message = (
        403,
        "csrf_failed",
        "Your browser sent this request without proof it came from this site, so it was "
        "refused. Reload the page and try again.",
    )


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found."


class MethodNotAllowed(AppError):
    status, code, message = 405, "method_not_allowed", "Method not allowed."


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_media_type", "Send JSON (application/json)."


class InternalError(AppError):
    """A bug, not bad input: the handler logs it whole and answers this, with no details."""

    status, code, message = (
        500,
        "internal_error",
        "Something went wrong on our side; nothing was changed.",
    )


class MustWait(AppError):
    """An error that says how long to wait: ``Retry-After`` carries the true wait in seconds,
    which the pages show as a countdown. Without a known wait there is no header."""

    def __init__(self, retry_after: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


class RateLimited(MustWait):
    status, code, message = (
        429,
        "rate_limited",
        "Too many attempts in a short time. Wait a moment, then try again.",
    )


class ServiceUnavailable(MustWait):
    status, code, message = 503, "unavailable", "The service is busy; try again in a moment."
