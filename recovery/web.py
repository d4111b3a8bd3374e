"""The backup feature's share of the HTTP edge: the running app's backup settings, for
recovery's views (views.py, address_views.py), which import this rather than each other."""

from __future__ import annotations

from core.web import app_settings
from recovery.settings import BackupSettings

SETTINGS_KEY = "keystead.backup_settings"


def settings() -> BackupSettings:
    return app_settings(SETTINGS_KEY, BackupSettings.from_config)
