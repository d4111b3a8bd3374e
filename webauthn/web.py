"""The passkey feature's share of the HTTP edge, for its own views and for the views of the
features above it: the passkey settings in force, and the hook through which those features
add to the account page without this package importing them (recovery adds the backup card,
account_views the sessions card). What they add to the sign-in and sign-up answers is declared
with its model in ``webauthn.schemas`` (``sign_in_answer_extras``). Views import this module,
schemas and services, never another views module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core import policy
from core.models import User
from webauthn.settings import Settings

# Each is called with (db session, user) and returns a dict merged into the account page's
# template context; registered once per process, at start-up.
account_page_extras: list[Callable[[Session, User], dict[str, Any]]] = []


def settings() -> Settings:
    """The passkey settings in force for this request (configuration overlaid by the stored
    policies, ``core.policy``)."""
    return policy.current().settings(Settings.from_config)
