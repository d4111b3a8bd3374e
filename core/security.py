"""Security helpers shared by every feature: tokens and their hashes, keyed hashes, the
allowed-origin check, and the client facts a request carries. Plain Python, no Flask: the pure
modules (code and OTP logic, the ceremony checks, sessions) import it; the rate limiter, which
needs the app, is core/ratelimit.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    """What services may know about the caller, extracted once at the HTTP edge."""

    ip: str
    user_agent: str
    # Hash of the opaque browser cookie: binds pending ceremonies to this browser.
    browser: bytes
    # The device this browser is signed in with, if any: the one acting. Every other device
    # is told about what it does; it is not told about its own actions.
    device_id: int | None = None


def new_token(nbytes: int = 32) -> str:
    """An opaque URL-safe secret of ``nbytes`` random bytes."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> bytes:
    """Tokens carry ≥256 bits of entropy, so a plain SHA-256 is enough to make the stored value
    useless to whoever reads the database."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def keyed_hash(key: str | bytes, purpose: str, value: str | bytes) -> bytes:
    """HMAC-SHA256 of ``value`` under ``key``, separated by ``purpose`` so one use of the key can
    never be replayed as another."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return hmac.new(key, purpose.encode("ascii") + b"\x00" + value, hashlib.sha256).digest()


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """Exact match of a request's ``Origin`` against the configured list (no subdomain or
    scheme leniency), compared in constant time per candidate."""
    if not origin:
        return False
    candidate = origin.lower().encode("utf-8")
    return any(hmac.compare_digest(candidate, a.encode("utf-8")) for a in allowed)
