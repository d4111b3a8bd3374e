"""Passkey ceremonies (python-fido2 plus the relying-party checks it leaves to us), the
server-side challenge store, devices (credentials), the sign-in pages and the JSON API."""

import functools
import logging
import typing

import fido2.utils

# python-fido2 builds each of its data objects with typing.get_type_hints(cls), which re-reads
# the class's annotations every time: a tenth of a sign-in's server time under load (py-spy,
# `make bench`). A class's hints never change, so they are computed once per class.
fido2.utils.get_type_hints = functools.cache(typing.get_type_hints)  # type: ignore[assignment]

# fido2 logs every registration and sign-in at INFO with the credential id; our audit trail
# records those, so its own lines are noise (and a per-request write) in production logs.
logging.getLogger("fido2").setLevel(logging.WARNING)
