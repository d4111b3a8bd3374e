"""What ``flask --app app purge`` deletes besides challenges and ended sessions: each feature
above webauthn/ registers its own sweep here (webauthn/ cannot import them), so one command
keeps every table of short-lived rows small."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

Sweep = Callable[[Session, datetime], int]
# A sweep whose limits are settings (``AUDIT_RETENTION_DAYS``…): it gets the configuration in
# force (policies included) from the command, as services get their settings from a view.
ConfiguredSweep = Callable[[Session, datetime, Mapping[str, Any]], int]
_SWEEPS: dict[str, ConfiguredSweep] = {}


def register(what: str, sweep: Sweep) -> None:
    """``sweep(db, now)`` deletes expired rows and returns how many; ``what`` names them in
    the command's output ("expired website codes and tokens")."""
    _SWEEPS[what] = lambda db, now, _config: sweep(db, now)


def register_configured(what: str, sweep: ConfiguredSweep) -> None:
    """Like ``register``, for ``sweep(db, now, config)``."""
    _SWEEPS[what] = sweep


def sweep_registered(db: Session, now: datetime, config: Mapping[str, Any]) -> dict[str, int]:
    return {what: sweep(db, now, config) for what, sweep in _SWEEPS.items()}
