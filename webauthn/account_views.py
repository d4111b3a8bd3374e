"""The account panel's API: the ID's sessions, its display name, deleting it. Each view parses,
calls one service function (webauthn/account.py), commits, and answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session

from core import db as database
from core.models import User
from core.web import (
    clear_session_cookie,
    json_body,
    request_context,
    required_str,
    signed_in_user,
)
from webauthn import account
from webauthn import views as passkey_views
from webauthn.views import settings

api = Blueprint("account_api", __name__, url_prefix="/api")


def session_json(info: account.SessionInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "device": info.device,
        "browser": info.browser,
        "ip": info.ip,
        "created_at": info.created_at.isoformat(),
        "last_seen_at": info.last_seen_at.isoformat(),
        "current": info.current,
    }


def _sessions() -> list[account.SessionInfo]:
    return account.list_sessions(
        database.session(), settings(), request_context(), user=signed_in_user()
    )


def _account_page(_db: Session, _user: User) -> dict[str, Any]:
    """The account page's sessions card (templates/webauthn/_panel.html)."""
    return {"sessions": _sessions()}


def register_page_extras() -> None:
    """Adds the sessions to the account page's context (once per process)."""
    if _account_page not in passkey_views.account_page_extras:
        passkey_views.account_page_extras.append(_account_page)


# ---- sessions ------------------------------------------------------------------------------


@api.get("/sessions")
def list_sessions() -> Response:
    return jsonify(sessions=[session_json(s) for s in _sessions()])


@api.delete("/sessions/<int:session_id>")
def end_session(session_id: int) -> Response:
    was_current = account.end_session(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        session_id=session_id,
    )
    database.session().commit()
    response = Response(status=204)
    if was_current:
        clear_session_cookie(response)
    return response


@api.post("/sessions/end-others")
def end_other_sessions() -> Response:
    json_body()
    ended = account.end_other_sessions(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return jsonify(ended=ended)


# ---- the ID itself -------------------------------------------------------------------------


@api.patch("/me")
def change_me() -> Response:
    data = json_body()
    user = account.change_display_name(
        database.session(),
        request_context(),
        user=signed_in_user(),
        display_name=required_str(data, "display_name"),
    )
    database.session().commit()
    return jsonify(user=user.to_json())


@api.delete("/me")
def delete_me() -> Response:
    data = json_body()
    account.delete_user(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        confirm=required_str(data, "confirm"),
    )
    database.session().commit()
    response = Response(status=204)
    clear_session_cookie(response)
    return response
