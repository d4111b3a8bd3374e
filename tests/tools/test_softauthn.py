"""The software authenticator against python-fido2's own server.

Every other test trusts `SoftAuthenticator`, so it must first prove that an independent
relying-party implementation accepts its honest responses and rejects each broken one.

Past 400 lines on purpose: each ``Tamper`` field checked against python-fido2, one test each.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fido2.attestation import InvalidSignature, PackedAttestation
from fido2.attestation.base import AttestationType
from fido2.cose import CoseKey
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
)

from tools.softauthn import (
    HONEST,
    TEST_AAGUID,
    InvalidStateError,
    NotAllowedError,
    SoftAuthenticator,
    Tamper,
    b64u,
    b64u_decode,
)

ORIGIN = "http://localhost:5000"
RP = PublicKeyCredentialRpEntity(id="localhost", name="t")
ALGS = [-7, -8, -257]


@pytest.fixture
def server() -> Fido2Server:
    return Fido2Server(RP, verify_origin=lambda o: o == ORIGIN)


def new_user(user_id: bytes | None = None) -> PublicKeyCredentialUserEntity:
    return PublicKeyCredentialUserEntity(
        id=user_id or secrets.token_bytes(16), name="alice", display_name="Alice"
    )


def register(
    server: Fido2Server,
    authn: SoftAuthenticator,
    user: PublicKeyCredentialUserEntity | None = None,
    tamper: Tamper = HONEST,
    credential_id: bytes | None = None,
) -> tuple[dict[str, Any], AttestedCredentialData]:
    options, state = server.register_begin(
        user or new_user(), resident_key_requirement="required", user_verification="preferred"
    )
    response = authn.create(dict(options), credential_id=credential_id, tamper=tamper)
    auth_data = server.register_complete(state, response)
    assert auth_data.credential_data is not None
    return response, auth_data.credential_data


def authenticate(
    server: Fido2Server,
    authn: SoftAuthenticator,
    credentials: list[AttestedCredentialData],
    allow: list[AttestedCredentialData] | None = None,
    tamper: Tamper = HONEST,
    credential_id: bytes | None = None,
) -> dict[str, Any]:
    options, state = server.authenticate_begin(allow)
    response = authn.get(dict(options), credential_id=credential_id, tamper=tamper)
    server.authenticate_complete(state, credentials, response)
    return response


def auth_data_of(response: dict[str, Any]) -> AuthenticatorData:
    return AuthenticatorData(b64u_decode(response["response"]["authenticatorData"]))


def client_data_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(b64u_decode(response["response"]["clientDataJSON"]))


# -- honest round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("attestation", ["none", "packed"])
@pytest.mark.parametrize("alg", ALGS)
def test_register_and_authenticate_with_fido2(
    server: Fido2Server, alg: int, attestation: str
) -> None:
    authn = SoftAuthenticator(alg=alg, attestation=attestation)  # type: ignore[arg-type]
    user = new_user()
    reg, cred = register(server, authn, user)

    assert cred.aaguid == TEST_AAGUID
    assert cred.public_key.ALGORITHM == alg
    assert reg["id"] == reg["rawId"] == b64u(cred.credential_id)
    assert reg["type"] == "public-key"
    assert reg["clientExtensionResults"] == {}
    assert reg["response"]["publicKeyAlgorithm"] == alg
    assert reg["response"]["transports"] == ["internal"]
    # The SPKI "publicKey" is the same key as the COSE key in the attested data.
    spki = load_der_public_key(b64u_decode(reg["response"]["publicKey"]))
    assert CoseKey.for_alg(alg).from_cryptography_key(spki) == cred.public_key
    att = AttestationObject(b64u_decode(reg["response"]["attestationObject"]))
    assert att.fmt == attestation
    assert att.auth_data == b64u_decode(reg["response"]["authenticatorData"])
    assert client_data_of(reg) == {
        "type": "webauthn.create",
        "challenge": client_data_of(reg)["challenge"],
        "origin": ORIGIN,
        "crossOrigin": False,
    }

    if attestation == "packed":
        client_hash = CollectedClientData(b64u_decode(reg["response"]["clientDataJSON"])).hash
        result = PackedAttestation().verify(att.att_stmt, att.auth_data, client_hash)
        assert result.attestation_type == AttestationType.SELF

    auth = authenticate(server, authn, [cred], allow=[cred])
    assert auth["rawId"] == reg["rawId"]
    assert b64u_decode(auth["response"]["userHandle"]) == user.id
    assert client_data_of(auth)["type"] == "webauthn.get"


def test_base64url_fields_have_no_padding(server: Fido2Server) -> None:
    authn = SoftAuthenticator(alg=-257, cred_id_len=17)
    reg, cred = register(server, authn)
    auth = authenticate(server, authn, [cred], allow=[cred])
    for payload in (reg, auth):
        texts = [payload["id"], payload["rawId"], *payload["response"].values()]
        assert not any("=" in t or "+" in t or "/" in t for t in texts if isinstance(t, str))
    assert json.loads(json.dumps(reg)) == reg


def test_accepts_wrapped_and_inner_options(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    options, state = server.register_begin(new_user())
    response = authn.create(dict(options)["publicKey"])
    cred = server.register_complete(state, response).credential_data
    assert cred is not None
    options, state = server.authenticate_begin([cred])
    server.authenticate_complete(state, [cred], authn.get(dict(options)["publicKey"]))


def test_usernameless_picks_newest_resident_credential(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    first_user, second_user = new_user(), new_user()
    _, first = register(server, authn, first_user)
    _, second = register(server, authn, second_user)

    auth = authenticate(server, authn, [first, second])  # no allowCredentials
    assert b64u_decode(auth["rawId"]) == second.credential_id
    assert b64u_decode(auth["response"]["userHandle"]) == second_user.id

    authn.remove(second.credential_id)
    auth = authenticate(server, authn, [first, second])
    assert b64u_decode(auth["response"]["userHandle"]) == first_user.id


def test_new_resident_credential_replaces_same_user(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    user = new_user()
    register(server, authn, user)
    _, newer = register(server, authn, user)
    assert list(authn.credentials) == [newer.credential_id]


def test_non_resident_credential_needs_allow_list(server: Fido2Server) -> None:
    authn = SoftAuthenticator(resident=False)
    _, cred = register(server, authn)
    options, _ = server.authenticate_begin()
    with pytest.raises(NotAllowedError):
        authn.get(dict(options))
    auth = authenticate(server, authn, [cred], allow=[cred])
    assert "userHandle" not in auth["response"]  # like a key that does not store the user


def test_get_picks_explicit_then_first_allowed(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, a = register(server, authn)
    _, b = register(server, authn)
    stranger = SoftAuthenticator()
    _, foreign = register(server, stranger)

    auth = authenticate(server, authn, [a, b], allow=[foreign, a, b])
    assert b64u_decode(auth["rawId"]) == a.credential_id
    auth = authenticate(server, authn, [a, b], allow=[a], credential_id=b.credential_id)
    assert b64u_decode(auth["rawId"]) == b.credential_id

    options, _ = server.authenticate_begin([foreign])
    with pytest.raises(NotAllowedError):
        authn.get(dict(options))
    with pytest.raises(NotAllowedError):
        authn.get(dict(options), credential_id=b"unknown")


# -- counters and cloning -------------------------------------------------------------------


def test_counter_increments(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    reg, cred = register(server, authn)
    assert auth_data_of(reg).counter == 1
    counts = [auth_data_of(authenticate(server, authn, [cred])).counter for _ in range(3)]
    assert counts == [2, 3, 4]


def test_counter_zero(server: Fido2Server) -> None:
    authn = SoftAuthenticator(counter="zero")
    reg, cred = register(server, authn)
    counts = [auth_data_of(authenticate(server, authn, [cred])).counter for _ in range(3)]
    assert [auth_data_of(reg).counter, *counts] == [0, 0, 0, 0]


def test_sign_count_knob_does_not_advance(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    assert (
        auth_data_of(authenticate(server, authn, [cred], tamper=Tamper(sign_count=99))).counter
        == 99
    )
    assert auth_data_of(authenticate(server, authn, [cred])).counter == 2


def test_clone_shares_keys_and_counter_at_clone_time(server: Fido2Server) -> None:
    original = SoftAuthenticator()
    _, cred = register(server, original)
    authenticate(server, original, [cred])  # counter now 2
    twin = original.clone()
    assert twin.credentials.keys() == original.credentials.keys()

    assert auth_data_of(authenticate(server, original, [cred])).counter == 3
    assert auth_data_of(authenticate(server, original, [cred])).counter == 4
    # The clone signs validly with the same key but from the counter it was copied with.
    assert auth_data_of(authenticate(server, twin, [cred])).counter == 3

    twin.remove(cred.credential_id)
    assert cred.credential_id in original.credentials


# -- create: algorithms and excludeCredentials ----------------------------------------------


def test_alg_not_offered_is_not_allowed_unless_forced() -> None:
    server = Fido2Server(RP, verify_origin=lambda o: o == ORIGIN)
    server.allowed_algorithms = [PublicKeyCredentialParameters(type="public-key", alg=-7)]
    authn = SoftAuthenticator(alg=-8)
    options, state = server.register_begin(new_user())
    with pytest.raises(NotAllowedError):
        authn.create(dict(options))
    assert authn.credentials == {}
    response = authn.create(dict(options), tamper=Tamper(force_alg=True))
    assert response["response"]["publicKeyAlgorithm"] == -8


def test_exclude_credentials_raises_invalid_state(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    options, _ = server.register_begin(new_user(), credentials=[cred])
    with pytest.raises(InvalidStateError):
        authn.create(dict(options))
    SoftAuthenticator().create(dict(options))  # another device is fine


def test_unsupported_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        SoftAuthenticator(alg=-35)
    with pytest.raises(ValueError):
        SoftAuthenticator(aaguid=b"short")


# -- Tamper: each field breaks exactly the thing it names ----------------------------------


def test_corrupt_signature_fails_authentication(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    with pytest.raises(ValueError, match="Invalid signature"):
        authenticate(server, authn, [cred], tamper=Tamper(corrupt_signature=True))


@pytest.mark.parametrize("alg", ALGS)
def test_corrupt_packed_attestation_signature(server: Fido2Server, alg: int) -> None:
    authn = SoftAuthenticator(alg=alg, attestation="packed")
    options, state = server.register_begin(new_user())
    reg = authn.create(dict(options), tamper=Tamper(corrupt_signature=True))
    server.register_complete(state, reg)  # fido2 ignores attestation by default
    att = AttestationObject(b64u_decode(reg["response"]["attestationObject"]))
    client_hash = CollectedClientData(b64u_decode(reg["response"]["clientDataJSON"])).hash
    with pytest.raises(InvalidSignature):
        PackedAttestation().verify(att.att_stmt, att.auth_data, client_hash)


def test_corrupt_signature_without_attestation_is_a_test_bug(server: Fido2Server) -> None:
    options, _ = server.register_begin(new_user())
    with pytest.raises(ValueError):
        SoftAuthenticator().create(dict(options), tamper=Tamper(corrupt_signature=True))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (Tamper(challenge=b"x" * 32), "Wrong challenge"),
        (Tamper(rp_id="evil.example"), "Wrong RP ID hash"),
        (Tamper(up=False), "User Present"),
        (Tamper(origin="http://evil.example"), "Invalid origin"),
        (Tamper(client_type="webauthn.create"), "Incorrect type"),
        (Tamper(flags=0), "User Present"),
        (Tamper(response_id="AAAA"), "id does not match rawId"),
        (Tamper(raw_id=b"\x00" * 32), "Unknown credential ID"),
    ],
)
def test_get_knobs_make_fido2_raise(server: Fido2Server, tamper: Tamper, message: str) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    with pytest.raises(ValueError, match=message):
        authenticate(server, authn, [cred], tamper=tamper)
    authenticate(server, authn, [cred])  # the device itself is still fine


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (Tamper(challenge=b"x" * 32), "Wrong challenge"),
        (Tamper(rp_id="evil.example"), "Wrong RP ID hash"),
        (Tamper(up=False), "User Present"),
        (Tamper(origin="http://evil.example"), "Invalid origin"),
        (Tamper(client_type="webauthn.get"), "Incorrect type"),
        (Tamper(response_id="AAAA"), "id does not match rawId"),
    ],
)
def test_create_knobs_make_fido2_raise(server: Fido2Server, tamper: Tamper, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register(server, SoftAuthenticator(), tamper=tamper)


@pytest.mark.parametrize(
    "tamper", [Tamper(force_alg=True), Tamper(statement=lambda fmt, stmt: (fmt, stmt))]
)
def test_get_refuses_what_only_create_can_break(server: Fido2Server, tamper: Tamper) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    options, _ = server.authenticate_begin([cred])
    with pytest.raises(ValueError, match="create"):
        authn.get(dict(options), tamper=tamper)


def test_create_refuses_what_only_get_can_break(server: Fido2Server) -> None:
    options, _ = server.register_begin(new_user())
    for handle in (None, b"someone-else"):
        with pytest.raises(ValueError, match="get"):
            SoftAuthenticator().create(dict(options), tamper=Tamper(user_handle=handle))


def test_one_tamper_value_is_frozen_and_honest_by_default() -> None:
    assert Tamper() == HONEST
    with pytest.raises(dataclasses.FrozenInstanceError):
        HONEST.uv = False  # type: ignore[misc]


def test_uv_required_sees_uv_knob(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    options, state = server.authenticate_begin([cred], user_verification="required")
    with pytest.raises(ValueError, match="verif"):
        server.authenticate_complete(
            state, [cred], authn.get(dict(options), tamper=Tamper(uv=False))
        )


def test_flag_knobs_and_device_flags(server: Fido2Server) -> None:
    authn = SoftAuthenticator(uv=False, backup_eligible=True, backed_up=True)
    reg, cred = register(server, authn)
    flags = auth_data_of(reg).flags
    F = AuthenticatorData.FLAG
    assert flags == F.UP | F.BE | F.BS | F.AT
    auth = authenticate(server, authn, [cred], tamper=Tamper(uv=True, bs=False))
    assert auth_data_of(auth).flags == F.UP | F.UV | F.BE
    auth = authenticate(server, authn, [cred], tamper=Tamper(flags=0x01 | 0x10))
    assert auth_data_of(auth).flags == F.UP | F.BS


def test_client_data_knobs(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    auth = authenticate(
        server,
        authn,
        [cred],
        tamper=Tamper(
            cross_origin=True, top_origin="http://partner.example", extra_client_data={"x": 1}
        ),
    )
    data = client_data_of(auth)
    assert data["crossOrigin"] is True
    assert data["topOrigin"] == "http://partner.example"
    assert data["x"] == 1
    raw = b64u_decode(auth["response"]["clientDataJSON"])
    assert raw.startswith(b'{"type":"webauthn.get","challenge":')


def test_cred_type_knob(server: Fido2Server) -> None:
    # fido2 does not check the top-level "type"; Keystead's own checks must.
    authn = SoftAuthenticator()
    options, _ = server.register_begin(new_user())
    assert authn.create(dict(options), tamper=Tamper(cred_type="password"))["type"] == "password"
    options, _ = server.authenticate_begin()
    assert authn.get(dict(options), tamper=Tamper(cred_type="password"))["type"] == "password"


def test_user_handle_knob(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    _, cred = register(server, authn)
    auth = authenticate(server, authn, [cred], tamper=Tamper(user_handle=None))
    assert "userHandle" not in auth["response"]
    auth = authenticate(server, authn, [cred], tamper=Tamper(user_handle=b"someone-else"))
    assert b64u_decode(auth["response"]["userHandle"]) == b"someone-else"


def test_credential_id_knob_sets_exact_bytes(server: Fido2Server) -> None:
    authn = SoftAuthenticator()
    wanted = b"\x01" * 1100  # longer than WebAuthn's 1023-byte limit, for server checks
    reg, cred = register(server, authn, credential_id=wanted)
    assert cred.credential_id == wanted
    assert b64u_decode(reg["rawId"]) == wanted
    authenticate(server, authn, [cred])


def test_cred_props_extension_is_answered(server: Fido2Server) -> None:
    options, _ = server.register_begin(new_user(), extensions={"credProps": True})
    reg = SoftAuthenticator(resident=False).create(dict(options))
    assert reg["clientExtensionResults"] == {"credProps": {"rk": False}}


# -- full attestation (a vendor's batch certificate) -----------------------------------------


def test_full_packed_attestation_verifies_with_fido2s_mds_verifier(server: Fido2Server) -> None:
    """A key made by the tests' attestation CA is found, and its chain trusted, by python-fido2's
    own MDS attestation verifier over a BLOB that lists the CA for its AAGUID."""
    from fido2.mds3 import MdsAttestationVerifier, parse_blob

    from tests.webauthn.mds import GOOD, OTHER, AttestationCa, entry, shared

    mds, vendor = shared()
    payload = parse_blob(mds.blob([entry(GOOD, "Good Key 5", roots=[vendor.ca.der])]), mds.root.der)
    verifier = MdsAttestationVerifier(payload)

    def attest(authn: SoftAuthenticator) -> Any:
        options, state = server.register_begin(new_user())
        reg = authn.create(dict(options))
        server.register_complete(state, reg)
        att = AttestationObject(b64u_decode(reg["response"]["attestationObject"]))
        client_hash = CollectedClientData(b64u_decode(reg["response"]["clientDataJSON"])).hash
        result = PackedAttestation().verify(att.att_stmt, att.auth_data, client_hash)
        assert result.attestation_type == AttestationType.BASIC
        return verifier.find_entry(att, client_hash)

    found = attest(vendor.authenticator(GOOD))
    assert found is not None and found.metadata_statement.description == "Good Key 5"
    assert attest(vendor.authenticator(OTHER)) is None  # not listed
    assert attest(AttestationCa().authenticator(GOOD)) is None  # another CA


def test_an_attestation_certificate_needs_its_key_and_packed() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="together"):
        SoftAuthenticator(attestation="packed", attestation_key=key)
    with pytest.raises(ValueError, match="packed"):
        SoftAuthenticator(attestation_key=key, attestation_certificates=[b"der"])
