"""How many failed recovery steps are allowed, and when the next try may come. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Failures allowed before delays start; each failure after that doubles the wait.
FREE_FAILURES = 3
MAX_DELAY = 60


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int  # within the window, then locked until the oldest leaves the window
    window: int  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


def verdict(failures: Sequence[datetime], now: datetime, policy: ThrottlePolicy) -> Verdict:
    """``failures``: the subject's failure times within the window, oldest first."""
    if len(failures) >= policy.max_failures:
        unlock = failures[-policy.max_failures] + timedelta(seconds=policy.window)
        return Verdict(False, max(1, _ceil_seconds(unlock - now)))
    if len(failures) >= FREE_FAILURES:
        delay = min(2 ** (len(failures) - FREE_FAILURES), MAX_DELAY)
        ready = failures[-1] + timedelta(seconds=delay)
        if now < ready:
            return Verdict(False, max(1, _ceil_seconds(ready - now)))
    return Verdict(True)


def _ceil_seconds(delta: timedelta) -> int:
    seconds = delta.total_seconds()
    return int(seconds) + (0 if seconds == int(seconds) else 1)
