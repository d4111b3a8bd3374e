"""Sign-in pages and the passkey JSON API. Each view parses, calls one service function,
commits, and answers."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from core import db as database
from core.encoding import b64url
from core.ratelimit import rate_limited
from core.schemas import Extension, NoFields, UserOut, answer, parse_body
from core.users import USERNAME
from core.web import (
    clear_session_cookie,
    current_login_session,
    request_context,
    safe_next_path,
    set_session_cookie,
    signed_in_user,
)

# Aliased: the views devices() and signin() hold the plain names (they are endpoint names).
from webauthn import devices as device_service
from webauthn import invitations as invitation_service
from webauthn import signin as signin_service
from webauthn.models import Device, DeviceStatus
from webauthn.schemas import (
    AcceptedCredentials,
    Assertion,
    CreationOptions,
    DeviceAnswer,
    DeviceOut,
    DevicesOut,
    Me,
    NameDevice,
    NewCredential,
    RenameDevice,
    RequestOptions,
    SignedIn,
    SignInBegin,
    SignUpBegin,
    sign_in_answer_extras,
    sign_up_answer_extras,
)
from webauthn.web import account_page_extras, settings

pages = Blueprint("pages", __name__)
api = Blueprint("webauthn_api", __name__, url_prefix="/api")
# Pages compare a device's status with the names declared once, here too (not their own strings).
pages.add_app_template_global(DeviceStatus, "DeviceStatus")


def _current_device_id() -> int | None:
    login_session = current_login_session()
    return login_session.device_id if login_session else None


def _signed_in_answer(
    result: signin_service.SignIn,
    status: int,
    extras: list[Extension],
) -> Response:
    body = SignedIn(
        user=UserOut.from_user(result.user),
        device=DeviceOut.from_device(result.device, result.device.id),
    ).to_json()
    for extra in extras:
        body.update(extra.build(database.session(), result.user, result.device).to_json())
    response = jsonify(body)
    response.status_code = status
    set_session_cookie(response, result.session_token)
    return response


# ---- pages ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    return safe_next_path(target, url_for("pages.account"))


@pages.get("/")
@pages.get("/signin")
def signin() -> ResponseReturnValue:
    """``next``: where to go after signing in (a path on this site). ``fresh=1``: sign in
    again even when signed in (a website asked for a new sign-in). ``direct=1``: go straight
    to ``next``, without the backup prompt or the notifications page (a website is waiting;
    those wait for the next visit to Keystead itself). ``hint``: a username to fill in."""
    next_url = _safe_next(request.args.get("next"))
    if current_user.is_authenticated and request.args.get("fresh") != "1":
        return redirect(next_url)
    direct = request.args.get("direct") == "1"
    # A website's login_hint: the username to offer (the person may change it).
    hint = request.args.get("hint", "")[: USERNAME.max_length]
    return render_template("webauthn/signin.html", next_url=next_url, direct=direct, hint=hint)


@pages.get("/signup")
def signup() -> ResponseReturnValue:
    """``next``: where the new ID goes once created (a website waiting for a sign-in, as the
    sign-in page's "Create an ID" link passes it on); the backup set-up comes first when the
    policy says backup is part of enrollment. ``invitation``: an invitation's token (its
    link): the page fills in its address and username; without one, a server whose
    registration is not open says so (its error's own words) instead of showing the form."""
    next_url = _safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    offer = invitation_service.sign_up_offer(
        database.session(),
        settings().registration,
        request.args.get("invitation"),
        request_context().now,
    )
    return render_template("webauthn/signup.html", next_url=next_url, offer=offer)


@pages.get("/account")
def account() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect(url_for("pages.signin", next="/account"))
    user = signed_in_user()
    current = _current_device_id()
    db = database.session()
    devices = [
        DeviceOut.from_device(d, current).to_json() for d in device_service.list_devices(db, user)
    ]
    extras: dict[str, Any] = {}
    for extra in account_page_extras:
        extras.update(extra(db, user))
    return render_template(
        "webauthn/account.html", user=UserOut.from_user(user).to_json(), devices=devices, **extras
    )


# ---- sign up -------------------------------------------------------------------------------


@api.post("/register/begin")
@rate_limited
def register_begin() -> Response:
    body = parse_body(SignUpBegin)
    options = signin_service.begin_registration(
        database.session(),
        settings(),
        request_context(),
        username=body.username,
        email=body.email,
        display_name=body.display_name,
        invitation=body.invitation,
    )
    database.session().commit()
    return answer(CreationOptions.model_validate(options))


@api.post("/register/complete")
@rate_limited
def register_complete() -> Response:
    body = parse_body(NewCredential)
    result = signin_service.complete_registration(
        database.session(),
        settings(),
        request_context(),
        body.credential,
        device_name=body.device_name,
    )
    database.session().commit()
    return _signed_in_answer(result, 201, sign_up_answer_extras)


# ---- sign in -------------------------------------------------------------------------------


@api.post("/authenticate/begin")
@rate_limited
def authenticate_begin() -> Response:
    body = parse_body(SignInBegin)
    options = signin_service.begin_authentication(
        database.session(), settings(), request_context(), username=body.username
    )
    database.session().commit()
    return answer(RequestOptions.model_validate(options))


@api.post("/authenticate/complete")
@rate_limited
def authenticate_complete() -> Response:
    body = parse_body(Assertion)
    result = signin_service.complete_authentication(
        database.session(), settings(), request_context(), body.credential
    )
    database.session().commit()
    return _signed_in_answer(result, 200, sign_in_answer_extras)


@api.post("/logout")
def logout() -> Response:
    user = signed_in_user() if current_user.is_authenticated else None
    signin_service.sign_out(database.session(), request_context(), user=user)
    database.session().commit()
    response = Response(status=204)
    clear_session_cookie(response)
    return response


# ---- the signed-in ID and its devices ------------------------------------------------------


def _devices() -> list[DeviceOut]:
    user = signed_in_user()
    current = _current_device_id()
    return [
        DeviceOut.from_device(d, current)
        for d in device_service.list_devices(database.session(), user)
    ]


@api.get("/me")
def me() -> Response:
    user = signed_in_user()
    devices = _devices()
    # What the pages hand to PublicKeyCredential.signalAllAcceptedCredentials, so passkeys of
    # removed or blocked devices disappear from the user's password manager too.
    signal = AcceptedCredentials(
        rpId=settings().rp.id,
        userId=b64url(user.user_handle),
        allAcceptedCredentialIds=[
            d.credential_id for d in devices if d.status == DeviceStatus.ACTIVE
        ],
    )
    return answer(Me(user=UserOut.from_user(user), devices=devices, signal=signal))


@api.get("/devices")
def devices() -> Response:
    return answer(DevicesOut(devices=_devices()))


@api.post("/devices/register/begin")
@rate_limited
def add_device_begin() -> Response:
    body = parse_body(NameDevice)
    options = device_service.begin_add_device(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        device_name=body.device_name,
    )
    database.session().commit()
    return answer(CreationOptions.model_validate(options))


@api.post("/devices/register/complete")
@rate_limited
def add_device_complete() -> Response:
    body = parse_body(NewCredential)
    device = device_service.complete_add_device(
        database.session(),
        settings(),
        request_context(),
        body.credential,
        user=signed_in_user(),
        device_name=body.device_name,
    )
    database.session().commit()
    return _device_answer(device, 201)


@api.patch("/devices/<int:device_id>")
def rename_device(device_id: int) -> Response:
    body = parse_body(RenameDevice)
    device = device_service.rename_device(
        database.session(),
        request_context(),
        user=signed_in_user(),
        device_id=device_id,
        name=body.name,
    )
    database.session().commit()
    return _device_answer(device)


@api.delete("/devices/<int:device_id>")
def remove_device(device_id: int) -> Response:
    device_service.remove_device(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        device_id=device_id,
    )
    database.session().commit()
    return Response(status=204)


@api.post("/devices/<int:device_id>/block")
def block_device(device_id: int) -> Response:
    parse_body(NoFields)
    device = device_service.block_device(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        device_id=device_id,
    )
    database.session().commit()
    return _device_answer(device)


def _device_answer(device: Device, status: int = 200) -> Response:
    return answer(DeviceAnswer(device=DeviceOut.from_device(device, _current_device_id())), status)


# ---- step-up -------------------------------------------------------------------------------


@api.post("/reauth/begin")
@rate_limited
def reauth_begin() -> Response:
    parse_body(NoFields)
    options = signin_service.begin_reauth(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return answer(RequestOptions.model_validate(options))


@api.post("/reauth/complete")
@rate_limited
def reauth_complete() -> Response:
    body = parse_body(Assertion)
    signin_service.complete_reauth(
        database.session(), settings(), request_context(), body.credential, user=signed_in_user()
    )
    database.session().commit()
    return Response(status=204)
