"""The cap on mailed codes: nobody can make Keystead flood an address, whoever asks. Pure
Python: ``recovery.email_codes`` reads the times earlier codes were mailed (the ``email_codes``
rows) and asks ``wait``.

Two rules, both counted from codes actually mailed:
- a cooldown: no code of the same kind to the same address within ``cooldown`` seconds;
- an hourly cap: at most ``per_hour`` codes of any kind to one address, and for one ID, within
  any 3600 seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MailCapPolicy:
    cooldown: int = 30
    per_hour: int = 10


def _seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment`` (rounded up: at ``now + result`` the moment
    has come), at least 1."""
    return max(1, math.ceil((moment - now).total_seconds()))


def wait(
    policy: MailCapPolicy,
    now: datetime,
    *,
    same_kind_to_address: Sequence[datetime],
    to_address: Sequence[datetime],
    for_id: Sequence[datetime],
) -> int:
    """Seconds until another code may be mailed, 0 when it may go now.

    Each argument lists when earlier codes were mailed (any order, older ones are ignored).
    The answer is the longest wait among the rules that refuse; waiting that long frees all of
    them (a rule that allows now still allows later), so it is a truthful Retry-After.
    """
    waits = [0]
    recent_same_kind = [
        t for t in same_kind_to_address if t > now - timedelta(seconds=policy.cooldown)
    ]
    if policy.cooldown and recent_same_kind:
        waits.append(
            _seconds_until(max(recent_same_kind) + timedelta(seconds=policy.cooldown), now)
        )
    for times in (to_address, for_id):
        in_window = sorted(t for t in times if t > now - HOUR)
        if len(in_window) >= policy.per_hour:
            # The code that must leave the window for one more to fit: then exactly
            # per_hour - 1 remain.
            leaving = in_window[len(in_window) - policy.per_hour]
            waits.append(_seconds_until(leaving + HOUR, now))
    return max(waits)
