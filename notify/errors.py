"""The notification feature's errors. Their messages are what people read; see
``core/errors.py``."""

from __future__ import annotations

from core.errors import NotFound


class NotificationNotFound(NotFound):
    """Not one of this browser's notifications (any more)."""

    message = "That notification is no longer there. Reload the page."


class BlockLinkInvalid(NotFound):
    """A mailed "this wasn't me" link that is unknown, expired, or used on a device that is no
    longer blocked: one answer for all, on an HTML page."""

    message = "This link is not valid (any more)."
