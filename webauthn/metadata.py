"""The FIDO Metadata Service (MDS3): loading its BLOB offline, and what registration asks of it.

``load_blob`` verifies a BLOB (a JWT) with python-fido2's ``fido2.mds3.parse_blob``: its x5c
chain must lead to the trust root (``MDS_TRUST_ROOT``, by default the FIDO Alliance's root
shipped in ``webauthn/data/fido-mds-root.pem``) and its signature must verify with the chain's
leaf; every certificate of the chain must be valid now, and its serial number must exceed the
one loaded (no rollback to an older list). Only then are the models it lists (those with an
AAGUID) stored, replacing the previous ones, one row each keyed by AAGUID: a registration
costs one primary-key lookup (``find_entry``). A refused BLOB changes nothing.

``check_new_credential`` is what every ceremony that stores a new credential runs after the
ceremony's own checks: it looks the model up and lets ``webauthn.ceremony.check_authenticator``
(pure) decide. Revocation lists (CRLs) are not consulted: the BLOB is loaded offline.

Plain Python over a SQLAlchemy session; flushes, never commits.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode, b64encode
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from fido2.attestation.base import InvalidAttestation
from fido2.mds3 import MetadataBlobPayload, MetadataBlobPayloadEntry, parse_blob
from fido2.utils import websafe_decode
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.orm import rowcount
from webauthn.aaguids import format_aaguid
from webauthn.ceremony import (
    COMPROMISED_STATUSES,
    AuthenticatorEntry,
    AuthenticatorRules,
    NewCredential,
    check_authenticator,
)
from webauthn.errors import (
    MetadataChainInvalid,
    MetadataRefused,
    MetadataRollback,
    MetadataSignatureInvalid,
)
from webauthn.models import AuthenticatorModel, MetadataBlob
from webauthn.settings import Settings

BLOB_ID = 1
NAME_LENGTH = 255
# A BLOB is a few megabytes (the public one is about 5 MB); anything far past it is refused
# before it is parsed.
MAX_BLOB_BYTES = 64 * 1024 * 1024

_MALFORMED = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    AssertionError,
    NotImplementedError,
    binascii.Error,
    UnicodeDecodeError,
    RecursionError,
)


@dataclass(frozen=True)
class BlobInfo:
    """The BLOB loaded: its number, when the next is due, when it was loaded, how many
    models it listed."""

    no: int
    next_update: date
    loaded_at: datetime
    entries: int


@dataclass(frozen=True)
class ModelInfo:
    """One loaded model as an administrator sees it. ``allowed``: on ALLOWED_AUTHENTICATORS
    (every model while the list is empty)."""

    aaguid: str
    name: str | None
    status: str | None
    status_date: date | None
    allowed: bool

    @property
    def compromised(self) -> bool:
        return self.status in COMPROMISED_STATUSES


@dataclass(frozen=True)
class Overview:
    """What is loaded: the BLOB (None before the first load) and its models, by name."""

    blob: BlobInfo | None
    models: list[ModelInfo]
    attestation_required: bool


# ---- the trust root ------------------------------------------------------------------------


def default_trust_root() -> bytes:
    """The FIDO Alliance MDS root (GlobalSign Root CA - R3), DER."""
    pem = resources.files("webauthn").joinpath("data/fido-mds-root.pem").read_bytes()
    return certificate_der(pem)


def certificate_der(data: bytes) -> bytes:
    """A certificate given as PEM or DER, as DER; ``MetadataRefused`` when it is neither."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certificate = x509.load_pem_x509_certificate(data)
        else:
            certificate = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise MetadataRefused(
            "The trust root is not a certificate (PEM or DER). Nothing changed.", detail=str(exc)
        ) from exc
    return certificate.public_bytes(Encoding.DER)


def trust_root(configured: str | None) -> bytes:
    """The root a BLOB must chain to: the file ``configured`` names (``MDS_TRUST_ROOT``, or a
    command's ``--trust-root``), else the shipped FIDO Alliance root."""
    if not configured:
        return default_trust_root()
    try:
        data = Path(configured).read_bytes()
    except OSError as exc:
        raise MetadataRefused(
            f"The trust root file {configured!r} cannot be read. Nothing changed.",
            detail=str(exc),
        ) from exc
    return certificate_der(data)


# ---- loading a BLOB ------------------------------------------------------------------------


def verify_blob(blob: bytes, root: bytes, now: datetime) -> MetadataBlobPayload:
    """The BLOB's payload once its chain leads to ``root``, every certificate of it is valid
    at ``now`` and its signature verifies; ``MetadataChainInvalid``,
    ``MetadataSignatureInvalid`` or ``MetadataRefused`` (malformed) otherwise."""
    if len(blob) > MAX_BLOB_BYTES:
        raise MetadataRefused(detail="BLOB too large")
    blob = blob.strip()
    try:
        header = json.loads(websafe_decode(blob.split(b".", 1)[0]))
        chain = [x509.load_der_x509_certificate(b64decode(c)) for c in header.get("x5c", [])]
        payload = parse_blob(blob, root)
    except InvalidAttestation as exc:  # fido2's InvalidSignature: a link of the chain
        raise MetadataChainInvalid(detail=f"x5c chain: {exc!r}") from exc
    except InvalidSignature as exc:  # cryptography's: the BLOB's own signature
        raise MetadataSignatureInvalid(detail="BLOB signature") from exc
    except _MALFORMED as exc:
        raise MetadataRefused(detail=f"malformed BLOB: {exc!r}") from exc
    for certificate in [*chain, x509.load_der_x509_certificate(root)]:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise MetadataChainInvalid(
                detail=f"certificate {certificate.subject.rfc4514_string()} not valid now"
            )
    return payload


def load_blob(
    db: Session,
    ctx: RequestContext,
    blob: bytes,
    *,
    trust_root_path: str | None,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> BlobInfo:
    """Verifies ``blob`` (``verify_blob``) to the root in the file ``trust_root_path`` (None:
    the FIDO Alliance's, see ``trust_root``) and replaces the loaded models with the ones it
    lists; refused (``MetadataRollback``, nothing changed) unless its number exceeds the
    loaded BLOB's. Audited (``AuthenticatorMetadataLoaded``)."""
    payload = verify_blob(blob, trust_root(trust_root_path), ctx.now)
    models = _models(payload.entries)
    previous = db.scalar(sa.select(MetadataBlob.no).where(MetadataBlob.id == BLOB_ID))
    values = {
        "no": payload.no,
        "next_update": payload.next_update,
        "legal_header": payload.legal_header or "",
        "entry_count": len(models),
        "loaded_at": ctx.now,
    }
    if previous is None:
        db.add(MetadataBlob(id=BLOB_ID, **values))
    else:
        # Conditional, so two loads at once cannot both win with the older one last.
        updated = db.execute(
            sa.update(MetadataBlob)
            .where(MetadataBlob.id == BLOB_ID, MetadataBlob.no < payload.no)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(updated) == 0:
            raise MetadataRollback(detail=f"BLOB no {payload.no} not above {previous}")
    db.execute(sa.delete(AuthenticatorModel))
    db.add_all(models)
    events.emit(
        db,
        events.AuthenticatorMetadataLoaded(
            ctx=ctx,
            user_id=None,
            no=payload.no,
            next_update=payload.next_update.isoformat(),
            entries=len(models),
            previous_no=previous,
            actor_user_id=actor_user_id,
            actor=actor,
        ),
    )
    db.flush()
    return BlobInfo(
        no=payload.no, next_update=payload.next_update, loaded_at=ctx.now, entries=len(models)
    )


def _models(entries: Sequence[MetadataBlobPayloadEntry]) -> list[AuthenticatorModel]:
    """One row per AAGUID (entries without one, U2F and UAF models, are left out)."""
    models: dict[bytes, AuthenticatorModel] = {}
    for entry in entries:
        if entry.aaguid is None:
            continue
        statement = entry.metadata_statement
        latest = max(
            enumerate(entry.status_reports or ()),
            key=lambda pair: (pair[1].effective_date or date.min, pair[0]),
            default=None,
        )
        report = latest[1] if latest is not None else None
        name = statement.description if statement is not None else None
        roots = statement.attestation_root_certificates if statement is not None else ()
        models[bytes(entry.aaguid)] = AuthenticatorModel(
            aaguid=bytes(entry.aaguid),
            name=name[:NAME_LENGTH] if name else None,
            status=str(report.status.value) if report is not None else None,
            status_date=report.effective_date if report is not None else None,
            attestation_roots=[b64encode(bytes(r)).decode("ascii") for r in roots],
        )
    return list(models.values())


# ---- reading what was loaded ---------------------------------------------------------------

_ENTRY = sa.select(AuthenticatorModel).where(AuthenticatorModel.aaguid == sa.bindparam("aaguid"))


def find_entry(db: Session, aaguid: bytes) -> AuthenticatorEntry | None:
    """The loaded model with this AAGUID (one primary-key lookup), or None."""
    row = db.scalars(_ENTRY, {"aaguid": aaguid}).first()
    if row is None:
        return None
    return AuthenticatorEntry(
        aaguid=row.aaguid,
        name=row.name,
        status=row.status,
        attestation_roots=tuple(b64decode(r) for r in row.attestation_roots or ()),
    )


def check_new_credential(
    db: Session, settings: Settings, credential: NewCredential, now: datetime
) -> bool:
    """A verified new credential's model against the loaded metadata and the policies
    (``webauthn.ceremony.check_authenticator``); True when its attestation was verified."""
    entry = find_entry(db, credential.aaguid) if len(credential.aaguid) == 16 else None
    return check_authenticator(credential, entry, settings.authenticators, now=now)


def blob_info(db: Session) -> BlobInfo | None:
    row = db.get(MetadataBlob, BLOB_ID)
    if row is None:
        return None
    return BlobInfo(
        no=row.no, next_update=row.next_update, loaded_at=row.loaded_at, entries=row.entry_count
    )


def overview(db: Session, rules: AuthenticatorRules) -> Overview:
    """The loaded BLOB and its models, each marked allowed or not under ``rules``."""
    return Overview(
        blob=blob_info(db),
        models=list_models(db, rules.allowed),
        attestation_required=rules.attestation_required,
    )


def list_models(db: Session, allowed: frozenset[bytes] = frozenset()) -> list[ModelInfo]:
    """Every loaded model, by name; ``allowed``: the allow-list (empty: every model)."""
    rows = db.execute(
        sa.select(
            AuthenticatorModel.aaguid,
            AuthenticatorModel.name,
            AuthenticatorModel.status,
            AuthenticatorModel.status_date,
        ).order_by(AuthenticatorModel.name, AuthenticatorModel.aaguid)
    )
    return [
        ModelInfo(
            aaguid=format_aaguid(row.aaguid) or "00000000-0000-0000-0000-000000000000",
            name=row.name,
            status=row.status,
            status_date=row.status_date,
            allowed=not allowed or row.aaguid in allowed,
        )
        for row in rows
    ]
