"""Finding and normalising users: the rules for a username, an address and a display name, and
the one lookup of an ID by its username (case-insensitive, through ``User.username_key``).

Every entry point (sign-up, sign-in, recovery, the CLI, address changes) goes through these,
so a name typed with other capitals or stray spaces finds the same ID everywhere. The rules are
declared here once (``TextRule``): the functions below check them, the HTTP edge's models
document them in the OpenAPI document (core/schemas.py), and the pages render them as input
attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import User


@dataclass(frozen=True)
class TextRule:
    """What a typed value may be, once normalised: its lengths and, optionally, the characters
    it is made of (a character class, valid alike in Python, JSON Schema and an HTML
    ``pattern``, which browsers compile in the strict ``v`` mode: escape ``-``)."""

    max_length: int
    min_length: int = 0
    characters: str | None = None

    @property
    def pattern(self) -> str | None:
        """The whole value, unanchored (an HTML ``pattern`` attribute)."""
        if self.characters is None:
            return None
        return f"{self.characters}{{{self.min_length},{self.max_length}}}"

    def matches(self, value: str) -> bool:
        if not self.min_length <= len(value) <= self.max_length:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"maxLength": self.max_length}
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


USERNAME = TextRule(min_length=3, max_length=64, characters=r"[A-Za-z0-9._\-]")
# A name typed to sign in or recover: never checked against USERNAME (that would tell which
# rule an old or mistyped name breaks), only bounded.
TYPED_USERNAME = TextRule(min_length=1, max_length=254)
# RFC 5321's longest path; email-validator enforces it (normalise_email).
EMAIL = TextRule(max_length=254)
DISPLAY_NAME = TextRule(max_length=128, characters=r"[^\x00\r\n]")


def username_key(username: str) -> str:
    """What a username is unique and looked up by: trimmed, in lower case."""
    return username.strip().lower()


def find_user(db: Session, username: str) -> User | None:
    """The ID whose username is ``username``, ignoring case and surrounding spaces; None when
    there is none."""
    return db.scalar(sa.select(User).where(User.username_key == username_key(username)))


def normalise_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.matches(username):
        raise InvalidInput(
            f"A username is {USERNAME.min_length} to {USERNAME.max_length} letters, digits, "
            "'.', '_' or '-'."
        )
    return username


def normalise_typed_username(username: str) -> str:
    """A username typed to find an ID (sign-in, recovery): trimmed, not empty, bounded."""
    username = username.strip()
    if not TYPED_USERNAME.matches(username):
        raise InvalidInput("Enter your username.")
    return username


def normalise_email(email: str) -> str:
    """A deliverable-looking address in its normal form (email-validator's syntax rules, IDN
    domains and plus-addressing included; no DNS lookup). Control characters, ``,``, ``<``,
    ``;`` and friends never reach a mail header. A non-ASCII local part is refused: it needs
    SMTPUTF8, which the outbox does not speak (IDN domains are mailed in their ASCII form)."""
    email = email.strip()
    try:
        return str(
            validate_email(
                email, check_deliverability=False, strict=True, allow_smtputf8=False
            ).normalized
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"Enter a valid email address. {exc}") from exc


def normalise_display_name(display_name: str | None, username: str) -> str:
    """The name shown for the ID; empty (or none) means the username."""
    return check_display_name(display_name or "") or username


def check_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not DISPLAY_NAME.matches(display_name):
        raise InvalidInput(
            f"A display name is at most {DISPLAY_NAME.max_length} characters on one line."
        )
    return display_name
