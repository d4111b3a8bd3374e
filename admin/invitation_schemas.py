"""The admin API's invitations (``/api/admin/invitations``): requests, answers and the
endpoints' declarations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, JsonValue

from admin.errors import Forbidden
from admin.invitations import CSV_HEADER, MAX_CSV_ROWS, Imported
from admin.models import Role
from core.errors import InvalidInput, NotSignedIn, ReauthRequired, UnsupportedMediaType
from core.schemas import Answer, Body, Endpoint, Timestamp, document, omitted_if_none
from webauthn.errors import (
    EmailInUse,
    InvitationNotFound,
    InvitationUsed,
    UsernameTaken,
)
from webauthn.invitations import Created
from webauthn.models import Invitation, InvitationDelivery, InvitationStatus
from webauthn.schemas import Email, Username

TAG = "admin"
GATE = [(NotSignedIn, "signed out"), (Forbidden, "not an administrator")]
DELIVERIES: list[JsonValue] = [d.value for d in InvitationDelivery]
STATUSES: list[JsonValue] = [s.value for s in InvitationStatus]


class CreateInvitation(Body):
    email: Email = Field(description="The new ID's address")
    username: Username | None = Field(
        default=None, description="The username the new ID must take; null: the person chooses"
    )
    # Not strict for this field: the JSON string "admin" is read as Role.ADMIN.
    role: Annotated[Role, Field(strict=False)] | None = Field(
        default=None, description="Granted when the ID is created (by the inviting admin)"
    )
    deliver: Literal["email", "display"] = Field(
        description="`email`: the link is mailed; `display`: the answer holds it (once)"
    )


class NewInvitation(Answer):
    """The invitation just made; its link (and QR code) only with `deliver: display`, shown
    this once."""

    id: int
    email: str
    username: str | None
    role: str | None
    delivery: str = Field(json_schema_extra={"enum": DELIVERIES})
    expires_at: Timestamp
    url: str | None = Field(description="`<ORIGIN>/signup?invitation=<token>`; null when mailed")
    qr_svg: str | None = Field(description="The link as an SVG QR code; null when mailed")

    @classmethod
    def from_created(cls, created: Created, qr_svg: str | None) -> NewInvitation:
        invitation = created.invitation
        shown = invitation.delivery == InvitationDelivery.DISPLAY
        return cls(
            id=invitation.id,
            email=invitation.email,
            username=invitation.username,
            role=invitation.role,
            delivery=invitation.delivery.value,
            expires_at=invitation.expires_at,
            url=created.url if shown else None,
            qr_svg=qr_svg if shown else None,
        )


class CreatedInvitation(Answer):
    invitation: NewInvitation


class InvitationOut(Answer):
    """An invitation as the list shows it (never its token or link)."""

    id: int
    email: str
    username: str | None
    role: str | None
    delivery: str = Field(json_schema_extra={"enum": DELIVERIES})
    status: str = Field(json_schema_extra={"enum": STATUSES})
    created_at: Timestamp
    expires_at: Timestamp
    used_at: Timestamp | None
    used_by_user_id: int | None = Field(description="The ID created with it")
    revoked_at: Timestamp | None
    created_by_user_id: int | None = Field(description="The inviting administrator")
    created_by: str | None = Field(description="Who invited, when no ID did (`cli:<login>`)")

    @classmethod
    def from_invitation(cls, invitation: Invitation, now: datetime) -> InvitationOut:
        return cls(
            id=invitation.id,
            email=invitation.email,
            username=invitation.username,
            role=invitation.role,
            delivery=invitation.delivery.value,
            status=invitation.status(now).value,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            used_at=invitation.used_at,
            used_by_user_id=invitation.used_by_user_id,
            revoked_at=invitation.revoked_at,
            created_by_user_id=invitation.created_by_user_id,
            created_by=invitation.created_by,
        )


class InvitationList(Answer):
    """Every invitation, newest first."""

    invitations: list[InvitationOut]


class RowOut(Answer):
    row: int = Field(description="The row's line in the file (the header is line 1)")
    ok: bool
    error: str | None = omitted_if_none(description="Why the row cannot be invited")


class ImportAnswer(Answer):
    """One result per row; nothing is created unless every row is fine."""

    results: list[RowOut]
    created: int = Field(description="Invitations made (and mailed): 0 when any row is bad")

    @classmethod
    def from_imported(cls, imported: Imported) -> ImportAnswer:
        return cls(
            results=[RowOut(row=r.row, ok=r.ok, error=r.error) for r in imported.results],
            created=imported.created,
        )


document(
    "admin_invitations",
    create_invitation=Endpoint(
        "Invite someone to create an ID (admins only; fresh verification)",
        tag=TAG,
        body=CreateInvitation,
        responses={201: CreatedInvitation},
        description="The link works once, until `expires_at` (INVITATION_TTL), whatever "
        "REGISTRATION says. Audited with the administrator as actor.",
        errors=[
            *GATE,
            ReauthRequired,
            (EmailInUse, "an ID has this address"),
            (UsernameTaken, "an ID, or a pending invitation, has this username"),
        ],
    ),
    invitations=Endpoint(
        "Every invitation with its status (admins only)",
        tag=TAG,
        responses={200: InvitationList},
        errors=GATE,
    ),
    revoke_invitation=Endpoint(
        "Withdraw an invitation: its link opens nothing any more (admins only; fresh verification)",
        tag=TAG,
        responses={204: "Revoked (or revoked already)"},
        errors=[*GATE, ReauthRequired, InvitationNotFound, InvitationUsed],
    ),
    import_invitations=Endpoint(
        "Invite everyone in a CSV file, by mail, all or none (admins only; fresh verification)",
        tag=TAG,
        responses={200: ImportAnswer},
        description=f"Body `text/csv` (UTF-8): a header row `{','.join(CSV_HEADER)}`, then "
        f"one row per person (at most {MAX_CSV_ROWS}); username and role may be empty. When "
        "any row is bad (address or username breaking the rules, unknown role, the same "
        "address or username twice, one an ID or a pending invitation has) nothing is "
        "created and `created` is 0.",
        errors=[
            *GATE,
            ReauthRequired,
            (InvalidInput, "not a CSV file, another header, no rows or too many"),
            (UnsupportedMediaType, "Body is not text/csv"),
        ],
    ),
)
