"""The account panel's API: the ID's sessions, its display name, deleting it. Each view parses,
calls one service function (webauthn/account.py), commits, and answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from core import db as database
from core.models import User
from core.schemas import NoFields, UserAnswer, UserOut, answer, parse_body
from core.web import (
    clear_session_cookie,
    request_context,
    signed_in_user,
)
from webauthn import account
from webauthn.schemas import ChangeDisplayName, DeleteId, Ended, SessionOut, SessionsOut
from webauthn.web import account_page_extras, settings

api = Blueprint("account_api", __name__, url_prefix="/api")


def _sessions() -> list[account.SessionInfo]:
    return account.list_sessions(
        database.session(), settings(), request_context(), user=signed_in_user()
    )


def _account_page(_db: Session, _user: User) -> dict[str, Any]:
    """The account page's sessions card (templates/webauthn/_panel.html)."""
    return {"sessions": _sessions()}


def register_page_extras() -> None:
    """Adds the sessions to the account page's context (once per process)."""
    if _account_page not in account_page_extras:
        account_page_extras.append(_account_page)


# ---- sessions ------------------------------------------------------------------------------


@api.get("/sessions")
def list_sessions() -> Response:
    return answer(SessionsOut(sessions=[SessionOut.from_info(s) for s in _sessions()]))


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
    parse_body(NoFields)
    ended = account.end_other_sessions(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return answer(Ended(ended=ended))


# ---- the ID itself -------------------------------------------------------------------------


@api.patch("/me")
def change_me() -> Response:
    body = parse_body(ChangeDisplayName)
    user = account.change_display_name(
        database.session(),
        request_context(),
        user=signed_in_user(),
        display_name=body.display_name,
    )
    database.session().commit()
    return answer(UserAnswer(user=UserOut.from_user(user)))


@api.delete("/me")
def delete_me() -> Response:
    body = parse_body(DeleteId)
    account.delete_user(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        confirm=body.confirm,
    )
    database.session().commit()
    response = Response(status=204)
    clear_session_cookie(response)
    return response
