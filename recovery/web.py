"""The backup feature's share of the HTTP edge: the backup settings in force, for recovery's
views (views.py, address_views.py), which import this rather than each other."""

from __future__ import annotations

from core import policy
from recovery.settings import BackupSettings


def settings() -> BackupSettings:
    """The backup settings in force for this request (configuration overlaid by the stored
    policies, ``core.policy``)."""
    return policy.current().settings(BackupSettings.from_config)
