"""Names of well-known authenticator models by AAGUID, from the project's data file
``webauthn/data/aaguids.json`` (a small extract of public vendor metadata)."""

from __future__ import annotations

import json
import uuid
from functools import cache
from importlib import resources


@cache
def _names() -> dict[str, str]:
    text = resources.files("webauthn").joinpath("data/aaguids.json").read_text("utf-8")
    return {key.lower(): value for key, value in json.loads(text)["aaguids"].items()}


def format_aaguid(aaguid: bytes) -> str | None:
    """The AAGUID as a UUID string; None for the all-zero AAGUID (no model information)."""
    if len(aaguid) != 16 or aaguid == bytes(16):
        return None
    return str(uuid.UUID(bytes=aaguid))


def authenticator_name(aaguid: bytes) -> str | None:
    formatted = format_aaguid(aaguid)
    return None if formatted is None else _names().get(formatted)
