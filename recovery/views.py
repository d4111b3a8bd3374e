"""Backup and recovery pages and their JSON API. Each view parses, calls one service function,
commits, and answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask_login import current_user
from sqlalchemy.orm import Session

from core import db as database
from core import events, policy
from core.models import User
from core.security import rate_limited
from core.web import (
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
from recovery import address_views, addresses, backup, pairing, restore
from recovery.settings import BackupSettings
from webauthn import views as passkey_views
from webauthn.devices import device_json
from webauthn.models import Device
from webauthn.views import settings as webauthn_settings

pages = Blueprint("recovery_pages", __name__)
api = Blueprint("recovery_api", __name__, url_prefix="/api")
api.register_blueprint(address_views.api)


def settings() -> BackupSettings:
    return policy.current().settings(BackupSettings.from_config)


def _backup_prompt(db: Session, user: User, _device: Device) -> dict[str, Any]:
    return {"backup_prompt": backup.should_prompt(db, settings(), user)}


def _backup_required(db: Session, user: User, _device: Device) -> dict[str, Any]:
    return {"backup_required": settings().mode == "on_enrollment"}


def _account_backup(db: Session, user: User) -> dict[str, Any]:
    return {
        "backup": backup.backup_status(db, settings(), user),
        "otp_digits": settings().otp.digits,
    }


def _account_pairing(_db: Session, _user: User) -> dict[str, Any]:
    return {"pairing_ttl": policy.current()["PAIRING_TTL"]}


def register_answer_extras() -> None:
    """Adds the backup keys to the sign-in and sign-up answers and the account page (once per
    process)."""
    if _account_backup not in passkey_views.account_page_extras:
        passkey_views.account_page_extras.append(_account_backup)
    if _account_pairing not in passkey_views.account_page_extras:
        passkey_views.account_page_extras.append(_account_pairing)
    if _backup_prompt not in passkey_views.sign_in_answer_extras:
        passkey_views.sign_in_answer_extras.append(_backup_prompt)
    if _backup_required not in passkey_views.sign_up_answer_extras:
        passkey_views.sign_up_answer_extras.append(_backup_required)
    # A new ID's address gets a code to confirm it (blinker keeps one connection).
    events.user_registered.connect(_confirm_new_address, weak=False)


_confirm_new_address = addresses.on_user_registered(settings)


# ---- pages ---------------------------------------------------------------------------------


@pages.get("/recover")
def recover() -> str:
    # A reload resumes this browser's recovery where it is (the server holds the flow).
    stage = restore.recovery_stage(database.session(), client=client_info(), now=now())
    return render_template(
        "recovery/recover.html",
        mode_choice=not settings().restore_removes_old_devices,
        code_delivery=settings().delivery,
        otp_digits=settings().otp.digits,
        step=stage.step,
        sent_to=stage.sent_to,
    )


@pages.get("/account/backup")
def backup_page() -> Response | str:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/backup")
    user = signed_in_user()
    return render_template(
        "recovery/backup.html",
        user=user.to_json(),
        backup=backup.backup_status(database.session(), settings(), user),
        prompt=request.args.get("prompt") == "1",
        next_url=safe_next_path(request.args.get("next")),
        otp_digits=settings().otp.digits,
        reauth_max_age=settings().reauth_max_age,
    )


# ---- backup --------------------------------------------------------------------------------


@api.get("/backup")
def backup_status() -> Response:
    user = signed_in_user()
    return jsonify(backup.backup_status(database.session(), settings(), user))


@api.post("/backup/activate")
@rate_limited
def activate() -> Response:
    json_body()
    masked = backup.start_activation(
        database.session(), settings(), user=signed_in_user(), client=client_info(), now=now()
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/backup/regenerate")
@rate_limited
def regenerate() -> Response:
    json_body()
    masked = backup.start_regeneration(
        database.session(),
        settings(),
        user=signed_in_user(),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/backup/confirm")
@rate_limited
def confirm() -> Response:
    data = json_body()
    new_code = backup.confirm_email_code(
        database.session(),
        settings(),
        user=signed_in_user(),
        typed=required_str(data, "otp"),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    if new_code.code is None:
        return jsonify(delivered="email")
    return jsonify(backup_code=new_code.code)


# ---- recovery ------------------------------------------------------------------------------


@api.post("/recovery/begin")
@rate_limited
def recovery_begin() -> Response:
    data = json_body()
    masked = restore.begin_recovery(
        database.session(),
        settings(),
        username=required_str(data, "username"),
        backup_code=required_str(data, "backup_code"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/recovery/verify")
@rate_limited
def recovery_verify() -> Response:
    data = json_body()
    options = restore.verify_recovery_code(
        database.session(),
        settings(),
        webauthn_settings(),
        typed=required_str(data, "otp"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(options)


@api.post("/recovery/options")
@rate_limited
def recovery_options() -> Response:
    json_body()
    options = restore.recovery_options(
        database.session(), settings(), webauthn_settings(), client=client_info(), now=now()
    )
    database.session().commit()
    return jsonify(options)


@api.post("/recovery/complete")
@rate_limited
def recovery_complete() -> Response:
    data = json_body()
    result = restore.complete_recovery(
        database.session(),
        settings(),
        webauthn_settings(),
        data,
        mode=required_str(data, "mode"),
        device_name=optional_str(data, "device_name"),
        client=client_info(),
        now=now(),
        previous_session_token=current_session_token(),
    )
    database.session().commit()
    response = jsonify(
        user=result.user.to_json(),
        device=device_json(result.device, result.device.id),
        mode=result.mode,
        **result.new_code.to_json(),
    )
    response.status_code = 201
    set_session_cookie(response, result.session_token)
    return response


# ---- pairing by QR code --------------------------------------------------------------------


@pages.get("/pair/<token>")
def pair_page(token: str) -> tuple[str, int]:
    # Says on load whether the link can still be used (a used or expired one shows no form);
    # only the browser that redeemed it sees its number and outcome.
    state = pairing.page_state(database.session(), token=token, client=client_info(), now=now())
    database.session().commit()  # an expired pairing was just closed
    html = render_template(
        "recovery/pair.html", token=token, phase=state.phase, confirmation=state.confirmation
    )
    return html, 404 if state.phase == "invalid" else 200


@api.post("/pairing")
@rate_limited
def pairing_start() -> Response:
    json_body()
    created = pairing.start(
        database.session(),
        webauthn_settings(),
        user=signed_in_user(),
        login_session=current_login_session(),
        origin=current_app.config["ORIGIN"],
        ttl=policy.current()["PAIRING_TTL"],
        now=now(),
    )
    database.session().commit()
    return jsonify(created), 201


@api.get("/pairing/<token>")
def pairing_status(token: str) -> Response:
    result = pairing.view(
        database.session(),
        webauthn_settings(),
        token=token,
        viewer=signed_in_user() if current_user.is_authenticated else None,
        client=client_info(),
        now=now(),
        previous_session_token=current_session_token(),
    )
    database.session().commit()
    response = jsonify(result.body)
    if result.session_token:
        set_session_cookie(response, result.session_token)
    return response


@api.post("/pairing/<token>/begin")
@rate_limited
def pairing_begin(token: str) -> Response:
    data = json_body()
    options = pairing.begin_redeem(
        database.session(),
        webauthn_settings(),
        token=token,
        device_name=optional_str(data, "device_name"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(options)


@api.post("/pairing/<token>/complete")
@rate_limited
def pairing_complete(token: str) -> Response:
    data = json_body()
    result = pairing.complete_redeem(
        database.session(),
        webauthn_settings(),
        data,
        token=token,
        device_name=optional_str(data, "device_name"),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(result), 202


def _decide(token: str, approve: bool) -> Response:
    data = json_body()
    result = pairing.decide(
        database.session(),
        webauthn_settings(),
        token=token,
        approve=approve,
        confirmation=required_str(data, "confirmation") if approve else None,
        user=signed_in_user(),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(result)


@api.post("/pairing/<token>/approve")
def pairing_approve(token: str) -> Response:
    return _decide(token, approve=True)


@api.post("/pairing/<token>/reject")
def pairing_reject(token: str) -> Response:
    return _decide(token, approve=False)
