"""Partner websites from the admin API (``/api/admin/websites``): the OpenID Connect clients
``flask --app app clients …`` manages, on the same functions (``embed.clients``). Admins
only; every change needs a fresh verification and is audited with the administrator as actor.
A secret is shown once, in the answer that made it."""

from __future__ import annotations

from flask import Blueprint, Response

from admin.roles import Action
from admin.web import allowed
from admin.website_schemas import (
    CreatedWebsite,
    NewSecret,
    NewWebsite,
    WebsiteAnswer,
    WebsiteChanges,
    WebsitesAnswer,
    WebsiteSettings,
)
from core import db as database
from core.schemas import NoFields, answer, parse_body
from core.web import request_context
from embed import clients

api = Blueprint("admin_websites", __name__, url_prefix="/api/admin/websites")


@api.get("")
def websites() -> Response:
    allowed(Action.MANAGE_WEBSITES)
    found = clients.list_clients(database.session())
    return answer(WebsitesAnswer(websites=[WebsiteSettings.from_client(c) for c in found]))


@api.post("")
def create() -> Response:
    actor = allowed(Action.MANAGE_WEBSITES, changes=True)
    body = parse_body(NewWebsite)
    db = database.session()
    created = clients.create_client(
        db,
        request_context(),
        name=body.name,
        redirect_uris=body.redirect_uris,
        origins=body.origins,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        public=body.public,
        trusted=body.trusted,
        id_token_alg=body.id_token_alg,
        actor_user_id=actor.id,
    )
    db.commit()
    website = WebsiteSettings.from_client(created.client)
    return answer(CreatedWebsite(website=website, client_secret=created.secret), 201)


@api.get("/<client_id>")
def website(client_id: str) -> Response:
    allowed(Action.MANAGE_WEBSITES)
    client = clients.get_client(database.session(), client_id)
    return answer(WebsiteAnswer(website=WebsiteSettings.from_client(client)))


@api.patch("/<client_id>")
def update(client_id: str) -> Response:
    actor = allowed(Action.MANAGE_WEBSITES, changes=True)
    body = parse_body(WebsiteChanges)
    db = database.session()
    client = clients.update_client(
        db,
        request_context(),
        client_id,
        name=body.name,
        redirect_uris=body.redirect_uris,
        origins=body.origins,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        trusted=body.trusted,
        actor_user_id=actor.id,
    )
    db.commit()
    return answer(WebsiteAnswer(website=WebsiteSettings.from_client(client)))


@api.post("/<client_id>/secret")
def rotate_secret(client_id: str) -> Response:
    actor = allowed(Action.MANAGE_WEBSITES, changes=True)
    parse_body(NoFields)
    db = database.session()
    secret = clients.rotate_secret(db, request_context(), client_id, actor_user_id=actor.id)
    db.commit()
    client = clients.get_client(db, client_id)
    return answer(NewSecret(website=WebsiteSettings.from_client(client), client_secret=secret))


@api.delete("/<client_id>")
def delete(client_id: str) -> Response:
    actor = allowed(Action.MANAGE_WEBSITES, changes=True)
    db = database.session()
    clients.delete_client(db, request_context(), client_id, actor_user_id=actor.id)
    db.commit()
    return Response(status=204)
