"""The authenticator models an administrator sees (``/api/admin/authenticators``): the loaded
FIDO Metadata Service BLOB and its models, so the policy page can pick the allow-list."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from admin.schemas import GATE, TAG
from core.errors import ReauthRequired
from core.schemas import Answer, Body, Endpoint, Timestamp, document
from webauthn.errors import (
    MetadataChainInvalid,
    MetadataRefused,
    MetadataRollback,
    MetadataSignatureInvalid,
)
from webauthn.metadata import MAX_BLOB_BYTES, BlobInfo, ModelInfo, Overview


class BlobOut(Answer):
    no: int = Field(description="The BLOB's serial number; a later load must exceed it")
    next_update: dt.date = Field(description="When the FIDO Alliance publishes the next one")
    loaded_at: Timestamp
    entries: int = Field(ge=0, description="Models loaded (entries with an AAGUID)")

    @classmethod
    def from_info(cls, info: BlobInfo) -> BlobOut:
        return cls(
            no=info.no, next_update=info.next_update, loaded_at=info.loaded_at, entries=info.entries
        )


class AuthenticatorOut(Answer):
    aaguid: str = Field(description="Lowercase UUID, as ALLOWED_AUTHENTICATORS lists it")
    name: str | None
    status: str | None = Field(description="The latest status report's (MDS spelling)")
    status_date: dt.date | None
    compromised: bool = Field(description="Refused at registration whatever the policies say")
    allowed: bool = Field(
        description="On ALLOWED_AUTHENTICATORS (every model while the list is empty)"
    )

    @classmethod
    def from_info(cls, info: ModelInfo) -> AuthenticatorOut:
        return cls(
            aaguid=info.aaguid,
            name=info.name,
            status=info.status,
            status_date=info.status_date,
            compromised=info.compromised,
            allowed=info.allowed,
        )


class AuthenticatorsAnswer(Answer):
    blob: BlobOut | None = Field(description="null until a BLOB is loaded (`flask mds load`)")
    attestation_required: bool = Field(description="The ATTESTATION_REQUIRED policy in force")
    authenticators: list[AuthenticatorOut]

    @classmethod
    def from_overview(cls, overview: Overview) -> AuthenticatorsAnswer:
        return cls(
            blob=BlobOut.from_info(overview.blob) if overview.blob else None,
            attestation_required=overview.attestation_required,
            authenticators=[AuthenticatorOut.from_info(m) for m in overview.models],
        )


class BlobUpload(Body):
    """A FIDO Metadata Service BLOB as downloaded (the JWT's text)."""

    blob: str = Field(min_length=1, max_length=MAX_BLOB_BYTES)


document(
    "admin_authenticators",
    authenticators=Endpoint(
        "The loaded FIDO metadata: BLOB and authenticator models (admins only)",
        tag=TAG,
        responses={200: AuthenticatorsAnswer},
        errors=GATE,
    ),
    upload_blob=Endpoint(
        "Load a FIDO Metadata Service BLOB (admins only; fresh verification)",
        tag=TAG,
        body=BlobUpload,
        responses={200: AuthenticatorsAnswer},
        errors=[
            *GATE,
            ReauthRequired,
            MetadataSignatureInvalid,
            MetadataChainInvalid,
            (MetadataRefused, "not a BLOB, or the trust root cannot be read"),
            (MetadataRollback, "not newer than the loaded BLOB"),
        ],
        description="Verified as `flask --app app mds load` verifies it (chain to "
        "`MDS_TRUST_ROOT`, signature, a number above the loaded one); the body may be as "
        "large as a BLOB (64 MiB), not only `MAX_CONTENT_LENGTH`. Refused: nothing changes.",
    ),
)
