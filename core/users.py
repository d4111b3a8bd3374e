"""Finding and normalising users: the rules for a username, an address and a display name, and
the one lookup of an ID by its username (case-insensitive, through ``User.username_key``).

Every entry point (sign-up, sign-in, recovery, the CLI, address changes) goes through these,
so a name typed with other capitals or stray spaces finds the same ID everywhere.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import User

USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{3,64}$")


def username_key(username: str) -> str:
    """What a username is unique and looked up by: trimmed, in lower case."""
    return username.strip().lower()


def find_user(db: Session, username: str) -> User | None:
    """The ID whose username is ``username``, ignoring case and surrounding spaces; None when
    there is none."""
    return db.scalar(sa.select(User).where(User.username_key == username_key(username)))


def normalise_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput("A username is 3 to 64 letters, digits, '.', '_' or '-'.")
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
    display_name = (display_name or "").strip()
    if len(display_name) > 128 or any(ch in display_name for ch in "\x00\r\n"):
        raise InvalidInput("A display name is at most 128 characters on one line.")
    return display_name or username
