"""The app's one clock. Everything that needs the time reads ``utcnow()``: the per-request value
(``core.web.request_context``), column defaults, the CLI, the mail delivery worker. Listeners
take the time from the event they receive, never from here, so a change and its side effects
carry the same instant.

Tests set the time in this one place (``set_source``; ``tests/clock.py`` wraps it in a
fixture) instead of patching each module that reads it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Source = Callable[[], datetime]


def system_time() -> datetime:
    return datetime.now(UTC)


_source: Source = system_time


def utcnow() -> datetime:
    """Now, an aware UTC datetime, from the clock's current source."""
    return _source()


def set_source(source: Source | None) -> Source:
    """Reads the time from ``source`` from now on (None: the system clock again); returns the
    source it replaces, so a caller can put it back."""
    global _source
    previous, _source = _source, source or system_time
    return previous
