"""The notifications and activity API's edge: its query string, answers, and the declaration of
each endpoint (what docs/openapi.py writes into the OpenAPI document)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from core.db import ROW_ID_MAX
from core.errors import NotFound
from core.schemas import (
    SIGNED_IN,
    Answer,
    Endpoint,
    NoFields,
    Query,
    Timestamp,
    document,
    omitted_if_none,
    rule_error,
)
from notify.inbox import GONE
from notify.notices import HEADLINES
from webauthn.models import DeviceStatus

# A notification id as a query value: digits only, short enough for any database's integer.
_NOTIFICATION_ID = re.compile(r"[0-9]{1,18}")


def _notification_id(value: object) -> object:
    if isinstance(value, str) and _NOTIFICATION_ID.fullmatch(value):
        # No row id is higher than ROW_ID_MAX, so a higher one finds the same (nothing); and
        # PostgreSQL refuses to compare an integer column with it (a 503).
        return min(int(value), ROW_ID_MAX)
    raise rule_error("'since' must be a notification id.")


class NotificationsQuery(Query):
    since: Annotated[int, BeforeValidator(_notification_id)] = Field(
        default=0,
        ge=0,
        le=10**18 - 1,
        description="Only notifications with a higher id (the highest id seen)",
    )


class NotifiedDevice(Answer):
    """The device the notification is about; status is its status now"""

    id: int | None
    name: str
    authenticator: str | None
    status: str = Field(
        json_schema_extra={
            "enum": [*(s.value for s in DeviceStatus if s != DeviceStatus.REMOVED), GONE]
        }
    )


class NotifiedWebsite(Answer):
    """The website the notification is about, named as it was then"""

    name: str
    origin: str = Field(description="Where the website lives (scheme://host[:port])")


class NotificationOut(Answer):
    """Something that happened to the ID, told to one of its devices."""

    id: int
    kind: str = Field(json_schema_extra={"enum": list(HEADLINES)})
    title: str = Field(description="What happened, in words (notify/notices.py owns them)")
    by_administrator: bool = Field(
        description="An administrator did it (then `ip` and `user_agent` are empty)"
    )
    created_at: Timestamp
    read: bool
    device: NotifiedDevice
    website: NotifiedWebsite | None = omitted_if_none(
        description="Only for a notice about a website (`website_connected`)"
    )
    ip: str
    user_agent: str


class NotificationsOut(Answer):
    notifications: list[NotificationOut]
    unread: int = Field(description="All unread of this device, not only those in this answer")
    poll_interval: int = Field(description="Seconds between two polls (NOTIFICATION_POLL_INTERVAL)")


class Unread(Answer):
    notifications: list[NotificationOut] = Field(
        description="Sign-in only: this device's unread notifications"
    )


class EventOut(Answer):
    """One line of the ID's audit trail."""

    id: int
    kind: str
    created_at: Timestamp
    device_id: int | None
    device_name: str | None
    ip: str
    user_agent: str
    details: dict[str, Any]


class Activity(Answer):
    events: list[EventOut]


document(
    "inbox_api",
    notifications=Endpoint(
        "This device's notifications, newest first (the live view polls this)",
        tag="notifications",
        description="Live view contract: poll with `?since=<highest id seen>` every "
        "`poll_interval` seconds. The database is the source, so any worker answers the same.",
        query=NotificationsQuery,
        responses={200: (NotificationsOut, "Notifications")},
        errors=SIGNED_IN,
    ),
    read=Endpoint(
        "Mark a notification read",
        tag="notifications",
        body=NoFields,
        responses={204: "Read"},
        errors=[(NotFound, "Not this device's"), *SIGNED_IN],
    ),
    read_all=Endpoint(
        "Mark all of this device's notifications read",
        tag="notifications",
        body=NoFields,
        responses={204: "Read"},
        errors=SIGNED_IN,
    ),
    activity=Endpoint(
        "The ID's audit trail, newest first",
        tag="notifications",
        responses={200: (Activity, "Events")},
        errors=SIGNED_IN,
    ),
)
