"""Sign-in pages and the passkey JSON API. Each view parses, calls one service function,
commits, and answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fido2.utils import websafe_encode
from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import Session

from core import db as database
from core import policy
from core.models import User
from core.security import rate_limited
from core.web import (
    clear_session_cookie,
    client_info,
    current_login_session,
    current_session_token,
    json_body,
    now,
    optional_str,
    required_str,
    safe_next_path,
    set_session_cookie,
    signed_in_user,
)

# Aliased: the views devices() and signin() hold the plain names (they are endpoint names).
from webauthn import devices as device_service
from webauthn import signin as signin_service
from webauthn.models import Device
from webauthn.settings import Settings

pages = Blueprint("pages", __name__)
api = Blueprint("webauthn_api", __name__, url_prefix="/api")

# Features above this one add keys to the sign-in and sign-up answers (recovery adds
# "backup_prompt" / "backup_required", notify the unread "notifications") without this
# package importing them: each is called with (db session, user, device) and returns a dict
# merged into the JSON answer.
AnswerExtra = Callable[[Session, User, Device], dict[str, Any]]
sign_in_answer_extras: list[AnswerExtra] = []
sign_up_answer_extras: list[AnswerExtra] = []
# Likewise for the account page's template context (recovery adds "backup").
account_page_extras: list[Callable[[Session, User], dict[str, Any]]] = []


def settings() -> Settings:
    return policy.current().settings(Settings.from_config)


def _current_device_id() -> int | None:
    login_session = current_login_session()
    return login_session.device_id if login_session else None


def _signed_in_answer(
    result: signin_service.SignIn,
    status: int,
    extras: list[AnswerExtra],
) -> Response:
    body: dict[str, Any] = {
        "user": result.user.to_json(),
        "device": device_service.device_json(result.device, result.device.id),
    }
    for extra in extras:
        body.update(extra(database.session(), result.user, result.device))
    response = jsonify(body)
    response.status_code = status
    set_session_cookie(response, result.session_token)
    return response


def _device_name(data: dict) -> str | None:
    return optional_str(data, "device_name")


# ---- pages ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    return safe_next_path(target, url_for("pages.account"))


@pages.get("/")
@pages.get("/signin")
def signin() -> Response | str:
    next_url = _safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    return render_template("webauthn/signin.html", next_url=next_url)


@pages.get("/signup")
def signup() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("pages.account"))
    return render_template("webauthn/signup.html")


@pages.get("/account")
def account() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("pages.signin", next="/account"))
    user = signed_in_user()
    current = _current_device_id()
    db = database.session()
    devices = [
        device_service.device_json(d, current) for d in device_service.list_devices(db, user)
    ]
    extras: dict[str, Any] = {}
    for extra in account_page_extras:
        extras.update(extra(db, user))
    return render_template("webauthn/account.html", user=user.to_json(), devices=devices, **extras)


# ---- sign up -------------------------------------------------------------------------------


@api.post("/register/begin")
@rate_limited
def register_begin() -> Response:
    data = json_body()
    options = signin_service.begin_registration(
        database.session(),
        settings(),
        username=required_str(data, "username"),
        email=required_str(data, "email"),
        display_name=optional_str(data, "display_name"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(options)


@api.post("/register/complete")
@rate_limited
def register_complete() -> Response:
    data = json_body()
    result = signin_service.complete_registration(
        database.session(),
        settings(),
        data,
        device_name=_device_name(data),
        client=client_info(),
        now=now(),
        previous_session_token=current_session_token(),
    )
    database.session().commit()
    return _signed_in_answer(result, 201, sign_up_answer_extras)


# ---- sign in -------------------------------------------------------------------------------


@api.post("/authenticate/begin")
@rate_limited
def authenticate_begin() -> Response:
    data = json_body()
    options = signin_service.begin_authentication(
        database.session(),
        settings(),
        username=optional_str(data, "username"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(options)


@api.post("/authenticate/complete")
@rate_limited
def authenticate_complete() -> Response:
    data = json_body()
    result = signin_service.complete_authentication(
        database.session(),
        settings(),
        data,
        client=client_info(),
        now=now(),
        previous_session_token=current_session_token(),
    )
    database.session().commit()
    return _signed_in_answer(result, 200, sign_in_answer_extras)


@api.post("/logout")
def logout() -> Response:
    user = signed_in_user() if current_user.is_authenticated else None
    signin_service.sign_out(
        database.session(),
        user=user,
        session_token=current_session_token(),
        client=client_info(),
        device_id=_current_device_id(),
        now=now(),
    )
    database.session().commit()
    response = Response(status=204)
    clear_session_cookie(response)
    return response


# ---- the signed-in ID and its devices ------------------------------------------------------


def _devices_json() -> list[dict]:
    user = signed_in_user()
    current = _current_device_id()
    return [
        device_service.device_json(d, current)
        for d in device_service.list_devices(database.session(), user)
    ]


@api.get("/me")
def me() -> Response:
    user = signed_in_user()
    devices = _devices_json()
    # What the pages hand to PublicKeyCredential.signalAllAcceptedCredentials, so passkeys of
    # removed or blocked devices disappear from the user's password manager too.
    signal = {
        "rpId": settings().rp.id,
        "userId": websafe_encode(user.user_handle),
        "allAcceptedCredentialIds": [
            d["credential_id"] for d in devices if d["status"] == "active"
        ],
    }
    return jsonify(user=user.to_json(), devices=devices, signal=signal)


@api.get("/devices")
def devices() -> Response:
    return jsonify(devices=_devices_json())


@api.post("/devices/register/begin")
@rate_limited
def add_device_begin() -> Response:
    data = json_body()
    options = device_service.begin_add_device(
        database.session(),
        settings(),
        user=signed_in_user(),
        device_name=_device_name(data),
        client=client_info(),
        now=now(),
        login_session=current_login_session(),
    )
    database.session().commit()
    return jsonify(options)


@api.post("/devices/register/complete")
@rate_limited
def add_device_complete() -> Response:
    data = json_body()
    device = device_service.complete_add_device(
        database.session(),
        settings(),
        data,
        user=signed_in_user(),
        device_name=_device_name(data),
        client=client_info(),
        now=now(),
        login_session=current_login_session(),
    )
    database.session().commit()
    return jsonify(device=device_service.device_json(device, _current_device_id())), 201


@api.patch("/devices/<int:device_id>")
def rename_device(device_id: int) -> Response:
    data = json_body()
    device = device_service.rename_device(
        database.session(),
        user=signed_in_user(),
        device_id=device_id,
        name=required_str(data, "name"),
        client=client_info(),
    )
    database.session().commit()
    return jsonify(device=device_service.device_json(device, _current_device_id()))


@api.delete("/devices/<int:device_id>")
def remove_device(device_id: int) -> Response:
    device_service.remove_device(
        database.session(),
        settings(),
        user=signed_in_user(),
        device_id=device_id,
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return Response(status=204)


@api.post("/devices/<int:device_id>/block")
def block_device(device_id: int) -> Response:
    json_body()
    device = device_service.block_device(
        database.session(),
        settings(),
        user=signed_in_user(),
        device_id=device_id,
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(device=device_service.device_json(device, _current_device_id()))


# ---- step-up -------------------------------------------------------------------------------


@api.post("/reauth/begin")
@rate_limited
def reauth_begin() -> Response:
    json_body()
    options = signin_service.begin_reauth(
        database.session(), settings(), user=signed_in_user(), client=client_info(), now=now()
    )
    database.session().commit()
    return jsonify(options)


@api.post("/reauth/complete")
@rate_limited
def reauth_complete() -> Response:
    data = json_body()
    signin_service.complete_reauth(
        database.session(),
        settings(),
        data,
        user=signed_in_user(),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return Response(status=204)
