"""The FIDO Metadata Service: loading a BLOB offline (`flask --app app mds load`) verified to
the trust root, refused when its signature, its chain or its number is wrong (nothing
changed), and what registration makes of it: compromised models refused, and with
ATTESTATION_REQUIRED only models whose attestation chains to their listed roots (and, with an
allow-list, only the listed ones); without it the allow-list is never applied to a mere claim.
The tests make their own MDS root, BLOB signer and attestation CA (``tests/webauthn/mds.py``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from core.config import ConfigError
from tests.conftest import Api, base_config, error, execute, snapshot
from tests.webauthn.mds import (
    COMPROMISED,
    GOOD,
    ORIGIN,
    OTHER,
    AttestationCa,
    Ca,
    Mds,
    certificate,
    entry,
    shared,
)
from tools.softauthn import TEST_AAGUID, SoftAuthenticator
from webauthn.ceremony import (
    AuthenticatorEntry,
    AuthenticatorRules,
    NewCredential,
    check_authenticator,
)
from webauthn.errors import AttestationNotTrusted, AuthenticatorCompromised

SOFT = uuid.UUID(bytes=TEST_AAGUID)


@pytest.fixture
def mds() -> Mds:
    return shared()[0]


@pytest.fixture
def vendor() -> AttestationCa:
    return shared()[1]


def catalogue(vendor: AttestationCa) -> list[dict[str, Any]]:
    roots = [vendor.ca.der]
    return [
        entry(SOFT, "Keystead Soft Key", roots=roots),
        entry(GOOD, "Good Key 5", roots=roots),
        entry(OTHER, "Other Key", roots=roots),
        entry(COMPROMISED, "Leaky Key", status="USER_VERIFICATION_BYPASS", roots=roots),
    ]


def load(app: Flask, tmp_path: Path, blob: bytes, root: Ca | None, name: str = "blob.jwt") -> Any:
    path = tmp_path / name
    path.write_bytes(blob)
    args = ["mds", "load", str(path)]
    if root is not None:
        args += ["--trust-root", str(root.write(tmp_path))]
    return app.test_cli_runner().invoke(args=args)


def loaded(app: Flask) -> dict[str, Any]:
    blob = execute(app, "SELECT no FROM metadata_blob").scalars().all()
    models = execute(app, "SELECT name, status FROM authenticator_models ORDER BY name").all()
    return {"blob": blob, "models": [tuple(m) for m in models]}


@pytest.fixture
def with_mds(app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa) -> None:
    result = load(app, tmp_path, mds.blob(catalogue(vendor), no=7), mds.root)
    assert result.exit_code == 0, result.output


# ---- loading -------------------------------------------------------------------------------


def test_a_verified_blob_is_loaded_and_audited(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    result = load(app, tmp_path, mds.blob(catalogue(vendor), no=7), mds.root)
    assert result.exit_code == 0, result.output
    assert "Loaded 4 authenticator models" in result.output and "number 7" in result.output
    assert loaded(app) == {
        "blob": [7],
        "models": [
            ("Good Key 5", "FIDO_CERTIFIED_L1"),
            ("Keystead Soft Key", "FIDO_CERTIFIED_L1"),
            ("Leaky Key", "USER_VERIFICATION_BYPASS"),
            ("Other Key", "FIDO_CERTIFIED_L1"),
        ],
    }
    data = execute(
        app, "SELECT data FROM audit_events WHERE kind = 'authenticator_metadata_loaded'"
    ).scalar_one()
    data = data if isinstance(data, dict) else json.loads(data)
    assert data["no"] == 7 and data["entries"] == 4 and data["actor"].startswith("cli:")


def test_a_blob_with_a_bad_signature_is_refused(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    result = load(app, tmp_path, mds.blob(catalogue(vendor), corrupt_signature=True), mds.root)
    assert result.exit_code != 0 and "signature does not verify" in result.output
    assert loaded(app) == {"blob": [], "models": []}


def test_a_bad_blob_changes_nothing_already_loaded(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa, with_mds: None
) -> None:
    before = loaded(app)
    bad = mds.blob([entry(GOOD, "Replaced")], no=8, corrupt_signature=True)
    assert load(app, tmp_path, bad, mds.root).exit_code != 0
    assert loaded(app) == before


def test_a_blob_whose_chain_does_not_reach_the_trust_root_is_refused(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    impostor = Mds.make()  # a signer under another root, trusted by nobody here
    result = load(app, tmp_path, impostor.blob(catalogue(vendor)), mds.root)
    assert result.exit_code != 0 and "trusted root" in result.output
    assert loaded(app) == {"blob": [], "models": []}


def test_the_default_trust_root_is_the_fido_alliance_one(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    """Without --trust-root or MDS_TRUST_ROOT, a test BLOB does not chain to the shipped root."""
    result = load(app, tmp_path, mds.blob(catalogue(vendor)), None)
    assert result.exit_code != 0 and "trusted root" in result.output
    assert loaded(app) == {"blob": [], "models": []}


def test_an_expired_signing_certificate_is_refused(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    expired = Mds.make(mds.root, not_before=past - timedelta(days=365), not_after=past)
    result = load(app, tmp_path, expired.blob(catalogue(vendor)), mds.root)
    assert result.exit_code != 0 and "trusted root" in result.output
    assert loaded(app) == {"blob": [], "models": []}


def test_an_older_or_the_same_blob_is_refused(
    app: Flask, tmp_path: Path, mds: Mds, vendor: AttestationCa, with_mds: None
) -> None:
    before = loaded(app)
    for no in (7, 6):
        result = load(app, tmp_path, mds.blob([entry(GOOD, "Rolled back")], no=no), mds.root)
        assert result.exit_code != 0 and "not newer" in result.output
        assert loaded(app) == before
    newer = load(app, tmp_path, mds.blob([entry(GOOD, "Renamed")], no=8), mds.root)
    assert newer.exit_code == 0, newer.output
    assert loaded(app) == {"blob": [8], "models": [("Renamed", "FIDO_CERTIFIED_L1")]}


@pytest.mark.parametrize("junk", [b"", b"not a jwt", b"a.b.c", b"\xff\xfe.\x00.x"])
def test_a_malformed_file_is_refused(app: Flask, tmp_path: Path, mds: Mds, junk: bytes) -> None:
    result = load(app, tmp_path, junk, mds.root)
    assert result.exit_code != 0 and "not a valid BLOB" in result.output
    assert "Traceback" not in result.output
    assert loaded(app) == {"blob": [], "models": []}


def test_the_trust_root_can_come_from_the_configuration(
    migrated: str, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    from app import create_app
    from tests.conftest import empty_tables

    root = mds.root.write(tmp_path, "configured.pem")
    app = create_app({**base_config(migrated, tmp_path), "MDS_TRUST_ROOT": str(root)})
    empty_tables(app)
    try:
        assert load(app, tmp_path, mds.blob(catalogue(vendor)), None).exit_code == 0
        assert loaded(app)["blob"] == [1]
    finally:
        empty_tables(app)


def test_the_latest_status_report_counts(app: Flask, tmp_path: Path, mds: Mds, api: Api) -> None:
    entries = [
        entry(SOFT, "Fixed Key", status="FIDO_CERTIFIED", earlier_status="REVOKED"),
    ]
    assert load(app, tmp_path, mds.blob(entries), mds.root).exit_code == 0
    assert api.sign_up(SoftAuthenticator(origin=ORIGIN)).status_code == 201


# ---- registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["USER_VERIFICATION_BYPASS", "REVOKED", "USER_KEY_REMOTE_COMPROMISE"]
)
def test_a_compromised_model_is_refused_at_sign_up(
    app: Flask, tmp_path: Path, mds: Mds, api: Api, status: str
) -> None:
    entries = [entry(SOFT, "Bad Soft Key", status=status)]
    assert load(app, tmp_path, mds.blob(entries), mds.root).exit_code == 0
    before = snapshot(app)
    response = api.sign_up(SoftAuthenticator(origin=ORIGIN))
    assert error(response) == (400, "authenticator_compromised")
    assert snapshot(app) == before


def test_a_compromised_model_is_refused_as_an_added_device(
    app: Flask, signed_in: Api, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    assert load(app, tmp_path, mds.blob(catalogue(vendor)), mds.root).exit_code == 0
    leaky = SoftAuthenticator(origin=ORIGIN, aaguid=COMPROMISED.bytes)
    before = snapshot(app)
    assert error(signed_in.add_device(leaky)) == (400, "authenticator_compromised")
    assert snapshot(app) == before


def test_without_attestation_required_the_options_ask_for_none(app: Flask, api: Api) -> None:
    begin = api.post("/api/register/begin", {"username": "bob", "email": "bob@example.com"})
    assert begin.get_json()["publicKey"]["attestation"] == "none"


REQUIRED = {"ATTESTATION_REQUIRED": True, "ALLOWED_AUTHENTICATORS": [str(GOOD)]}


@pytest.mark.parametrize("config_overrides", [REQUIRED], indirect=True)
class TestAttestationRequired:
    def test_the_options_ask_for_direct_attestation(self, app: Flask, api: Api) -> None:
        begin = api.post("/api/register/begin", {"username": "bob", "email": "bob@example.com"})
        assert begin.get_json()["publicKey"]["attestation"] == "direct"

    def test_an_allowed_model_with_verified_attestation_registers(
        self, app: Flask, api: Api, vendor: AttestationCa, with_mds: None
    ) -> None:
        response = api.sign_up(vendor.authenticator(GOOD))
        assert response.status_code == 201, response.get_json()
        devices = api.get("/api/devices").get_json()["devices"]
        assert [(d["aaguid"], d["authenticator"]) for d in devices] == [(str(GOOD), "Good Key 5")]

    def test_a_verified_model_not_on_the_list_is_refused(
        self, app: Flask, api: Api, vendor: AttestationCa, with_mds: None
    ) -> None:
        before = snapshot(app)
        response = api.sign_up(vendor.authenticator(OTHER))
        assert error(response) == (400, "authenticator_not_allowed")
        assert snapshot(app) == before

    @pytest.mark.parametrize("attestation", ["none", "packed"])
    def test_self_or_no_attestation_is_refused(
        self, app: Flask, api: Api, with_mds: None, attestation: Any
    ) -> None:
        """Even claiming the allowed model's AAGUID."""
        key = SoftAuthenticator(origin=ORIGIN, aaguid=GOOD.bytes, attestation=attestation)
        before = snapshot(app)
        assert error(api.sign_up(key)) == (400, "attestation_not_trusted")
        assert snapshot(app) == before

    def test_an_attestation_from_another_ca_is_refused(
        self, app: Flask, api: Api, with_mds: None
    ) -> None:
        """A batch certificate for the allowed AAGUID, issued by a CA the metadata does not
        list for it (anyone can make one)."""
        forger = AttestationCa(Ca.make("Test Attestation Root", rsa_key=False))
        before = snapshot(app)
        assert error(api.sign_up(forger.authenticator(GOOD))) == (400, "attestation_not_trusted")
        assert snapshot(app) == before

    def test_a_model_the_metadata_does_not_list_is_refused(
        self, app: Flask, api: Api, vendor: AttestationCa, with_mds: None
    ) -> None:
        unknown = uuid.UUID("44444444-5555-4666-8777-888888888888")
        assert error(api.sign_up(vendor.authenticator(unknown))) == (
            400,
            "attestation_not_trusted",
        )

    def test_nothing_registers_before_a_blob_is_loaded(
        self, app: Flask, api: Api, vendor: AttestationCa
    ) -> None:
        assert error(api.sign_up(vendor.authenticator(GOOD))) == (400, "attestation_not_trusted")

    def test_a_compromised_model_is_refused_even_when_attested(
        self, app: Flask, api: Api, vendor: AttestationCa, with_mds: None
    ) -> None:
        assert error(api.sign_up(vendor.authenticator(COMPROMISED))) == (
            400,
            "authenticator_compromised",
        )

    def test_a_tampered_attestation_signature_is_refused(
        self, app: Flask, api: Api, vendor: AttestationCa, with_mds: None
    ) -> None:
        from tools.softauthn import Tamper

        response = api.sign_up(vendor.authenticator(GOOD), tamper=Tamper(corrupt_signature=True))
        assert error(response) == (400, "registration_failed")


@pytest.mark.parametrize(
    "config_overrides",
    [{"ATTESTATION_REQUIRED": False, "ALLOWED_AUTHENTICATORS": [str(GOOD)]}],
    indirect=True,
)
def test_without_attestation_required_the_allow_list_is_not_enforced(
    app: Flask, api: Api, with_mds: None
) -> None:
    """A claimed AAGUID is only a claim: a model not on the list still registers."""
    claimed = SoftAuthenticator(origin=ORIGIN, aaguid=OTHER.bytes)
    assert api.sign_up(claimed).status_code == 201


def test_the_model_name_comes_from_the_metadata(
    app: Flask, signed_in: Api, tmp_path: Path, mds: Mds, vendor: AttestationCa
) -> None:
    before = signed_in.get("/api/devices").get_json()["devices"][0]["authenticator"]
    assert before != "Keystead Soft Key"
    assert load(app, tmp_path, mds.blob(catalogue(vendor)), mds.root).exit_code == 0
    devices = signed_in.get("/api/devices").get_json()["devices"]
    assert [d["authenticator"] for d in devices] == ["Keystead Soft Key"]
    me = signed_in.get("/api/me").get_json()["devices"]
    assert [d["authenticator"] for d in me] == ["Keystead Soft Key"]


# ---- the policies' values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [["11111111-2222-4333-8444-55555555555A"], ["not-a-uuid"], [str(GOOD) + " "]]
)
def test_the_allow_list_takes_lowercase_uuids_only(
    migrated: str, tmp_path: Path, value: list[str]
) -> None:
    from app import create_app

    with pytest.raises(ConfigError, match="lowercase UUIDs"):
        create_app({**base_config(migrated, tmp_path), "ALLOWED_AUTHENTICATORS": value})


# ---- the pure decision (webauthn.ceremony.check_authenticator) ------------------------------


def _credential(aaguid: uuid.UUID, trust_path: tuple[bytes, ...]) -> NewCredential:
    return NewCredential(
        credential_id=b"c" * 16,
        public_key=b"",
        alg=-7,
        sign_count=0,
        aaguid=aaguid.bytes,
        backup_eligible=False,
        backed_up=False,
        user_verified=True,
        transports=(),
        attestation_format="packed" if trust_path else "none",
        trust_path=trust_path,
    )


def _batch(vendor: AttestationCa, **validity: Any) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return certificate(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Batch")]),
        key,
        vendor.ca.name,
        vendor.ca.key,
        ca=False,
        **validity,
    )


def test_check_authenticator_rules(vendor: AttestationCa) -> None:
    now = datetime.now(UTC)
    listed = AuthenticatorEntry(GOOD.bytes, "Good", "FIDO_CERTIFIED", (vendor.ca.der,))
    required = AuthenticatorRules(attestation_required=True, allowed=frozenset({GOOD.bytes}))
    batch = _batch(vendor)
    assert check_authenticator(_credential(GOOD, (batch,)), listed, required, now=now) is True
    # A chain that ends with the listed root itself.
    chain = (batch, vendor.ca.der)
    assert check_authenticator(_credential(GOOD, chain), listed, required, now=now) is True
    # Not required: nothing verified, the allow-list not applied to the claim.
    claimed = AuthenticatorEntry(OTHER.bytes, "Other", "FIDO_CERTIFIED", ())
    assert not check_authenticator(
        _credential(OTHER, ()), claimed, AuthenticatorRules(allowed=required.allowed), now=now
    )
    # Expired, or not yet valid, batch certificates do not count.
    for validity in (
        {"not_before": now - timedelta(days=9), "not_after": now - timedelta(days=1)},
        {"not_before": now + timedelta(days=1), "not_after": now + timedelta(days=9)},
    ):
        old = _batch(vendor, **validity)
        with pytest.raises(AttestationNotTrusted):
            check_authenticator(_credential(GOOD, (old,)), listed, required, now=now)
    # Compromised: refused with or without attestation.
    leaky = AuthenticatorEntry(GOOD.bytes, "Good", "ATTESTATION_KEY_COMPROMISE", (vendor.ca.der,))
    for rules in (required, AuthenticatorRules()):
        with pytest.raises(AuthenticatorCompromised):
            check_authenticator(_credential(GOOD, (batch,)), leaky, rules, now=now)
