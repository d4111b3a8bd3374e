"""The owner's view of the websites its ID signs in to: the list (the account page's
"Connected websites" card and ``GET /api/connections``) and Disconnect. Each view parses, calls
one service function (embed/tokens.py), commits, and answers.

webauthn renders the account page and must not import this feature: ``register_page_extras``
hands it the list through ``webauthn.web.account_page_extras``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from core import db as database
from core.models import User
from core.schemas import answer
from core.web import request_context, signed_in_user
from embed import tokens
from embed.connection_schemas import ConnectionOut, ConnectionsOut
from webauthn.web import account_page_extras

connections = Blueprint("connections", __name__, url_prefix="/api")


def _connections(db: Session, user: User) -> list[ConnectionOut]:
    return [ConnectionOut.from_row(c, client) for c, client in tokens.connections_of(db, user.id)]


def _account_page(db: Session, user: User) -> dict[str, Any]:
    """The account page's "Connected websites" card (templates/webauthn/account.html)."""
    return {"connections": [c.to_json() for c in _connections(db, user)]}


def register_page_extras() -> None:
    """Adds the connected websites to the account page's context (once per process)."""
    if _account_page not in account_page_extras:
        account_page_extras.append(_account_page)


@connections.get("/connections")
def list_connections() -> Response:
    found = _connections(database.session(), signed_in_user())
    return answer(ConnectionsOut(connections=found))


@connections.delete("/connections/<int:connection_id>")
def disconnect(connection_id: int) -> Response:
    tokens.disconnect(
        database.session(),
        request_context(),
        user_id=signed_in_user().id,
        connection_id=connection_id,
    )
    database.session().commit()
    return Response(status=204)
