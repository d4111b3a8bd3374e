"""What each notice says, declared once: a headline per kind, in the owner's words or, when an
administrator did it, as the administrator's doing ("An administrator blocked …"). The inbox
and its mails, the pages (a Jinja global) and the live view (the API's ``title``) all read it
here; the browser keeps only icons and colours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEADLINES = {
    "device_added": "A passkey was added to your ID",
    "device_restored": "Your ID was restored on a new device",
    "device_duplicated": "Your ID was copied to a new device",
    "device_paired": "A device was paired with your ID",
    "device_blocked": "A device of your ID was blocked",
    "device_unblocked": "An administrator unblocked a device of your ID",
    "device_removed": "A device was removed from your ID",
    "device_flagged": "A device of your ID may have been cloned",
    "new_device_sign_in": "New sign-in to your ID",
    "email_changed": "The email address of your ID was changed",
    "website_connected": "A website was connected to your ID",
    "sessions_ended_by_admin": "An administrator signed your ID out",
    "user_deactivated": "An administrator deactivated your ID",
    "user_reactivated": "An administrator reactivated your ID",
    "backup_code_reissued": "An administrator issued a new backup code for your ID",
}
# The same news when an administrator made it (``data["by_administrator"]``).
BY_ADMINISTRATOR = {
    "device_blocked": "An administrator blocked a device of your ID",
    "device_removed": "An administrator removed a device from your ID",
}
# The marker a notice's data carries when an administrator did it.
ADMINISTRATOR = "by_administrator"


def headline(kind: str, data: Mapping[str, Any] | None = None) -> str:
    """The notice's headline; an unknown (older) kind is named by its words."""
    if data and data.get(ADMINISTRATOR) and kind in BY_ADMINISTRATOR:
        return BY_ADMINISTRATOR[kind]
    return HEADLINES.get(kind) or kind.replace("_", " ").capitalize()
