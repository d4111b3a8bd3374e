"""What ``flask --app app purge`` deletes besides challenges and ended sessions: each feature
above webauthn/ registers its own sweep here (webauthn/ cannot import them), so one command
keeps every table of short-lived rows small."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

Sweep = Callable[[Session, datetime], int]
_SWEEPS: dict[str, Sweep] = {}


def register(what: str, sweep: Sweep) -> None:
    """``sweep(db, now)`` deletes expired rows and returns how many; ``what`` names them in
    the command's output ("expired website codes and tokens")."""
    _SWEEPS[what] = sweep


def sweep_registered(db: Session, now: datetime) -> dict[str, int]:
    return {what: sweep(db, now) for what, sweep in _SWEEPS.items()}
