"""One-time codes sent by email: generation, keyed hashing, the rules for their life. Pure
Python; storage and the atomic consumption live in ``recovery.email_codes``."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.security import keyed_hash

MAX_WRONG_TRIES = 5
_HASH_PURPOSE = "email-otp"


@dataclass(frozen=True)
class OtpPolicy:
    digits: int = 8
    ttl: int = 600

    def expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl)


def generate(digits: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def normalise(typed: str, digits: int) -> str | None:
    cleaned = "".join(typed.split()).replace("-", "")
    if len(cleaned) != digits or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def hash_code(secret_key: str, code: str) -> bytes:
    return keyed_hash(secret_key, _HASH_PURPOSE, code)


def matches(secret_key: str, typed: str, digits: int, stored_hash: bytes) -> bool:
    canonical = normalise(typed, digits)
    candidate = hash_code(secret_key, canonical or "x")
    return hmac.compare_digest(candidate, stored_hash) and canonical is not None


def mask_email(email: str) -> str:
    """``jane@example.com`` → ``j***@example.com``: enough for the owner to recognise."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
