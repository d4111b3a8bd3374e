"""A software WebAuthn authenticator that also plays the browser.

The test suite and the load benchmark need fresh, valid (or deliberately broken) WebAuthn
responses without a real browser or security key, and without recorded payloads that go stale
when a challenge changes. `SoftAuthenticator` takes the W3C Level 3 JSON options our server
sends (what python-fido2's `dict(options)` gives) and returns exactly the JSON a browser's
`credential.toJSON()` would post back.

Every relying-party check we make must have an attack test, so `create` and `get` accept a
`Tamper` value: each of its fields breaks exactly one thing and the defaults are honest, so a
test reads as "everything right except this one field". One value serves both ceremonies, so
one attack runs against registration and sign-in alike.

Only `cryptography` (keys, signatures) and python-fido2's encoders are used, so the bytes on
the wire are built independently of the server-side verification code they exercise.

Past 400 lines on purpose: one authenticator (keys, attestation, counters, the browser's
client data) and the ``Tamper`` value whose every field breaks one thing in the same response.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import hashlib
import json
import secrets
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from fido2 import cbor
from fido2.cose import CoseKey
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AuthenticatorData

__all__ = [
    "HONEST",
    "MISSING",
    "SUPPORTED_ALGS",
    "TEST_AAGUID",
    "Credential",
    "DOMException",
    "InvalidStateError",
    "NotAllowedError",
    "SoftAuthenticator",
    "Tamper",
    "b64u",
    "b64u_decode",
]

TEST_AAGUID: Final[bytes] = b"keystead-softkey"
"""A made-up AAGUID (16 bytes) so tests can recognise devices this module created."""

SUPPORTED_ALGS: Final[tuple[int, ...]] = (-7, -8, -257)
"""COSE algorithms we can make keys for: ES256 (P-256), EdDSA (Ed25519), RS256 (RSA-2048)."""

# WebAuthn: an empty pubKeyCredParams means "ES256 and RS256".
_DEFAULT_PARAMS: Final[tuple[int, ...]] = (-7, -257)

_FLAG = AuthenticatorData.FLAG

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
CounterMode = Literal["increment", "zero"]
AttestationFormat = Literal["none", "packed"]
Attachment = Literal["platform", "cross-platform"]


class _Missing(enum.Enum):
    """Sentinel type: lets `user_handle=None` mean "omit the field" rather than "default"."""

    MISSING = enum.auto()


MISSING: Final = _Missing.MISSING


@dataclass(frozen=True)
class Tamper:
    """What to break in one response; every default is honest.

    Client data: `origin`, `client_type` (instead of the ceremony's own "webauthn.create" or
    "webauthn.get"), `challenge`, `cross_origin` (written as is), `top_origin` (adds
    "topOrigin"), `extra_client_data` (merged last). Authenticator data: `rp_id` is hashed
    instead of the real RP ID; `up`/`uv`/`be`/`bs` override one flag, `flags` the whole byte;
    `sign_count` is sent without advancing the stored counter. Envelope: `response_id` changes
    only "id", `raw_id` changes "id" and "rawId" together, `cred_type` the top-level "type".
    `corrupt_signature` flips a bit of the signature (at registration, of the packed
    attestation statement's, so it needs attestation="packed").

    Only `get` sends a user handle: `user_handle` replaces the stored one (`None` omits it).
    Only `create` chooses an algorithm and an attestation: `force_alg` registers even when
    the options do not offer ours; `statement` maps the real (fmt, attStmt) to the pair sent,
    e.g. an unknown format or a tampered statement. A ceremony refuses the other's fields.
    """

    origin: str | None = None
    client_type: str | None = None
    challenge: bytes | None = None
    cross_origin: Any = False
    top_origin: str | None = None
    extra_client_data: Mapping[str, Any] | None = None
    rp_id: str | None = None
    up: bool | None = None
    uv: bool | None = None
    be: bool | None = None
    bs: bool | None = None
    flags: int | None = None
    sign_count: int | None = None
    response_id: str | None = None
    raw_id: bytes | None = None
    cred_type: str = "public-key"
    corrupt_signature: bool = False
    user_handle: bytes | None | _Missing = MISSING
    force_alg: bool = False
    statement: Callable[[str, dict[str, Any]], tuple[Any, Any]] | None = None


HONEST: Final = Tamper()
"""The default: a response exactly as an honest browser and authenticator send it."""


class DOMException(Exception):
    """Base of the errors `navigator.credentials` rejects with; `name` is the DOMException name."""

    name = "DOMException"


class NotAllowedError(DOMException):
    """No usable credential or algorithm: what a browser raises when the ceremony cannot run."""

    name = "NotAllowedError"


class InvalidStateError(DOMException):
    """The authenticator already holds a credential listed in excludeCredentials."""

    name = "InvalidStateError"


def b64u(data: bytes) -> str:
    """Encode bytes as base64url without padding, as WebAuthn JSON does."""
    return websafe_encode(data)


def b64u_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return websafe_decode(text)


@dataclass
class Credential:
    """One credential held by a `SoftAuthenticator`.

    `user_handle` is the user.id from the creation options. Like real security keys, a
    non-resident (`resident=False`) credential does not return it on `get`.
    """

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    private_key: PrivateKey
    alg: int
    sign_count: int = 0
    resident: bool = True

    def cose_public_key(self) -> CoseKey:
        """The public key in COSE form, as it appears in the attested credential data."""
        return CoseKey.for_alg(self.alg).from_cryptography_key(self.private_key.public_key())

    def spki_public_key(self) -> bytes:
        """The public key as SubjectPublicKeyInfo DER, the browser's `getPublicKey()`."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        """Sign with the algorithm WebAuthn assigns to this key type."""
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER-encoded, as WebAuthn wants
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _generate_key(alg: int) -> PrivateKey:
    if alg == -7:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == -8:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == -257:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported COSE algorithm {alg}; supported: {SUPPORTED_ALGS}")


def _public_key_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Accept `{"publicKey": {...}}`, the inner dict, or fido2's options objects."""
    data = dict(options)
    if "publicKey" in data:
        data = dict(data["publicKey"])
    return data


def _as_bytes(value: str | bytes) -> bytes:
    """Options from JSON carry base64url strings; tolerate raw bytes too."""
    return bytes(value) if isinstance(value, bytes | bytearray) else b64u_decode(value)


def _descriptor_ids(descriptors: Any) -> list[bytes]:
    return [_as_bytes(d["id"]) for d in descriptors or ()]


def _flip_bit(signature: bytes) -> bytes:
    """Flip the lowest bit of the last byte: the encoding stays well-formed, the value is wrong."""
    return signature[:-1] + bytes([signature[-1] ^ 0x01])


class SoftAuthenticator:
    """One authenticator plus the browser in front of it.

    Configuration is per device (like a real key: one algorithm, one AAGUID, one counter
    policy); a `Tamper` given to `create`/`get` breaks a single response.
    """

    def __init__(
        self,
        *,
        origin: str = "http://localhost:5000",
        alg: int = -7,
        aaguid: bytes = TEST_AAGUID,
        counter: CounterMode = "increment",
        uv: bool = True,
        backup_eligible: bool = False,
        backed_up: bool = False,
        attestation: AttestationFormat = "none",
        cred_id_len: int = 32,
        resident: bool = True,
        attachment: Attachment = "platform",
        attestation_key: ec.EllipticCurvePrivateKey | None = None,
        attestation_certificates: Sequence[bytes] = (),
    ) -> None:
        """Configure the device.

        `counter="increment"` reports 1 at registration and one more on each use, per
        credential; `"zero"` always reports 0, as many passkey providers do. `origin` is the
        page the "browser" is on; its host is the RP ID when the options do not name one.

        `attestation="packed"` is self attestation (the new credential key signs), unless
        `attestation_key` (a P-256 key) and `attestation_certificates` (its certificate
        first, then any intermediates: the x5c chain, DER) are given: then it is full
        ("basic") attestation, signed with that key (ES256), as a security key with a
        vendor's batch certificate makes it.
        """
        if alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported COSE algorithm {alg}; supported: {SUPPORTED_ALGS}")
        if counter not in ("increment", "zero"):
            raise ValueError(f"counter must be 'increment' or 'zero', not {counter!r}")
        if attestation not in ("none", "packed"):
            raise ValueError(f"attestation must be 'none' or 'packed', not {attestation!r}")
        if attachment not in ("platform", "cross-platform"):
            raise ValueError("attachment must be 'platform' or 'cross-platform'")
        if len(aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        if (attestation_key is None) != (not attestation_certificates):
            raise ValueError("attestation_key and attestation_certificates go together")
        if attestation_key is not None and attestation != "packed":
            raise ValueError("an attestation certificate needs attestation='packed'")
        if not 1 <= cred_id_len <= 0xFFFF:
            raise ValueError("cred_id_len must fit the 2-byte length field")
        self.origin = origin
        self.alg = alg
        self.aaguid = aaguid
        self.counter: CounterMode = counter
        self.uv = uv
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.attestation: AttestationFormat = attestation
        self.cred_id_len = cred_id_len
        self.resident = resident
        self.attachment: Attachment = attachment
        self.attestation_key = attestation_key
        self.attestation_certificates = tuple(bytes(c) for c in attestation_certificates)
        # Insertion order is creation order: "most recently created" for usernameless get.
        self.credentials: dict[bytes, Credential] = {}

    # -- navigator.credentials.create() ---------------------------------------------------

    def create(
        self,
        options: Mapping[str, Any],
        *,
        credential_id: bytes | None = None,
        tamper: Tamper = HONEST,
    ) -> dict[str, Any]:
        """Make a new credential and return the RegistrationResponseJSON a browser would post.

        Raises `NotAllowedError` when the options do not offer our algorithm (unless
        `tamper.force_alg`), `InvalidStateError` when excludeCredentials names one of ours for
        this RP. `credential_id` sets the new id's exact bytes (default: `cred_id_len` random
        bytes); `tamper` breaks the response (see `Tamper`).
        """
        if tamper.user_handle is not MISSING:
            raise ValueError("Tamper.user_handle is for get(): a registration sends no handle")
        pk = _public_key_options(options)
        real_rp_id = (pk.get("rp") or {}).get("id") or self._origin_host()

        offered = [
            p["alg"]
            for p in pk.get("pubKeyCredParams") or ()
            if p.get("type") in (None, "public-key")
        ] or list(_DEFAULT_PARAMS)
        if self.alg not in offered and not tamper.force_alg:
            raise NotAllowedError(f"the options do not offer algorithm {self.alg}: {offered}")

        for excluded in _descriptor_ids(pk.get("excludeCredentials")):
            held = self.credentials.get(excluded)
            if held is not None and held.rp_id == real_rp_id:
                raise InvalidStateError("this authenticator already holds an excluded credential")

        if tamper.corrupt_signature and self.attestation == "none":
            raise ValueError(
                "corrupt_signature needs attestation='packed': 'none' has no signature"
            )

        new_id = credential_id
        if new_id is None:
            new_id = secrets.token_bytes(self.cred_id_len)
        if len(new_id) > 0xFFFF:
            raise ValueError("credential_id does not fit the 2-byte length field")
        credential = Credential(
            credential_id=new_id,
            rp_id=real_rp_id,
            user_handle=_as_bytes(pk["user"]["id"]),
            private_key=_generate_key(self.alg),
            alg=self.alg,
            resident=self.resident,
        )

        cose_key = cbor.encode(dict(credential.cose_public_key()))
        attested = self.aaguid + struct.pack(">H", len(new_id)) + new_id + cose_key
        auth_data = (
            self._authenticator_data(
                tamper.rp_id or real_rp_id,
                self._flags(tamper, attested=True),
                self._next_count(credential, tamper.sign_count),
            )
            + attested
        )
        client_data = self._client_data(pk, tamper, "webauthn.create")

        fmt = "none"
        att_stmt: dict[str, Any] = {}
        if self.attestation == "packed":
            signed = auth_data + hashlib.sha256(client_data).digest()
            if self.attestation_key is not None:
                # Full attestation: the batch key signs, its certificate chain goes along.
                signature = self.attestation_key.sign(signed, ec.ECDSA(hashes.SHA256()))
                if tamper.corrupt_signature:
                    signature = _flip_bit(signature)
                fmt = "packed"
                att_stmt = {
                    "alg": -7,
                    "sig": signature,
                    "x5c": list(self.attestation_certificates),
                }
            else:
                # Self attestation: the new credential key signs its own registration.
                signature = credential.sign(signed)
                if tamper.corrupt_signature:
                    signature = _flip_bit(signature)
                fmt, att_stmt = "packed", {"alg": self.alg, "sig": signature}
        if tamper.statement is not None:
            fmt, att_stmt = tamper.statement(fmt, att_stmt)
        attestation_object = cbor.encode({"fmt": fmt, "attStmt": att_stmt, "authData": auth_data})

        if credential.resident:
            # WebAuthn §6.3.2: a new discoverable credential replaces one for the same RP + user.
            same_user = (real_rp_id, credential.user_handle)
            for old in list(self.credentials.values()):
                if old.resident and (old.rp_id, old.user_handle) == same_user:
                    del self.credentials[old.credential_id]
        self.credentials.pop(new_id, None)  # re-insert so it counts as the newest
        self.credentials[new_id] = credential

        extension_results: dict[str, Any] = {}
        if (pk.get("extensions") or {}).get("credProps"):
            extension_results["credProps"] = {"rk": credential.resident}
        response = {
            "clientDataJSON": b64u(client_data),
            "attestationObject": b64u(attestation_object),
            "transports": ["internal"] if self.attachment == "platform" else ["usb"],
            "publicKeyAlgorithm": credential.alg,
            "publicKey": b64u(credential.spki_public_key()),
            "authenticatorData": b64u(auth_data),
        }
        return self._credential_json(new_id, response, extension_results, tamper)

    # -- navigator.credentials.get() ------------------------------------------------------

    def get(
        self,
        options: Mapping[str, Any],
        *,
        credential_id: bytes | None = None,
        tamper: Tamper = HONEST,
    ) -> dict[str, Any]:
        """Sign an assertion and return the AuthenticationResponseJSON a browser would post.

        The credential is `credential_id` if given (even if allowCredentials does not list it,
        so tests can present the wrong one); else the first of allowCredentials we hold for
        the RP; else, with no allowCredentials, our newest resident credential for the RP.
        Raises `NotAllowedError` when there is none. `tamper` breaks the response (see
        `Tamper`).
        """
        if tamper.force_alg or tamper.statement is not None:
            raise ValueError("Tamper.force_alg and .statement are for create(): get() has none")
        pk = _public_key_options(options)
        real_rp_id = pk.get("rpId") or self._origin_host()
        credential = self._select(real_rp_id, pk.get("allowCredentials"), credential_id)

        auth_data = self._authenticator_data(
            tamper.rp_id or real_rp_id,
            self._flags(tamper, attested=False),
            self._next_count(credential, tamper.sign_count),
        )
        client_data = self._client_data(pk, tamper, "webauthn.get")
        signature = credential.sign(auth_data + hashlib.sha256(client_data).digest())
        if tamper.corrupt_signature:
            signature = _flip_bit(signature)

        response: dict[str, Any] = {
            "clientDataJSON": b64u(client_data),
            "authenticatorData": b64u(auth_data),
            "signature": b64u(signature),
        }
        if tamper.user_handle is MISSING:
            # Like real keys, a non-resident credential does not store (or return) the user.
            handle = credential.user_handle if credential.resident else None
        else:
            handle = tamper.user_handle
        if handle is not None:
            response["userHandle"] = b64u(handle)
        return self._credential_json(credential.credential_id, response, {}, tamper)

    # -- device management ----------------------------------------------------------------

    def clone(self) -> SoftAuthenticator:
        """A second device with the same keys and counters as of now, to simulate a cloned key.

        Private keys are immutable, so sharing the key objects is the same as copying them;
        the credential records (counters) are copied so the two devices then diverge.
        """
        twin = copy.copy(self)
        twin.credentials = {cid: dataclasses.replace(c) for cid, c in self.credentials.items()}
        return twin

    def remove(self, credential_id: bytes) -> None:
        """Forget a credential, as when the user deletes a passkey from the device."""
        del self.credentials[credential_id]

    # -- building blocks ------------------------------------------------------------------

    def _origin_host(self) -> str:
        """The browser's default RP ID: the effective domain of the page's origin."""
        host = urlsplit(self.origin).hostname
        if not host:
            raise ValueError(f"origin {self.origin!r} has no host")
        return host

    def _select(self, rp_id: str, allow: Any, credential_id: bytes | None) -> Credential:
        if credential_id is not None:
            found = self.credentials.get(credential_id)
            if found is None:
                raise NotAllowedError("this authenticator does not hold that credential")
            return found
        allowed = _descriptor_ids(allow)
        if allowed:
            for cid in allowed:
                held = self.credentials.get(cid)
                if held is not None and held.rp_id == rp_id:
                    return held
            raise NotAllowedError("none of allowCredentials is on this authenticator")
        for held in reversed(self.credentials.values()):
            if held.resident and held.rp_id == rp_id:
                return held
        raise NotAllowedError(f"no discoverable credential for {rp_id!r}")

    def _flags(self, tamper: Tamper, *, attested: bool) -> int:
        if tamper.flags is not None:
            return tamper.flags
        value = _FLAG.AT if attested else 0
        for override, default, bit in (
            (tamper.up, True, _FLAG.UP),
            (tamper.uv, self.uv, _FLAG.UV),
            (tamper.be, self.backup_eligible, _FLAG.BE),
            (tamper.bs, self.backed_up, _FLAG.BS),
        ):
            enabled = default if override is None else override
            if enabled:
                value |= bit
        return int(value)

    def _next_count(self, credential: Credential, override: int | None) -> int:
        """The counter to report; an explicit override is sent but never stored."""
        if override is not None:
            return override
        if self.counter == "zero":
            return 0
        credential.sign_count += 1
        return credential.sign_count

    @staticmethod
    def _authenticator_data(rp_id: str, flags: int, count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, count)

    def _client_data(self, pk: Mapping[str, Any], tamper: Tamper, client_type: str) -> bytes:
        """CollectedClientData in the browser's key order, serialised compactly."""
        challenge = tamper.challenge
        data: dict[str, Any] = {
            "type": tamper.client_type if tamper.client_type is not None else client_type,
            "challenge": b64u(challenge if challenge is not None else _as_bytes(pk["challenge"])),
            "origin": tamper.origin if tamper.origin is not None else self.origin,
            "crossOrigin": tamper.cross_origin,
        }
        if tamper.top_origin is not None:
            data["topOrigin"] = tamper.top_origin
        data.update(tamper.extra_client_data or {})
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    def _credential_json(
        self,
        credential_id: bytes,
        response: dict[str, Any],
        extension_results: dict[str, Any],
        tamper: Tamper,
    ) -> dict[str, Any]:
        """The PublicKeyCredential.toJSON() envelope around a response."""
        raw = b64u(tamper.raw_id if tamper.raw_id is not None else credential_id)
        return {
            "id": tamper.response_id if tamper.response_id is not None else raw,
            "rawId": raw,
            "type": tamper.cred_type,
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": extension_results,
            "response": response,
        }
