"""Ceremony checks: python-fido2's ``Fido2Server`` plus the relying-party checks of WebAuthn
Level 3 §7.1 and §7.2 that it leaves to us. Plain Python: no Flask, no database.

fido2 checks the clientData type, the challenge, the origin (through our exact allow-list),
the rpIdHash, UP, UV when required and the signature. We add: the top-level credential type,
crossOrigin/topOrigin (refused, except for the one caller that runs a sign-in in a website's
frame and names the pages it may run in), rawId vs the attested credential id, credential-id
length, the algorithm against what we offered, BE/BS consistency, userHandle ownership and
the sign counter. And, once the caller has looked up the authenticator's model in the loaded
FIDO metadata (``check_authenticator``): its status, and (when required) its attestation's
chain to the model's roots and the allow-list of models.

Past 400 lines on purpose: every relying-party check of §7.1 and §7.2 in the spec's order, so
a reviewer reads them side by side with it.
"""

from __future__ import annotations

import binascii
import hmac
import re
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from fido2 import cbor
from fido2.attestation.base import (
    Attestation,
    AttestationResult,
    InvalidAttestation,
    verify_x509_chain,
)
from fido2.cose import CoseKey, UnsupportedKey
from fido2.server import Fido2Server
from fido2.utils import websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestedCredentialData,
    AuthenticationResponse,
    AuthenticatorData,
    AuthenticatorTransport,
    CollectedClientData,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from core.errors import InvalidInput
from webauthn.errors import (
    AttestationNotTrusted,
    AuthenticationFailed,
    AuthenticatorCompromised,
    AuthenticatorNotAllowed,
    RegistrationFailed,
)

MAX_CREDENTIAL_ID_LENGTH = 1023
# ES256, EdDSA, RS256: what passkey providers and security keys use; nothing weaker offered.
DEFAULT_ALGORITHMS = (-7, -8, -257)
PUBLIC_KEY = "public-key"
# Attestation statement formats we accept, each checked by python-fido2's own verifier for it
# (signature, certificate shape, nonce) even though trust in the attester is not evaluated:
# a statement that does not verify, or a format outside this list, refuses the registration.
# "android-key" is left out: python-fido2 has no verifier for it (browsers send "none" for
# it when, as here, no attestation is asked for).
ATTESTATION_FORMATS = frozenset({"none", "packed", "fido-u2f", "tpm", "apple", "android-safetynet"})
# FIDO Metadata Service statuses that refuse a model at registration, attested or only claimed
# (refusing on a claim is safe: a liar only refuses itself).
COMPROMISED_STATUSES = frozenset(
    {
        "USER_VERIFICATION_BYPASS",
        "ATTESTATION_KEY_COMPROMISE",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
        "REVOKED",
    }
)


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: frozenset[str]
    user_verification: str = "required"
    resident_key: str = "required"
    timeout_ms: int = 300_000
    algorithms: tuple[int, ...] = DEFAULT_ALGORITHMS
    # "direct" when the policy requires verified attestation (``check_authenticator``).
    attestation: str = "none"

    @cached_property
    def server(self) -> Fido2Server:
        # fido2 verifies no attestation trust itself (its default verifier ignores it): the
        # statement is checked by ``_check_attestation``, its trust by ``check_authenticator``.
        server = Fido2Server(
            PublicKeyCredentialRpEntity(id=self.id, name=self.name),
            attestation=AttestationConveyancePreference(self.attestation),
            verify_origin=self.origin_allowed,
        )
        server.allowed_algorithms = [
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
            for alg in self.algorithms
        ]
        # Typed None by python-fido2, read as the milliseconds browsers wait.
        server.timeout = self.timeout_ms  # type: ignore[assignment]
        return server

    def origin_allowed(self, origin: str) -> bool:
        # fido2's default accepts any https origin under the RP ID; we accept exactly the
        # configured ones.
        encoded = origin.encode("utf-8")
        return any(hmac.compare_digest(encoded, o.encode("utf-8")) for o in self.origins)

    def fido2_state(self, challenge: bytes) -> dict[str, Any]:
        return {
            "challenge": websafe_encode(challenge),
            "user_verification": UserVerificationRequirement(self.user_verification),
        }


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes  # COSE_Key, CBOR-encoded
    alg: int
    sign_count: int
    aaguid: bytes
    backup_eligible: bool
    backed_up: bool
    user_verified: bool
    transports: tuple[str, ...]
    attestation_format: str
    # The attestation certificates (DER, leaf first) when the statement carried an x5c chain
    # that signed it; empty for self and "none" attestation. Checked, not trusted, until
    # ``check_authenticator`` chains it to the model's roots.
    trust_path: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class AuthenticatorEntry:
    """What the loaded FIDO metadata says of one model (``webauthn.metadata`` looks it up)."""

    aaguid: bytes
    name: str | None
    status: str | None  # the latest status report's
    attestation_roots: tuple[bytes, ...]  # DER


@dataclass(frozen=True)
class AuthenticatorRules:
    """The policies on authenticator models (``ATTESTATION_REQUIRED``,
    ``ALLOWED_AUTHENTICATORS``: AAGUIDs as bytes; empty allows any model)."""

    attestation_required: bool = False
    allowed: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class StoredCredential:
    credential_id: bytes
    public_key: bytes
    aaguid: bytes
    sign_count: int
    backup_eligible: bool
    user_handle: bytes


@dataclass(frozen=True)
class Assertion:
    sign_count: int
    backed_up: bool
    user_verified: bool
    # The page a framed ceremony ran in (clientData ``topOrigin``), checked against the
    # caller's ``top_origins``; None for a first-party ceremony.
    top_origin: str | None = None


class TopOriginRefused(AuthenticationFailed):
    """A framed ceremony whose page is not one the caller accepts, or whose browser did not
    say which page it ran in (``crossOrigin`` without ``topOrigin``)."""


class CounterRegression(AuthenticationFailed):
    """The authenticator's signature counter did not move forward: WebAuthn §7.2 step 22 says
    this signals a possibly cloned authenticator."""


# ---- options -------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: bytes,
    username: str,
    display_name: str,
    exclude: Sequence[bytes],
) -> dict[str, Any]:
    options, _state = rp.server.register_begin(
        PublicKeyCredentialUserEntity(id=user_handle, name=username, display_name=display_name),
        credentials=[_descriptor(c) for c in exclude],
        resident_key_requirement=ResidentKeyRequirement(rp.resident_key),
        user_verification=UserVerificationRequirement(rp.user_verification),
        challenge=challenge,
    )
    return dict(options)


def authentication_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    allow: Sequence[tuple[bytes, Sequence[str]]],
    user_verification: str | None = None,
) -> dict[str, Any]:
    options, _state = rp.server.authenticate_begin(
        credentials=[_descriptor(cid, transports) for cid, transports in allow],
        user_verification=UserVerificationRequirement(user_verification or rp.user_verification),
        challenge=challenge,
    )
    return dict(options)


def _descriptor(credential_id: bytes, transports: Sequence[str] | None = None) -> Any:
    return PublicKeyCredentialDescriptor(
        type=PublicKeyCredentialType.PUBLIC_KEY,
        id=credential_id,
        # Stored as the browser reported them; unknown ones pass through (L3 §5.8.4).
        transports=cast(list[AuthenticatorTransport], list(transports)) if transports else None,
    )


# ---- parsing (malformed input → InvalidInput, before anything is consumed) -----------------

_PARSE_ERRORS = (
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    struct.error,
    binascii.Error,
    UnicodeDecodeError,
    # json.loads and fido2's CBOR decoder recurse: deeply nested clientDataJSON or CBOR.
    RecursionError,
)

# Strict base64url (padding tolerated). fido2 decodes leniently: it drops characters outside
# the alphabet ("!!" becomes b"") and turns a number into that many zero bytes (bytes(n): a
# 1e9 in rawId allocates a gigabyte), so the JSON shape is checked before fido2 sees it.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def parse_registration(data: Any) -> RegistrationResponse:
    _require_shape(data, ("clientDataJSON", "attestationObject"))
    try:
        response = RegistrationResponse.from_dict(data)
        attestation = response.response.attestation_object
        if _cbor_end(attestation, 0) != len(attestation):
            raise ValueError("attestationObject: trailing bytes")
        _check_authenticator_data_encoding(attestation.auth_data)
        if attestation.auth_data.credential_data is None:
            raise ValueError("no attested credential data")
        _check_client_data(response.response.client_data)
    except _PARSE_ERRORS as exc:
        raise InvalidInput("Malformed registration response.", detail=str(exc)) from exc
    return response


def parse_authentication(data: Any) -> AuthenticationResponse:
    _require_shape(data, ("clientDataJSON", "authenticatorData", "signature"), ("userHandle",))
    try:
        response = AuthenticationResponse.from_dict(data)
        _check_authenticator_data_encoding(response.response.authenticator_data)
        _check_client_data(response.response.client_data)
    except _PARSE_ERRORS as exc:
        raise InvalidInput("Malformed authentication response.", detail=str(exc)) from exc
    return response


def _require_shape(data: Any, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    """The JSON types of RegistrationResponseJSON / AuthenticationResponseJSON: "id" and
    "rawId" base64url, "type" a string (its value is a check, not a parse error), the binary
    members of "response" base64url (optional ones may be null or absent)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("Expected a JSON object.")
    if not isinstance(data.get("type"), str):
        raise InvalidInput("Malformed response: 'type' must be a string.")
    response = data.get("response")
    if not isinstance(response, Mapping):
        raise InvalidInput("Malformed response: 'response' must be an object.")
    members = [(data, "id"), (data, "rawId")] + [(response, key) for key in required]
    members += [(response, key) for key in optional if response.get(key) is not None]
    for container, key in members:
        value = container.get(key)
        if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
            raise InvalidInput(f"Malformed response: '{key}' must be base64url.")


def _check_client_data(client_data: CollectedClientData) -> None:
    for key in ("type", "challenge", "origin"):
        if not isinstance(client_data._data.get(key), str):
            raise ValueError(f"clientDataJSON: '{key}' must be a string")
    if not _BASE64URL.fullmatch(client_data._data["challenge"]):
        raise ValueError("clientDataJSON: challenge is not base64url")


_MAX_CBOR_DEPTH = 16


def _cbor_end(data: bytes, pos: int, depth: int = 0) -> int:
    """Where the CBOR item at ``pos`` ends, walking it strictly. fido2's decoder silently
    shortens a byte or text string cut off by the end of the data, so a truncated attestation
    object or COSE key would parse and only fail later, as a failed check instead of
    malformed input. Only what WebAuthn uses: no tags, floats or indefinite lengths."""
    if depth > _MAX_CBOR_DEPTH:
        raise ValueError("CBOR nested too deeply")
    if pos >= len(data):
        raise ValueError("truncated CBOR")
    major, info = data[pos] >> 5, data[pos] & 0x1F
    pos += 1
    if major == 7:
        if info >= 24:
            raise ValueError("unsupported CBOR simple value")
        return pos
    if info < 24:
        value = info
    elif info <= 27:
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise ValueError("truncated CBOR")
        value, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
    else:
        raise ValueError("unsupported CBOR length")
    if major in (0, 1):
        return pos
    if major in (2, 3):
        if pos + value > len(data):
            raise ValueError("truncated CBOR")
        return pos + value
    if major in (4, 5):
        for _ in range(value * (2 if major == 5 else 1)):
            pos = _cbor_end(data, pos, depth + 1)
        return pos
    raise ValueError("unsupported CBOR tag")


def _check_authenticator_data_encoding(auth_data: bytes) -> None:
    """rpIdHash, flags, counter, then the attested credential (its COSE key strictly walked)
    and extensions when their flags say so, and nothing after."""
    if len(auth_data) < 37:
        raise ValueError("authenticator data too short")
    flags, pos = auth_data[32], 37
    if flags & AuthenticatorData.FLAG.AT:
        if pos + 18 > len(auth_data):
            raise ValueError("truncated attested credential data")
        id_length = int.from_bytes(auth_data[pos + 16 : pos + 18], "big")
        pos = _cbor_end(auth_data, pos + 18 + id_length)
    if flags & AuthenticatorData.FLAG.ED:
        pos = _cbor_end(auth_data, pos)
    if pos != len(auth_data):
        raise ValueError("authenticator data: wrong length")


# ---- checks shared by both ceremonies ------------------------------------------------------


def _check_common(
    rp: RelyingParty,
    raw: Mapping[str, Any],
    client_data: CollectedClientData,
    fail: type,
    top_origins: Collection[str] | None = None,
) -> str | None:
    """The checks both ceremonies share; returns the framing page's origin (``topOrigin``)
    when ``top_origins`` asks for a framed ceremony."""
    if raw.get("type") != PUBLIC_KEY:
        raise fail(detail="credential type is not public-key")
    if not isinstance(client_data.origin, str) or not rp.origin_allowed(client_data.origin):
        raise fail(detail=f"origin not allowed: {client_data.origin!r}")
    if top_origins is not None:
        return _check_framed(client_data, top_origins)
    # First-party ceremonies only: a response made inside a cross-origin frame must not count.
    if client_data._data.get("crossOrigin", False) is not False:
        raise fail(detail="crossOrigin is set")
    if "topOrigin" in client_data._data:
        raise fail(detail="topOrigin is present")
    return None


def _check_framed(client_data: CollectedClientData, top_origins: Collection[str]) -> str:
    """§7.2 step 13 for the one caller that runs its ceremony in a cross-origin frame (the
    embedded sign-in): ``crossOrigin`` is exactly true and ``topOrigin`` is exactly one of
    ``top_origins``. A first-party response is refused too: the frame is always cross-origin,
    so one made outside it was not made where the caller expects."""
    data = client_data._data
    if data.get("crossOrigin", False) is not True:
        raise AuthenticationFailed(detail="a first-party response where a framed one is expected")
    top_origin = data.get("topOrigin")
    if top_origin is None:
        raise TopOriginRefused(detail="crossOrigin without topOrigin")
    encoded = top_origin.encode("utf-8") if isinstance(top_origin, str) else None
    if encoded is None or not any(
        hmac.compare_digest(encoded, allowed.encode("utf-8")) for allowed in top_origins
    ):
        raise TopOriginRefused(detail=f"topOrigin not accepted: {top_origin!r}")
    return str(top_origin)


def _check_backup_flags(auth_data: AuthenticatorData, fail: type) -> None:
    # §6.1: BS may only be set when BE is.
    if auth_data.is_backed_up() and not auth_data.is_backup_eligible():
        raise fail(detail="BS set without BE")


# ---- registration (§7.1) -------------------------------------------------------------------


def verify_registration(
    rp: RelyingParty,
    response: RegistrationResponse,
    raw: Mapping[str, Any],
    *,
    challenge: bytes,
) -> NewCredential:
    client_data = response.response.client_data
    _check_common(rp, raw, client_data, RegistrationFailed)
    try:
        auth_data = rp.server.register_complete(rp.fido2_state(challenge), response)
    except ValueError as exc:
        raise RegistrationFailed(detail=str(exc)) from exc
    credential = auth_data.credential_data
    if credential is None:  # parse_registration already refused this
        raise RegistrationFailed(detail="no attested credential")
    if not hmac.compare_digest(credential.credential_id, response.raw_id):
        raise RegistrationFailed(detail="rawId differs from the attested credential id")
    if not 1 <= len(credential.credential_id) <= MAX_CREDENTIAL_ID_LENGTH:
        raise RegistrationFailed(detail="credential id length out of range")
    alg = credential.public_key.get(3)
    if alg not in rp.algorithms or isinstance(credential.public_key, UnsupportedKey):
        raise RegistrationFailed(detail=f"algorithm {alg!r} was not offered")
    if not _key_usable(credential.public_key):
        raise RegistrationFailed(detail="public key is malformed")
    _check_backup_flags(auth_data, RegistrationFailed)
    attestation_format, attestation = _check_attestation(response, auth_data)
    transports = raw.get("response", {}).get("transports") or []
    if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
        transports = []
    return NewCredential(
        credential_id=bytes(credential.credential_id),
        public_key=cbor.encode(dict(credential.public_key)),
        alg=int(alg),
        sign_count=auth_data.counter,
        aaguid=bytes(credential.aaguid),
        backup_eligible=auth_data.is_backup_eligible(),
        backed_up=auth_data.is_backed_up(),
        user_verified=auth_data.is_user_verified(),
        transports=tuple(t[:32] for t in transports[:8]),
        attestation_format=attestation_format,
        trust_path=tuple(bytes(c) for c in attestation.trust_path or ()),
    )


def _check_attestation(
    response: RegistrationResponse, auth_data: AuthenticatorData
) -> tuple[str, AttestationResult]:
    """§7.1 steps 21–22: the format is one we know and its statement verifies. fido2 skips
    this when no attestation is asked for; we do not ("none" with a non-empty statement, an
    unknown or misspelt format, a packed statement with a bad signature all fail)."""
    attestation = response.response.attestation_object
    fmt = attestation.fmt
    if not isinstance(fmt, str) or fmt not in ATTESTATION_FORMATS:
        raise RegistrationFailed(detail=f"attestation format {fmt!r} not accepted")
    statement = attestation.att_stmt
    verifier = Attestation.for_type(fmt)()
    try:
        result = verifier.verify(statement, auth_data, response.response.client_data.hash)
    except (InvalidAttestation, InvalidSignature) as exc:
        raise RegistrationFailed(detail=f"{fmt} attestation does not verify: {exc}") from exc
    except _PARSE_ERRORS as exc:
        raise RegistrationFailed(detail=f"{fmt} attestation is malformed: {exc}") from exc
    return fmt, result


def check_authenticator(
    credential: NewCredential,
    entry: AuthenticatorEntry | None,
    rules: AuthenticatorRules,
    *,
    now: datetime,
) -> bool:
    """The authenticator's model against the loaded FIDO metadata (``entry``: the one listed
    for the credential's AAGUID, if any) and the policies; True when its attestation was
    verified to the model's roots. Refused, in order: a model whose latest status is a
    compromise (``AuthenticatorCompromised``, even on a mere claim); with
    ``attestation_required``, an attestation that is self or none, or does not chain to the
    roots listed for the AAGUID (``AttestationNotTrusted``), then a verified model not on a
    non-empty allow-list (``AuthenticatorNotAllowed``). Without verified attestation the
    AAGUID is only a claim, so the allow-list is never applied to it."""
    if entry is not None and entry.status in COMPROMISED_STATUSES:
        raise AuthenticatorCompromised(detail=f"model status {entry.status}")
    if not rules.attestation_required:
        return False
    if not credential.trust_path:
        raise AttestationNotTrusted(
            detail=f"{credential.attestation_format} attestation has no certificate chain"
        )
    if entry is None or not entry.attestation_roots:
        raise AttestationNotTrusted(detail="no attestation roots for this AAGUID")
    problem = _chain_problem(credential.trust_path, entry.attestation_roots, now)
    if problem:
        raise AttestationNotTrusted(detail=problem)
    if rules.allowed and credential.aaguid not in rules.allowed:
        raise AuthenticatorNotAllowed(detail="verified model not on the allow-list")
    return True


def _chain_problem(
    trust_path: Sequence[bytes], roots: Sequence[bytes], now: datetime
) -> str | None:
    """Why ``trust_path`` (DER, leaf first) does not chain to one of ``roots``, or None. Every
    certificate must be valid at ``now``; a chain may end with the root itself."""
    try:
        chain = [x509.load_der_x509_certificate(der) for der in trust_path]
        anchors = [(der, x509.load_der_x509_certificate(der)) for der in roots]
    except ValueError as exc:
        return f"unreadable certificate: {exc}"
    last = chain[-1]
    for der, root in anchors:
        if der == trust_path[-1]:
            path = list(trust_path)
        elif root.subject == last.issuer:
            path = [*trust_path, der]
        else:
            continue
        certificates = chain if len(path) == len(chain) else [*chain, root]
        if any(not c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in certificates):
            return "a certificate of the attestation chain is not valid now"
        try:
            verify_x509_chain(path)
        except (InvalidAttestation, InvalidSignature, ValueError):
            continue
        return None
    return "the attestation chain does not lead to a root listed for this AAGUID"


# ---- authentication (§7.2) -----------------------------------------------------------------


def verify_authentication(
    rp: RelyingParty,
    response: AuthenticationResponse,
    raw: Mapping[str, Any],
    *,
    challenge: bytes,
    stored: StoredCredential,
    user_handle_required: bool,
    top_origins: Collection[str] | None = None,
) -> Assertion:
    """Checks an assertion made with ``stored``; raises ``CounterRegression`` (after every other
    check passed, so only a genuine signature can flag a device) or ``AuthenticationFailed``.

    ``top_origins``: None (every first-party caller) refuses any response made in a frame;
    given, only a response made in a cross-origin frame whose top-level page is one of them
    passes (``TopOriginRefused`` otherwise), and its ``topOrigin`` is returned."""
    client_data = response.response.client_data
    auth_data = response.response.authenticator_data
    top_origin = _check_common(rp, raw, client_data, AuthenticationFailed, top_origins)
    user_handle = response.response.user_handle
    if user_handle is None:
        if user_handle_required:
            raise AuthenticationFailed(detail="userHandle missing in a usernameless sign-in")
    elif not hmac.compare_digest(user_handle, stored.user_handle):
        raise AuthenticationFailed(detail="userHandle does not belong to the credential's owner")
    attested = AttestedCredentialData.create(
        stored.aaguid,
        stored.credential_id,
        CoseKey.parse(cast(Mapping[int, Any], cbor.decode(stored.public_key))),
    )
    try:
        rp.server.authenticate_complete(rp.fido2_state(challenge), [attested], response)
    except ValueError as exc:
        raise AuthenticationFailed(detail=str(exc)) from exc
    _check_backup_flags(auth_data, AuthenticationFailed)
    if auth_data.is_backup_eligible() != stored.backup_eligible:
        raise AuthenticationFailed(detail="BE differs from the registered value")
    check_sign_count(stored.sign_count, auth_data.counter)
    return Assertion(
        sign_count=auth_data.counter,
        backed_up=auth_data.is_backed_up(),
        user_verified=auth_data.is_user_verified(),
        top_origin=top_origin,
    )


def _key_usable(key: CoseKey) -> bool:
    """With attestation "none" no signature is checked at registration, so a malformed key
    would only show at sign-in. A key that can judge a signature (and rejects a dummy one) is
    well-formed; one that raises anything else is not."""
    try:
        key.verify(b"keystead key probe", b"\x30\x06\x02\x01\x01\x02\x01\x01" + b"\x00" * 56)
    except InvalidSignature:
        return True
    except Exception:  # noqa: BLE001 - any other failure means the key cannot be loaded
        return False
    return False


def check_sign_count(stored: int, received: int) -> None:
    """§7.2 step 22: if either counter is non-zero, the new one must be greater. Authenticators
    that always send 0 (many passkey providers) pass."""
    if (stored != 0 or received != 0) and received <= stored:
        raise CounterRegression(detail=f"sign counter {received} not above stored {stored}")
