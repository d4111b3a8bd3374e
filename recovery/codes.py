"""Backup codes: generation, normalisation of what people type, keyed hashing. Pure Python.

A code is 24 symbols of Crockford's base32 alphabet (no I, L, O, U: nothing to confuse with
1, 0 or V), 120 bits from ``secrets``, shown in six groups of four: ``K7QM-3WXD-…``. At 120
bits a keyed hash is enough (no slow hash): nobody can search that space, even with the key.
Codes issued before (20 symbols, 100 bits) keep working until they are used or replaced.
Typed input is forgiving: any case, spaces and dashes ignored, O read as 0 and I/L as 1.
"""

from __future__ import annotations

import hmac
import secrets

from core.security import keyed_hash

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 24  # 24 × 5 bits = 120 bits
# Lengths accepted when checking: today's, and the 20-symbol codes issued before it.
ACCEPTED_LENGTHS = (LENGTH, 20)
GROUP = 4
# What a typed code may be at most (spaces and dashes included) before it is looked at.
TYPED_MAX_LENGTH = 128
_TYPO_MAP = str.maketrans({"O": "0", "I": "1", "L": "1"})
_HASH_PURPOSE = "backup-code"


def generate() -> str:
    """A new backup code, grouped for reading."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(typed: str) -> str | None:
    """The canonical form of a typed code, or None when it cannot be a backup code."""
    cleaned = "".join(typed.split()).replace("-", "").upper().translate(_TYPO_MAP)
    if len(cleaned) not in ACCEPTED_LENGTHS or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def hash_code(secret_key: str, code: str) -> bytes:
    """Keyed hash of a code (normalised first): a stolen database alone does not let anyone
    test guesses offline."""
    canonical = normalise(code)
    if canonical is None:
        raise ValueError("not a backup code")
    return keyed_hash(secret_key, _HASH_PURPOSE, canonical)


def matches(secret_key: str, typed: str, stored_hash: bytes | None) -> bool:
    """Constant-time check of a typed code against a stored hash. Malformed input and a
    missing hash (no such ID, backup not active) do the same work as a real comparison, so
    neither the answer's timing nor its content tells them apart."""
    canonical = normalise(typed)
    candidate = keyed_hash(secret_key, _HASH_PURPOSE, canonical or "0" * LENGTH)
    same = hmac.compare_digest(candidate, stored_hash or bytes(32))
    return same and canonical is not None and stored_hash is not None
