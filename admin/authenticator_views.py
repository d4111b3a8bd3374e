"""``/api/admin/authenticators``: the authenticator models of the loaded FIDO Metadata Service
BLOB (admins only), for picking the ALLOWED_AUTHENTICATORS policy, and loading a new BLOB (as
``flask --app app mds load FILE`` does)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from admin.authenticator_schemas import AuthenticatorsAnswer, BlobUpload
from admin.roles import Action
from admin.web import allowed
from core import db as database
from core.schemas import answer, parse_body
from core.web import request_context
from webauthn import metadata
from webauthn.web import settings

api = Blueprint("admin_authenticators", __name__, url_prefix="/api/admin")


@api.get("/authenticators")
def authenticators() -> Response:
    allowed(Action.MANAGE_AUTHENTICATORS)
    overview = metadata.overview(database.session(), settings().authenticators)
    return answer(AuthenticatorsAnswer.from_overview(overview))


@api.post("/authenticators/blob")
def upload_blob() -> Response:
    actor = allowed(Action.MANAGE_AUTHENTICATORS, changes=True)
    # A BLOB is megabytes; only this endpoint, and only for an admin, reads that much.
    request.max_content_length = metadata.MAX_BLOB_BYTES + 1024
    body = parse_body(BlobUpload)
    db = database.session()
    metadata.load_blob(
        db,
        request_context(),
        body.blob.encode("utf-8"),
        trust_root_path=current_app.config["MDS_TRUST_ROOT"],
        actor_user_id=actor.id,
    )
    db.commit()
    overview = metadata.overview(db, settings().authenticators)
    return answer(AuthenticatorsAnswer.from_overview(overview))
