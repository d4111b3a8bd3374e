"""The browser id: an opaque value that binds pending ceremonies, recoveries and pairings to
one browser. The server issues it (128+ random bits) and signs it, and honours only values it
signed: a value the client makes up, or copies from a planted cookie without the signature,
is replaced by a new one. Pure Python."""

from __future__ import annotations

import hmac

from core.encoding import b64url
from core.security import keyed_hash, new_token

_PURPOSE = "browser-id"
_TOKEN_BYTES = 24  # 192 bits
_MAX_COOKIE_LENGTH = 128


def issue() -> str:
    return new_token(_TOKEN_BYTES)


def _signature(secret_key: str, token: str) -> str:
    return b64url(keyed_hash(secret_key, _PURPOSE, token))


def cookie_value(secret_key: str, token: str) -> str:
    return f"{token}.{_signature(secret_key, token)}"


def verified(secret_key: str, cookie: str | None) -> str | None:
    """The browser token inside a cookie this server signed, or None."""
    if not cookie or len(cookie) > _MAX_COOKIE_LENGTH or cookie.count(".") != 1:
        return None
    token, signature = cookie.split(".")
    if not token:
        return None
    expected = _signature(secret_key, token)
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        return None
    return token
