"""Names of authenticator models by AAGUID: the loaded FIDO Metadata Service BLOB's
(``webauthn.metadata``, read with the device as ``Device.mds_name``) when it lists the model,
else the project's data file ``webauthn/data/aaguids.json`` (a small extract of public vendor
metadata)."""

from __future__ import annotations

import json
import uuid
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from webauthn.models import Device


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


def device_model_name(device: Device) -> str | None:
    """The model name to show for ``device``: the loaded FIDO metadata's, else the data
    file's. The metadata's is read with the device when it was loaded undeferred
    (``webauthn.devices.list_devices``), else with one lookup while the device is in a
    session."""
    state = sa.inspect(device)
    if "mds_name" not in state.unloaded or state.session is not None:
        if device.mds_name:
            return device.mds_name
    return authenticator_name(device.aaguid)
