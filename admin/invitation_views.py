"""The admin API's invitations (``/api/admin/invitations``), for administrators only
(``Action.MANAGE_INVITATIONS``): 401 signed out, 403 ``forbidden`` without the role, then for
a change 401 ``reauth_required`` without a fresh verification. Views parse, call one service
function, commit, answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from admin import invitations as invitation_service
from admin.invitation_schemas import (
    CreatedInvitation,
    CreateInvitation,
    ImportAnswer,
    InvitationList,
    InvitationOut,
    NewInvitation,
)
from admin.roles import Action
from admin.web import allowed
from core import db as database
from core import policy
from core.schemas import answer, parse_body
from core.web import body_text, qr_svg, raw_body, request_context
from webauthn import invitations as invitation_store
from webauthn.models import InvitationDelivery

api = Blueprint("admin_invitations", __name__, url_prefix="/api/admin/invitations")


@api.post("")
def create_invitation() -> Response:
    actor = allowed(Action.MANAGE_INVITATIONS, changes=True)
    body = parse_body(CreateInvitation)
    db = database.session()
    created = invitation_service.invite(
        db,
        request_context(),
        email=body.email,
        username=body.username,
        role=body.role,
        delivery=InvitationDelivery(body.deliver),
        ttl=policy.current()["INVITATION_TTL"],
        origin=current_app.config["ORIGIN"],
        actor_user_id=actor.id,
    )
    db.commit()
    shown = created.invitation.delivery == InvitationDelivery.DISPLAY
    qr = qr_svg(created.url) if shown else None
    return answer(CreatedInvitation(invitation=NewInvitation.from_created(created, qr)), 201)


@api.get("")
def invitations() -> Response:
    allowed(Action.MANAGE_INVITATIONS)
    now = request_context().now
    rows = invitation_store.list_invitations(database.session())
    return answer(InvitationList(invitations=[InvitationOut.from_invitation(i, now) for i in rows]))


@api.delete("/<int:invitation_id>")
def revoke_invitation(invitation_id: int) -> Response:
    actor = allowed(Action.MANAGE_INVITATIONS, changes=True)
    invitation_store.revoke(
        database.session(), request_context(), invitation_id, actor_user_id=actor.id
    )
    database.session().commit()
    return Response(status=204)


@api.post("/import")
@raw_body("text/csv", max_length=invitation_service.MAX_CSV_BYTES)
def import_invitations() -> Response:
    actor = allowed(Action.MANAGE_INVITATIONS, changes=True)
    text = body_text("text/csv")
    db = database.session()
    imported = invitation_service.import_csv(
        db,
        request_context(),
        text,
        ttl=policy.current()["INVITATION_TTL"],
        origin=current_app.config["ORIGIN"],
        actor_user_id=actor.id,
    )
    db.commit()
    return answer(ImportAnswer.from_imported(imported))
