"""A small FIDO Metadata Service the tests make themselves: a root CA standing in for the FIDO
Alliance's, a BLOB signing certificate under it, BLOBs (RS256 JWTs, as the real service signs)
listing chosen models, and an attestation CA whose batch certificates a ``SoftAuthenticator``
uses for full ``packed`` attestation of a chosen AAGUID."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fido2.utils import websafe_encode

from tools.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:5000"
SOFT_AAGUID = uuid.UUID("6b657973-7465-6164-2d73-6f66746b6579")  # tools.softauthn.TEST_AAGUID
GOOD = uuid.UUID("11111111-2222-4333-8444-555555555555")  # a certified model
OTHER = uuid.UUID("22222222-3333-4444-8555-666666666666")  # certified, not on allow-lists
COMPROMISED = uuid.UUID("33333333-4444-4555-8666-777777777777")  # USER_VERIFICATION_BYPASS
OPOID_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Keystead Tests"),
    ]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def certificate(
    subject: x509.Name,
    key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    *,
    ca: bool,
    extensions: list[x509.ExtensionType] | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extensions or []:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass(frozen=True)
class Ca:
    name: x509.Name
    key: Any
    der: bytes

    @classmethod
    def make(cls, common_name: str, *, rsa_key: bool = True) -> Ca:
        key: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        name = _name(common_name)
        return cls(name, key, certificate(name, key, name, key, ca=True))

    def pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.der).public_bytes(Encoding.PEM)

    def write(self, directory: Path, filename: str = "root.pem") -> Path:
        path = directory / filename
        path.write_bytes(self.pem())
        return path


@dataclass(frozen=True)
class Mds:
    """A root and the BLOB signer under it."""

    root: Ca
    signer_key: rsa.RSAPrivateKey
    signer_der: bytes

    @classmethod
    def make(cls, root: Ca | None = None, **validity: Any) -> Mds:
        root = root or Ca.make("Test MDS Root")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = certificate(_name("Test MDS Signer"), key, root.name, root.key, ca=False, **validity)
        return cls(root, key, der)

    def blob(
        self,
        entries: list[dict[str, Any]],
        *,
        no: int = 1,
        next_update: date | None = None,
        corrupt_signature: bool = False,
    ) -> bytes:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [b64encode(self.signer_der).decode()]}
        payload = {
            "legalHeader": "Test metadata, not for production.",
            "no": no,
            "nextUpdate": (next_update or date.today() + timedelta(days=30)).isoformat(),
            "entries": entries,
        }
        message = (
            websafe_encode(json.dumps(header).encode())
            + "."
            + websafe_encode(json.dumps(payload).encode())
        ).encode()
        signature = self.signer_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        if corrupt_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        return message + b"." + websafe_encode(signature).encode()


def entry(
    aaguid: uuid.UUID,
    description: str,
    *,
    status: str = "FIDO_CERTIFIED_L1",
    roots: list[bytes] | None = None,
    earlier_status: str | None = None,
) -> dict[str, Any]:
    reports = [{"status": status, "effectiveDate": "2025-06-01"}]
    if earlier_status:
        reports.insert(0, {"status": earlier_status, "effectiveDate": "2024-01-01"})
    return {
        "aaguid": str(aaguid),
        "statusReports": reports,
        "timeOfLastStatusChange": "2025-06-01",
        "metadataStatement": {
            "description": description,
            "aaguid": str(aaguid),
            "authenticatorVersion": 1,
            "schema": 3,
            "upv": [{"major": 1, "minor": 1}],
            "attestationTypes": ["basic_full"],
            "userVerificationDetails": [[{"userVerificationMethod": "presence_internal"}]],
            "keyProtection": ["hardware"],
            "matcherProtection": ["on_chip"],
            "attachmentHint": ["external"],
            "tcDisplay": [],
            "attestationRootCertificates": [b64encode(r).decode() for r in roots or []],
        },
    }


@dataclass
class AttestationCa:
    """A vendor's attestation root: batch certificates carrying a model's AAGUID."""

    ca: Ca = field(default_factory=lambda: Ca.make("Test Attestation Root", rsa_key=False))

    def authenticator(self, aaguid: uuid.UUID, **options: Any) -> SoftAuthenticator:
        """A security key of model ``aaguid`` making full packed attestation under this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        der = certificate(
            _name("Test Batch", "Authenticator Attestation"),
            key,
            self.ca.name,
            self.ca.key,
            ca=False,
            extensions=[x509.UnrecognizedExtension(OPOID_AAGUID, b"\x04\x10" + aaguid.bytes)],
        )
        return SoftAuthenticator(
            origin=ORIGIN,
            aaguid=aaguid.bytes,
            attestation="packed",
            attestation_key=key,
            attestation_certificates=[der],
            **options,
        )


@cache
def shared() -> tuple[Mds, AttestationCa]:
    """One MDS and one attestation CA per test run (RSA keys take a moment to make)."""
    return Mds.make(), AttestationCa()
