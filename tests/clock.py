"""A clock the tests set to the second: the ``clock`` fixture stops the app's time at a whole
second and moves it only when told (``clock.set(t)``, ``clock.advance(seconds=…)``), so a test
can stand exactly on an expiry and one second before it.

Every loaded module of the app that took ``now`` (``core.web.now``) or ``utcnow``
(``core.db.utcnow``) by name is patched, so the clock holds however a module reads the time."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

import core.db
import core.web

_PACKAGES = ("core", "webauthn", "recovery", "notify", "app")

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
def clock_fixture(monkeypatch: Any) -> Clock:
    clock = Clock(core.db.utcnow().replace(microsecond=0))
    originals = (core.web.now, core.db.utcnow)
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in _PACKAGES:
            continue
        for attr in ("now", "utcnow"):
            if getattr(module, attr, None) in originals:
                monkeypatch.setattr(module, attr, clock)
    return clock
