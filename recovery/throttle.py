"""How many failed recovery steps are allowed, and when the next try may come. Pure Python.

Two kinds of limit, on purpose:

* a **delay** (every policy): after ``free_failures`` failures within the window, each further
  failure doubles the wait before the next try, never beyond ``MAX_DELAY`` seconds. A subject
  that others can make fail (an IP shared by an office) is only ever slowed, by a bounded wait.
* a **lock** (only where ``lock_after`` is set): after that many failures within the window the
  subject waits until the oldest of them leaves it. Used only for subjects that cannot be made to
  fail by someone who knows no secret: one browser's own tries, or an ID's email codes once a
  right backup code (or the owner's own signed-in session) was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Failures allowed before delays start; each failure after that doubles the wait.
FREE_FAILURES = 3
# The longest a delay ever lasts (seconds): the bound on how long others' failures can hold up
# a subject that is only slowed.
MAX_DELAY = 60


@dataclass(frozen=True)
class ThrottlePolicy:
    window: int  # seconds over which failures count
    free_failures: int = FREE_FAILURES
    lock_after: int | None = None  # None: delays only, never a lock


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


def verdict(failures: Sequence[datetime], now: datetime, policy: ThrottlePolicy) -> Verdict:
    """``failures``: the subject's failure times within the window, oldest first."""
    if policy.lock_after is not None and len(failures) >= policy.lock_after:
        unlock = failures[-policy.lock_after] + timedelta(seconds=policy.window)
        return Verdict(False, max(1, _ceil_seconds(unlock - now)))
    if len(failures) >= policy.free_failures:
        ready = failures[-1] + timedelta(seconds=delay(len(failures), policy))
        if now < ready:
            return Verdict(False, max(1, _ceil_seconds(ready - now)))
    return Verdict(True)


def delay(count: int, policy: ThrottlePolicy) -> int:
    """Seconds to wait after the ``count``-th failure: 1, 2, 4, … up to ``MAX_DELAY``."""
    if count < policy.free_failures:
        return 0
    return min(2 ** min(count - policy.free_failures, 16), MAX_DELAY)


def _ceil_seconds(delta: timedelta) -> int:
    seconds = delta.total_seconds()
    return int(seconds) + (0 if seconds == int(seconds) else 1)
