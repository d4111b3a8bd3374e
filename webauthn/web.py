"""The passkey feature's share of the HTTP edge, for its own views and for the views of the
features above it: the passkey settings in force, and the hooks through which those
features add keys to the sign-in and sign-up answers and to the account page without this
package importing them (recovery adds "backup_prompt" / "backup_required" and the backup card,
notify the unread "notifications", account_views the sessions card). Views import this module
and services, never another views module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core import policy
from core.models import User
from webauthn.models import Device
from webauthn.settings import Settings

# Each is called with (db session, user, device) and returns a dict merged into the JSON
# answer; registered once per process, at start-up.
AnswerExtra = Callable[[Session, User, Device], dict[str, Any]]
sign_in_answer_extras: list[AnswerExtra] = []
sign_up_answer_extras: list[AnswerExtra] = []
# Likewise for the account page's template context.
account_page_extras: list[Callable[[Session, User], dict[str, Any]]] = []


def settings() -> Settings:
    """The passkey settings in force for this request (configuration overlaid by the stored
    policies, ``core.policy``)."""
    return policy.current().settings(Settings.from_config)
