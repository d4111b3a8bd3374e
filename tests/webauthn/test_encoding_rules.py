"""The strict encoding rules of WebAuthn responses that python-fido2 is lenient about: the CBOR
walk (``_cbor_end``), the authenticator data's exact length, and clientDataJSON members of the
wrong type. Each case is malformed input (InvalidInput, before a challenge is consumed), never
a failed check later. Pure: no app."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from fido2 import cbor

from core.errors import InvalidInput
from tests.webauthn.test_ceremony import _AUTH, _REG, ORIGIN, _edit
from tools.softauthn import SoftAuthenticator, b64u, b64u_decode
from webauthn.ceremony import (
    RelyingParty,
    _cbor_end,
    _check_authenticator_data_encoding,
    parse_authentication,
    parse_registration,
    registration_options,
    verify_registration,
)

AT, ED = 0x40, 0x80


# ---- the CBOR walk -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "end"),
    [
        (b"\x00", 1),
        (b"\x17", 1),  # 23: the value is in the initial byte
        (b"\x18\x18", 2),  # 24: one more byte
        (b"\x19\x01\x00", 3),
        (b"\x1a\x00\x01\x00\x00", 5),
        (b"\x1b" + b"\x00" * 7 + b"\x01", 9),  # 27: eight more bytes, the last length
        (b"\x20", 1),
        (b"\x38\x18", 2),
        (b"\x40", 1),
        (b"\x42ab", 3),  # a byte string that ends exactly at the end of the data
        (b"\x58\x02ab", 4),
        (b"\x62ab", 3),
        (b"\x80", 1),
        (b"\x82\x01\x02", 3),
        (b"\x81\x81\x00", 3),
        (b"\xa1\x01\x02", 3),  # a map holds twice as many items as its length
        (b"\xa2\x01\x02\x03\x42ab", 7),
        (b"\xf4", 1),
        (b"\xf6", 1),
        (b"\xf7", 1),  # simple value 23
        (b"\x81" * 16 + b"\x00", 17),  # 16 levels deep: the most allowed
        (b"\x01\xff\xff", 1),  # what follows the item is not the item's business
    ],
)
def test_the_cbor_walk_finds_where_an_item_ends(item, end):
    assert _cbor_end(item, 0) == end
    assert _cbor_end(b"\xff" + item, 1) == end + 1


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x18", id="uint-cut"),
        pytest.param(b"\x19\x01", id="uint16-cut"),
        pytest.param(b"\x1b" + b"\x00" * 7, id="uint64-cut"),
        pytest.param(b"\x42a", id="bytes-cut"),
        pytest.param(b"\x58", id="bytes-length-cut"),
        pytest.param(b"\x63ab", id="text-cut"),
        pytest.param(b"\x82\x01", id="array-cut"),
        pytest.param(b"\xa1\x01", id="map-value-missing"),
        pytest.param(b"\xa2\x01\x02\x03", id="map-cut"),
        pytest.param(b"\x1c" + b"\x00" * 16, id="reserved-length-28"),
        pytest.param(b"\x5f\x41a\xff", id="indefinite-bytes"),
        pytest.param(b"\x9f\x01\xff", id="indefinite-array"),
        pytest.param(b"\xf8\x20", id="simple-24"),
        pytest.param(b"\xfa\x00\x00\x00\x00", id="float"),
        pytest.param(b"\xc0\x00", id="tag"),
        pytest.param(b"\x81" * 17 + b"\x00", id="17-levels"),
    ],
)
def test_the_cbor_walk_refuses_what_webauthn_does_not_use_or_is_cut_off(item):
    with pytest.raises(ValueError):
        _cbor_end(item, 0)


# ---- authenticator data --------------------------------------------------------------------

RP_HASH = b"\x49" * 32


def auth_data(flags: int, rest: bytes = b"") -> bytes:
    return RP_HASH + bytes([flags]) + b"\x00\x00\x00\x07" + rest


COSE = cbor.encode({1: 2, 3: -7, -1: 1, -2: b"x" * 32, -3: b"y" * 32})
ATTESTED = b"\x00" * 16 + b"\x00\x04" + b"cred" + COSE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(auth_data(0x05), id="assertion"),
        pytest.param(auth_data(0x05 | AT, ATTESTED), id="attested"),
        pytest.param(auth_data(0x05 | ED, cbor.encode({"ext": 1})), id="extensions"),
        pytest.param(
            auth_data(0x05 | AT | ED, ATTESTED + cbor.encode({"ext": 1})), id="attested-extensions"
        ),
    ],
)
def test_well_formed_authenticator_data_passes(data):
    _check_authenticator_data_encoding(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(auth_data(0x05)[:36], id="36-bytes"),
        pytest.param(auth_data(0x05, b"\x00"), id="trailing-byte"),
        pytest.param(auth_data(0x05 | AT, ATTESTED[:17]), id="attested-header-cut"),
        pytest.param(auth_data(0x05 | AT, ATTESTED[:-1]), id="cose-key-cut"),
        pytest.param(auth_data(0x05 | AT, ATTESTED + b"\x00"), id="attested-trailing"),
        pytest.param(
            auth_data(0x05 | AT, b"\x00" * 16 + b"\x00\x09" + b"cred" + COSE), id="id-too-long"
        ),
        pytest.param(auth_data(0x05 | ED, b"\xa1\x01\x42\x00"), id="extensions-cut"),
        pytest.param(auth_data(0x05 | ED), id="extensions-missing"),
        pytest.param(auth_data(0x05, cbor.encode({"ext": 1})), id="extensions-without-flag"),
    ],
)
def test_malformed_authenticator_data_is_refused(data):
    with pytest.raises(ValueError):
        _check_authenticator_data_encoding(data)


def test_an_assertion_with_cut_off_extensions_is_malformed_input():
    """python-fido2 reads the cut-off byte string as a shorter one and accepts it."""
    body = _edit(
        _AUTH, "response.authenticatorData", b64u(auth_data(0x05 | ED, b"\xa1\x01\x42\x00"))
    )
    with pytest.raises(InvalidInput):
        parse_authentication(body)


def test_a_registration_without_an_attested_credential_is_malformed_input():
    attestation = cbor.decode(b64u_decode(_REG["response"]["attestationObject"]))
    attestation["authData"] = auth_data(0x05)
    body = _edit(_REG, "response.attestationObject", b64u(cbor.encode(attestation)))
    with pytest.raises(InvalidInput):
        parse_registration(body)


# ---- clientDataJSON ------------------------------------------------------------------------


def client_data(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = json.loads(b64u_decode(body["response"]["clientDataJSON"]))
    return _edit(body, "response.clientDataJSON", b64u(json.dumps({**data, **changes}).encode()))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"type": 1}, id="type-number"),
        pytest.param({"origin": 5}, id="origin-number"),
        pytest.param({"origin": None}, id="origin-null"),
        pytest.param({"challenge": 32}, id="challenge-number"),  # fido2: 32 zero bytes
        pytest.param({"challenge": "!!!!"}, id="challenge-not-base64url"),  # fido2: b""
    ],
)
@pytest.mark.parametrize("parse", [parse_registration, parse_authentication])
def test_client_data_members_of_the_wrong_kind_are_malformed_input(parse, changes):
    body = _REG if parse is parse_registration else _AUTH
    parse(client_data(body))  # unchanged, it parses
    with pytest.raises(InvalidInput):
        parse(client_data(body, **changes))


# ---- registration values at their limits --------------------------------------------------


def _registration(
    rp: RelyingParty, credential_id: bytes | None = None
) -> tuple[dict[str, Any], bytes]:
    challenge = secrets.token_bytes(32)
    options = registration_options(
        rp,
        challenge=challenge,
        user_handle=b"u" * 32,
        username="alice",
        display_name="Alice",
        exclude=[],
    )
    return SoftAuthenticator(origin=ORIGIN).create(options, credential_id=credential_id), challenge


def _verify(rp: RelyingParty, raw: dict[str, Any], challenge: bytes) -> Any:
    return verify_registration(rp, parse_registration(raw), raw, challenge=challenge)


RP = RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN}))


def test_a_one_byte_credential_id_is_accepted():
    raw, challenge = _registration(RP, credential_id=b"\x01")
    assert _verify(RP, raw, challenge).credential_id == b"\x01"


def test_client_data_without_cross_origin_is_first_party():
    """crossOrigin is optional (older browsers leave it out): absent means false."""
    raw, challenge = _registration(RP)
    data = json.loads(b64u_decode(raw["response"]["clientDataJSON"]))
    del data["crossOrigin"]
    raw = _edit(raw, "response.clientDataJSON", b64u(json.dumps(data).encode()))
    assert _verify(RP, raw, challenge).user_verified


@pytest.mark.parametrize(
    ("transports", "kept"),
    [
        (["internal", "hybrid"], ("internal", "hybrid")),
        ([], ()),
        (None, ()),
        ("usb", ()),  # not a list
        (["usb", 5], ()),  # not all strings
        (["x" * 40] * 10, ("x" * 32,) * 8),  # at most 8, each at most 32 characters
    ],
)
def test_reported_transports_are_kept_only_when_well_formed(transports, kept):
    raw, challenge = _registration(RP)
    raw = _edit(raw, "response.transports", transports)
    assert _verify(RP, raw, challenge).transports == kept


def test_a_key_that_accepts_any_signature_is_not_usable():
    """The registration probe: a key must refuse a made-up signature."""
    from webauthn.ceremony import _key_usable

    class AcceptsAnything:
        def verify(self, message: bytes, signature: bytes) -> None:
            return None

    assert _key_usable(AcceptsAnything()) is False  # type: ignore[arg-type]
