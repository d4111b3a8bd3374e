"""A clock the tests set to the second: the ``clock`` fixture stops the app's one clock
(``core.clock``) at the next whole second (after anything a fixture wrote before it) and moves
it only when told (``clock.set(t)``,
``clock.advance(seconds=…)``), so a test can stand exactly on an expiry and one second before
it. Requests, column defaults, listeners and the CLI all read that clock, so this is the one
place a test sets the time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from core import clock as app_clock

BEFORE, AT = -1, 0  # seconds relative to a limit: one second before it, and on it


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.start = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when

    def at(self, seconds: float) -> datetime:
        """``seconds`` after the clock's start."""
        return self.set(self.start + timedelta(seconds=seconds))

    def advance(self, seconds: float) -> datetime:
        return self.set(self.now + timedelta(seconds=seconds))


def stale(clock: Clock, app: Any) -> None:
    """Moves past the sign-in's freshness (REAUTH_MAX_AGE), well within every other limit."""
    clock.at(app.config["REAUTH_MAX_AGE"] + 1)


@pytest.fixture(name="clock")
def clock_fixture() -> Iterator[Clock]:
    clock = Clock((app_clock.utcnow() + timedelta(seconds=1)).replace(microsecond=0))
    previous = app_clock.set_source(clock)
    try:
        yield clock
    finally:
        app_clock.set_source(previous)
