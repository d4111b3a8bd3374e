"""Unit tests of the pure ceremony checks in ``webauthn/ceremony.py``: no app, no database.

Responses come from the software authenticator against a relying party at
http://localhost:5000; each test breaks one thing and expects the matching typed error.

Past 400 lines on purpose: one test per check of the ceremony module, in its order.
"""

from __future__ import annotations

import copy
import json
import secrets
import struct
from typing import Any

import pytest
from fido2 import cbor

from core.errors import InvalidInput
from tools.softauthn import HONEST, SoftAuthenticator, Tamper, b64u, b64u_decode
from webauthn.ceremony import (
    Assertion,
    CounterRegression,
    NewCredential,
    RelyingParty,
    StoredCredential,
    authentication_options,
    check_sign_count,
    parse_authentication,
    parse_registration,
    registration_options,
    verify_authentication,
    verify_registration,
)
from webauthn.errors import AuthenticationFailed, RegistrationFailed

ORIGIN = "http://localhost:5000"
USER_HANDLE = b"u" * 32


@pytest.fixture
def rp() -> RelyingParty:
    return RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN}))


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def register(
    rp: RelyingParty, authenticator: SoftAuthenticator, tamper: Tamper = HONEST
) -> NewCredential:
    challenge = secrets.token_bytes(32)
    options = registration_options(
        rp,
        challenge=challenge,
        user_handle=USER_HANDLE,
        username="alice",
        display_name="Alice",
        exclude=[],
    )
    raw = authenticator.create(options, tamper=tamper)
    return verify_registration(rp, parse_registration(raw), raw, challenge=challenge)


def stored(credential: NewCredential, user_handle: bytes = USER_HANDLE) -> StoredCredential:
    return StoredCredential(
        credential_id=credential.credential_id,
        public_key=credential.public_key,
        aaguid=credential.aaguid,
        sign_count=credential.sign_count,
        backup_eligible=credential.backup_eligible,
        user_handle=user_handle,
    )


def authenticate(
    rp: RelyingParty,
    authenticator: SoftAuthenticator,
    credential: StoredCredential,
    tamper: Tamper = HONEST,
    *,
    user_handle_required: bool = True,
) -> Assertion:
    challenge = secrets.token_bytes(32)
    options = authentication_options(rp, challenge=challenge, allow=[])
    raw = authenticator.get(options, tamper=tamper)
    return verify_authentication(
        rp,
        parse_authentication(raw),
        raw,
        challenge=challenge,
        stored=credential,
        user_handle_required=user_handle_required,
    )


def with_cose_key(raw: dict[str, Any], changes: dict[int, Any]) -> dict[str, Any]:
    """The registration response with some labels of its COSE public key replaced; with
    attestation "none" nothing signs the key, so the forgery is well-formed."""
    body = copy.deepcopy(raw)
    attestation = cbor.decode(b64u_decode(body["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    (id_length,) = struct.unpack_from(">H", auth_data, 53)
    key_start = 55 + id_length
    key = dict(cbor.decode(auth_data[key_start:]))
    key.update(changes)
    attestation["authData"] = auth_data[:key_start] + cbor.encode(key)
    body["response"]["attestationObject"] = b64u(cbor.encode(attestation))
    return body


# ---- options -------------------------------------------------------------------------------


def test_registration_options_ask_for_what_we_check(rp):
    options = registration_options(
        rp,
        challenge=b"c" * 32,
        user_handle=USER_HANDLE,
        username="alice",
        display_name="Alice",
        exclude=[b"old-credential"],
    )
    pk = options["publicKey"]
    assert b64u_decode(pk["challenge"]) == b"c" * 32
    assert pk["rp"] == {"id": "localhost", "name": "t"}
    assert b64u_decode(pk["user"]["id"]) == USER_HANDLE
    assert [p["alg"] for p in pk["pubKeyCredParams"]] == [-7, -8, -257]
    assert [b64u_decode(d["id"]) for d in pk["excludeCredentials"]] == [b"old-credential"]
    assert pk["authenticatorSelection"]["residentKey"] == "required"
    assert pk["authenticatorSelection"]["userVerification"] == "required"
    assert pk["timeout"] == 300_000


def test_authentication_options_list_allowed_credentials(rp):
    options = authentication_options(rp, challenge=b"c" * 32, allow=[(b"cred", ["usb"])])
    pk = options["publicKey"]
    assert pk["rpId"] == "localhost"
    assert pk["userVerification"] == "required"
    assert pk["allowCredentials"] == [
        {"type": "public-key", "id": b64u(b"cred"), "transports": ["usb"]}
    ]


@pytest.mark.parametrize(
    "origin, allowed",
    [
        (ORIGIN, True),
        ("https://localhost:5000", False),
        ("http://localhost:5001", False),
        ("https://evil.localhost:5000", False),
        ("http://localhost:5000/", False),
        ("HTTP://LOCALHOST:5000", False),
        ("", False),
    ],
)
def test_origin_must_match_exactly(rp, origin, allowed):
    assert rp.origin_allowed(origin) is allowed


# ---- registration --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [-7, -8, -257])
def test_registration_accepts_each_offered_algorithm(rp, alg):
    credential = register(rp, SoftAuthenticator(origin=ORIGIN, alg=alg))
    assert credential.alg == alg
    assert credential.sign_count == 1
    assert credential.user_verified
    assert credential.transports == ("internal",)


def test_registration_accepts_packed_self_attestation(rp):
    assert register(rp, SoftAuthenticator(origin=ORIGIN, attestation="packed")).alg == -7


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(Tamper(origin="https://evil.example"), id="other-origin"),
        pytest.param(Tamper(origin="https://evil.localhost:5000"), id="https-subdomain"),
        pytest.param(Tamper(origin="http://localhost:5001"), id="other-port"),
        pytest.param(Tamper(origin="https://localhost:5000"), id="other-scheme"),
        pytest.param(Tamper(cred_type="password"), id="type-not-public-key"),
        pytest.param(Tamper(cross_origin=True), id="cross-origin"),
        pytest.param(Tamper(cross_origin="true"), id="cross-origin-string"),
        pytest.param(Tamper(top_origin=ORIGIN), id="top-origin"),
        pytest.param(Tamper(client_type="webauthn.get"), id="client-data-type-get"),
        pytest.param(Tamper(challenge=b"x" * 32), id="other-challenge"),
        pytest.param(Tamper(rp_id="evil.example"), id="rp-id-hash"),
        pytest.param(Tamper(up=False), id="no-user-presence"),
        pytest.param(Tamper(uv=False), id="no-user-verification"),
        pytest.param(Tamper(be=False, bs=True), id="bs-without-be"),
        pytest.param(Tamper(raw_id=b"r" * 32), id="raw-id-not-attested-id"),
    ],
)
def test_registration_refuses(rp, authenticator, tamper):
    with pytest.raises(RegistrationFailed):
        register(rp, authenticator, tamper)


def test_registration_without_uv_passes_when_only_preferred(authenticator):
    rp = RelyingParty(
        id="localhost", name="t", origins=frozenset({ORIGIN}), user_verification="preferred"
    )
    assert register(rp, authenticator, Tamper(uv=False)).user_verified is False


def test_registration_keeps_backup_flags(rp):
    credential = register(
        rp, SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True)
    )
    assert (credential.backup_eligible, credential.backed_up) == (True, True)


def test_credential_id_of_1023_bytes_is_accepted(rp):
    credential = register(rp, SoftAuthenticator(origin=ORIGIN, cred_id_len=1023))
    assert len(credential.credential_id) == 1023


def test_credential_id_of_1024_bytes_is_refused(rp):
    with pytest.raises(RegistrationFailed, match="length"):
        register(rp, SoftAuthenticator(origin=ORIGIN, cred_id_len=1024))


def test_algorithm_not_offered_is_refused():
    rp = RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN}), algorithms=(-7,))
    with pytest.raises(RegistrationFailed, match="not offered"):
        register(rp, SoftAuthenticator(origin=ORIGIN, alg=-8), Tamper(force_alg=True))


def test_key_claiming_an_algorithm_not_offered_is_refused(rp, authenticator):
    challenge = secrets.token_bytes(32)
    options = registration_options(
        rp,
        challenge=challenge,
        user_handle=USER_HANDLE,
        username="alice",
        display_name="Alice",
        exclude=[],
    )
    raw = with_cose_key(authenticator.create(options), {3: -35})  # ES384, never offered
    with pytest.raises(RegistrationFailed, match="not offered"):
        verify_registration(rp, parse_registration(raw), raw, challenge=challenge)


def test_public_key_off_the_curve_is_refused(rp, authenticator):
    challenge = secrets.token_bytes(32)
    options = registration_options(
        rp,
        challenge=challenge,
        user_handle=USER_HANDLE,
        username="alice",
        display_name="Alice",
        exclude=[],
    )
    raw = with_cose_key(authenticator.create(options), {-2: b"\x01" * 32})  # x
    with pytest.raises(RegistrationFailed, match="malformed"):
        verify_registration(rp, parse_registration(raw), raw, challenge=challenge)


# ---- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [-7, -8, -257])
def test_authentication_accepts_a_genuine_assertion(rp, alg):
    authenticator = SoftAuthenticator(origin=ORIGIN, alg=alg)
    credential = stored(register(rp, authenticator))
    assertion = authenticate(rp, authenticator, credential)
    assert assertion == Assertion(sign_count=2, backed_up=False, user_verified=True)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(Tamper(origin="https://evil.example"), id="other-origin"),
        pytest.param(Tamper(origin="https://evil.localhost:5000"), id="https-subdomain"),
        pytest.param(Tamper(origin="http://localhost:5001"), id="other-port"),
        pytest.param(Tamper(cred_type="password"), id="type-not-public-key"),
        pytest.param(Tamper(cross_origin=True), id="cross-origin"),
        pytest.param(Tamper(top_origin=ORIGIN), id="top-origin"),
        pytest.param(Tamper(client_type="webauthn.create"), id="client-data-type-create"),
        pytest.param(Tamper(challenge=b"x" * 32), id="other-challenge"),
        pytest.param(Tamper(rp_id="evil.example"), id="rp-id-hash"),
        pytest.param(Tamper(up=False), id="no-user-presence"),
        pytest.param(Tamper(uv=False), id="no-user-verification"),
        pytest.param(Tamper(corrupt_signature=True), id="bad-signature"),
        pytest.param(Tamper(bs=True), id="bs-without-be"),
        pytest.param(Tamper(be=True), id="be-differs-from-stored"),
        pytest.param(Tamper(user_handle=b"v" * 32), id="user-handle-of-another-id"),
        pytest.param(Tamper(user_handle=None), id="user-handle-missing"),
        pytest.param(Tamper(raw_id=b"r" * 32), id="unknown-credential-id"),
        pytest.param(Tamper(sign_count=1), id="counter-not-increased"),
    ],
)
def test_authentication_refuses(rp, authenticator, tamper):
    credential = stored(register(rp, authenticator))
    with pytest.raises(AuthenticationFailed):
        authenticate(rp, authenticator, credential, tamper)


def test_be_cleared_on_a_backup_eligible_credential_is_refused(rp):
    authenticator = SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True)
    credential = stored(register(rp, authenticator))
    with pytest.raises(AuthenticationFailed, match="BE"):
        authenticate(rp, authenticator, credential, Tamper(be=False, bs=False))


def test_backup_state_may_change(rp):
    authenticator = SoftAuthenticator(origin=ORIGIN, backup_eligible=True)
    credential = stored(register(rp, authenticator))
    assert authenticate(rp, authenticator, credential, Tamper(bs=True)).backed_up is True


def test_missing_user_handle_is_fine_when_the_username_was_given(rp, authenticator):
    credential = stored(register(rp, authenticator))
    assertion = authenticate(
        rp, authenticator, credential, Tamper(user_handle=None), user_handle_required=False
    )
    assert assertion.sign_count == 2


def test_user_handle_of_another_id_is_refused_even_username_first(rp, authenticator):
    credential = stored(register(rp, authenticator))
    with pytest.raises(AuthenticationFailed, match="userHandle"):
        authenticate(
            rp,
            authenticator,
            credential,
            Tamper(user_handle=b"v" * 32),
            user_handle_required=False,
        )


def test_counter_regression_is_its_own_error(rp, authenticator):
    credential = stored(register(rp, authenticator))
    with pytest.raises(CounterRegression):
        authenticate(rp, authenticator, credential, Tamper(sign_count=1))


def test_only_a_genuine_signature_can_report_a_counter_regression(rp, authenticator):
    credential = stored(register(rp, authenticator))
    with pytest.raises(AuthenticationFailed) as failure:
        authenticate(rp, authenticator, credential, Tamper(sign_count=1, corrupt_signature=True))
    assert not isinstance(failure.value, CounterRegression)


def test_zero_counters_are_accepted_again_and_again(rp):
    authenticator = SoftAuthenticator(origin=ORIGIN, counter="zero")
    credential = stored(register(rp, authenticator))
    for _ in range(3):
        assert authenticate(rp, authenticator, credential).sign_count == 0


@pytest.mark.parametrize(
    "stored_count, received, accepted",
    [
        (0, 0, True),
        (0, 1, True),
        (1, 2, True),
        (5, 1000, True),
        (5, 5, False),
        (5, 4, False),
        (5, 0, False),
        (0xFFFFFFFF, 0xFFFFFFFF, False),
    ],
)
def test_check_sign_count(stored_count, received, accepted):
    if accepted:
        check_sign_count(stored_count, received)
    else:
        with pytest.raises(CounterRegression):
            check_sign_count(stored_count, received)


# ---- parsing: malformed input is InvalidInput, never anything else --------------------------


def registration_response(rp: RelyingParty) -> dict[str, Any]:
    options = registration_options(
        rp,
        challenge=b"c" * 32,
        user_handle=USER_HANDLE,
        username="alice",
        display_name="Alice",
        exclude=[],
    )
    return SoftAuthenticator(origin=ORIGIN).create(options)


def authentication_response(rp: RelyingParty) -> dict[str, Any]:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    authenticator.create(
        registration_options(
            rp,
            challenge=b"c" * 32,
            user_handle=USER_HANDLE,
            username="alice",
            display_name="Alice",
            exclude=[],
        )
    )
    return authenticator.get(authentication_options(rp, challenge=b"d" * 32, allow=[]))


DELETE = object()


def _edit(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``path`` like "response.clientDataJSON"; the value ``DELETE`` removes the key."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return body


def _cbor_edit(body: dict[str, Any], field: str, cut: int) -> dict[str, Any]:
    data = b64u_decode(body["response"][field])
    return _edit(body, f"response.{field}", b64u(data[:cut]))


def _truncated_auth_data_in_attestation(body: dict[str, Any], cut: int) -> dict[str, Any]:
    attestation = cbor.decode(b64u_decode(body["response"]["attestationObject"]))
    attestation["authData"] = attestation["authData"][:cut]
    return _edit(body, "response.attestationObject", b64u(cbor.encode(attestation)))


def _client_data(body: dict[str, Any], raw: bytes) -> dict[str, Any]:
    return _edit(body, "response.clientDataJSON", b64u(raw))


COMMON_MALFORMED = [
    ("id", 5),
    ("id", DELETE),
    ("rawId", DELETE),
    ("rawId", 5),
    ("rawId", [1, 2]),
    ("rawId", None),
    ("rawId", "!!!!"),
    ("type", 5),
    ("type", DELETE),
    ("response", DELETE),
    ("response", "x"),
    ("response", []),
    ("response.clientDataJSON", DELETE),
    ("response.clientDataJSON", 5),
    ("response.clientDataJSON", "not base64!"),
    ("response.clientDataJSON", ""),
]


def _malformed_common(body: dict[str, Any]) -> list[Any]:
    cases = []
    for path, value in COMMON_MALFORMED:
        edited = _edit(body, path, value)
        if path == "id" and value is not DELETE:
            edited["rawId"] = value  # the same wrong value in both, so id == rawId holds
        label = f"{path}-missing" if value is DELETE else f"{path}={value!r}"
        cases.append(pytest.param(edited, id=label))
    cases += [
        pytest.param([body], id="not-a-mapping"),
        pytest.param(_edit(body, "id", b64u(b"other")), id="id-not-rawId"),
        pytest.param(_client_data(body, b"not json"), id="clientData-not-json"),
        pytest.param(_client_data(body, b"\xff\xfe"), id="clientData-not-utf8"),
        pytest.param(_client_data(body, b"[1]"), id="clientData-list"),
        pytest.param(_client_data(body, b'{"type": "webauthn.get"}'), id="clientData-fields"),
        pytest.param(_client_data(body, b"[" * 5000 + b"]" * 5000), id="clientData-deep"),
        pytest.param(
            _client_data(
                body,
                json.dumps({"type": "webauthn.create", "challenge": 5, "origin": ORIGIN}).encode(),
            ),
            id="clientData-challenge-number",
        ),
    ]
    return cases


_REG = registration_response(RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN})))
_AUTH = authentication_response(RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN})))


@pytest.mark.parametrize(
    "body",
    _malformed_common(_REG)
    + [
        pytest.param(_edit(_REG, "response.attestationObject", DELETE), id="no-attestation"),
        pytest.param(_edit(_REG, "response.attestationObject", 7), id="attestation-number"),
        pytest.param(_edit(_REG, "response.attestationObject", "!!"), id="attestation-b64"),
        pytest.param(_cbor_edit(_REG, "attestationObject", 20), id="attestation-cut-20"),
        pytest.param(_cbor_edit(_REG, "attestationObject", -1), id="attestation-cut-1"),
        pytest.param(_cbor_edit(_REG, "attestationObject", -5), id="attestation-cut-5"),
        pytest.param(_truncated_auth_data_in_attestation(_REG, 36), id="authData-cut-36"),
        pytest.param(_truncated_auth_data_in_attestation(_REG, 60), id="authData-cut-60"),
        pytest.param(_truncated_auth_data_in_attestation(_REG, -5), id="cose-key-cut-5"),
        pytest.param(
            _edit(_REG, "response.attestationObject", b64u(b"\x81" * 40000)), id="attestation-deep"
        ),
        pytest.param(
            _edit(_REG, "response.attestationObject", b64u(cbor.encode([1]))), id="attestation-list"
        ),
    ],
)
def test_malformed_registration_is_invalid_input(body):
    with pytest.raises(InvalidInput):
        parse_registration(body)


@pytest.mark.parametrize(
    "body",
    _malformed_common(_AUTH)
    + [
        pytest.param(_edit(_AUTH, "response.authenticatorData", DELETE), id="no-authData"),
        pytest.param(_edit(_AUTH, "response.authenticatorData", 10**6), id="authData-number"),
        pytest.param(_cbor_edit(_AUTH, "authenticatorData", 36), id="authData-cut"),
        pytest.param(_cbor_edit(_AUTH, "authenticatorData", 20), id="authData-cut-20"),
        pytest.param(_edit(_AUTH, "response.signature", DELETE), id="no-signature"),
        pytest.param(_edit(_AUTH, "response.signature", 5), id="signature-number"),
        pytest.param(_edit(_AUTH, "response.signature", {}), id="signature-object"),
        pytest.param(_edit(_AUTH, "response.signature", "%%%"), id="signature-b64"),
        pytest.param(_edit(_AUTH, "response.userHandle", 5), id="userHandle-number"),
        pytest.param(_edit(_AUTH, "response.userHandle", "a b"), id="userHandle-b64"),
    ],
)
def test_malformed_authentication_is_invalid_input(body):
    with pytest.raises(InvalidInput):
        parse_authentication(body)


def test_wellformed_responses_parse():
    assert parse_registration(_REG).raw_id == b64u_decode(_REG["rawId"])
    assert parse_authentication(_AUTH).response.user_handle == USER_HANDLE
    no_handle = _edit(_AUTH, "response.userHandle", None)
    assert parse_authentication(no_handle).response.user_handle is None
