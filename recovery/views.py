"""Backup and recovery pages and their JSON API. Each view parses, calls one service function,
commits, and answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

from core import db as database
from core import events, policy
from core.models import User
from core.ratelimit import rate_limited
from core.schemas import Extension, NoFields, UserOut, answer, parse_body
from core.web import (
    qr_svg,
    request_context,
    safe_next_path,
    set_session_cookie,
    signed_in_user,
)
from recovery import addresses, backup, pairing, restore
from recovery.schemas import (
    Awaiting,
    BackupPrompt,
    BackupRequired,
    BackupStatus,
    Confirmation,
    Decided,
    NewBackupCode,
    OneTimeCode,
    OtpSent,
    PairingCreated,
    PairingName,
    PairingOptions,
    PairingStatus,
    RecoveredOut,
    RecoveryBegin,
    RecoveryComplete,
    RecoveryOptions,
)
from recovery.web import settings
from webauthn import schemas as passkey_schemas
from webauthn import web as passkey_web
from webauthn.models import Device
from webauthn.schemas import NewCredential
from webauthn.web import settings as webauthn_settings

pages = Blueprint("recovery_pages", __name__)
api = Blueprint("recovery_api", __name__, url_prefix="/api")


def _backup_prompt(db: Session, user: User, _device: Device) -> BackupPrompt:
    return BackupPrompt(backup_prompt=backup.should_prompt(db, settings(), user))


def _backup_required(db: Session, user: User, _device: Device) -> BackupRequired:
    return BackupRequired(backup_required=settings().mode == "on_enrollment")


BACKUP_PROMPT = Extension(BackupPrompt, _backup_prompt)
BACKUP_REQUIRED = Extension(BackupRequired, _backup_required)


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
    if _account_backup not in passkey_web.account_page_extras:
        passkey_web.account_page_extras.append(_account_backup)
    if _account_pairing not in passkey_web.account_page_extras:
        passkey_web.account_page_extras.append(_account_pairing)
    if BACKUP_PROMPT not in passkey_schemas.sign_in_answer_extras:
        passkey_schemas.sign_in_answer_extras.append(BACKUP_PROMPT)
    if BACKUP_REQUIRED not in passkey_schemas.sign_up_answer_extras:
        passkey_schemas.sign_up_answer_extras.append(BACKUP_REQUIRED)
    # A new ID's address gets a code to confirm it (one subscription however often this runs).
    events.subscribe(events.UserRegistered, _confirm_new_address)


_confirm_new_address = addresses.on_user_registered(settings)


# ---- pages ---------------------------------------------------------------------------------


@pages.get("/recover")
def recover() -> str:
    # A reload resumes this browser's recovery where it is (the server holds the flow).
    stage = restore.recovery_stage(database.session(), request_context())
    return render_template(
        "recovery/recover.html",
        mode_choice=not settings().restore_removes_old_devices,
        code_delivery=settings().delivery,
        otp_digits=settings().otp.digits,
        step=stage.step,
        sent_to=stage.sent_to,
    )


@pages.get("/account/backup")
def backup_page() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/backup")
    user = signed_in_user()
    return render_template(
        "recovery/backup.html",
        user=UserOut.from_user(user).to_json(),
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
    status = backup.backup_status(database.session(), settings(), user)
    return answer(BackupStatus.model_validate(status))


@api.post("/backup/activate")
@rate_limited
def activate() -> Response:
    parse_body(NoFields)
    masked = backup.start_activation(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/backup/regenerate")
@rate_limited
def regenerate() -> Response:
    parse_body(NoFields)
    masked = backup.start_regeneration(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/backup/confirm")
@rate_limited
def confirm() -> Response:
    body = parse_body(OneTimeCode)
    new_code = backup.confirm_email_code(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        typed=body.otp,
    )
    database.session().commit()
    return answer(NewBackupCode.from_code(new_code))


# ---- recovery ------------------------------------------------------------------------------


@api.post("/recovery/begin")
@rate_limited
def recovery_begin() -> Response:
    body = parse_body(RecoveryBegin)
    masked = restore.begin_recovery(
        database.session(),
        settings(),
        request_context(),
        username=body.username,
        backup_code=body.backup_code,
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/recovery/verify")
@rate_limited
def recovery_verify() -> Response:
    body = parse_body(OneTimeCode)
    options = restore.verify_recovery_code(
        database.session(),
        settings(),
        webauthn_settings(),
        request_context(),
        typed=body.otp,
    )
    database.session().commit()
    return answer(RecoveryOptions.model_validate(options))


@api.post("/recovery/options")
@rate_limited
def recovery_options() -> Response:
    parse_body(NoFields)
    options = restore.recovery_options(
        database.session(), settings(), webauthn_settings(), request_context()
    )
    database.session().commit()
    return answer(RecoveryOptions.model_validate(options))


@api.post("/recovery/complete")
@rate_limited
def recovery_complete() -> Response:
    body = parse_body(RecoveryComplete)
    result = restore.complete_recovery(
        database.session(),
        settings(),
        webauthn_settings(),
        request_context(),
        body.credential,
        mode=body.mode,
        device_name=body.device_name,
    )
    database.session().commit()
    response = answer(RecoveredOut.from_result(result), 201)
    set_session_cookie(response, result.session_token)
    return response


# ---- pairing by QR code --------------------------------------------------------------------


@pages.get("/pair/<token>")
def pair_page(token: str) -> tuple[str, int]:
    # Says on load whether the link can still be used (a used or expired one shows no form);
    # only the browser that redeemed it sees its number and outcome.
    state = pairing.page_state(database.session(), request_context(), token=token)
    database.session().commit()  # an expired pairing was just closed
    html = render_template(
        "recovery/pair.html", token=token, phase=state.phase, confirmation=state.confirmation
    )
    return html, 404 if state.phase == "invalid" else 200


@api.post("/pairing")
@rate_limited
def pairing_start() -> Response:
    parse_body(NoFields)
    created = pairing.start(
        database.session(),
        webauthn_settings(),
        request_context(),
        user=signed_in_user(),
        origin=current_app.config["ORIGIN"],
        ttl=policy.current()["PAIRING_TTL"],
    )
    database.session().commit()
    return answer(
        PairingCreated(
            token=created.token,
            url=created.url,
            qr_svg=qr_svg(created.url),
            expires_at=created.expires_at,
        ),
        201,
    )


@api.get("/pairing/<token>")
def pairing_status(token: str) -> Response:
    result = pairing.view(
        database.session(),
        webauthn_settings(),
        request_context(),
        token=token,
        viewer=signed_in_user() if current_user.is_authenticated else None,
    )
    database.session().commit()
    response = answer(PairingStatus.from_view(result))
    if result.session_token:
        set_session_cookie(response, result.session_token)
    return response


@api.post("/pairing/<token>/begin")
@rate_limited
def pairing_begin(token: str) -> Response:
    body = parse_body(PairingName)
    options = pairing.begin_redeem(
        database.session(),
        webauthn_settings(),
        request_context(),
        token=token,
        device_name=body.device_name,
    )
    database.session().commit()
    return answer(PairingOptions.model_validate(options))


@api.post("/pairing/<token>/complete")
@rate_limited
def pairing_complete(token: str) -> Response:
    body = parse_body(NewCredential)
    result = pairing.complete_redeem(
        database.session(),
        webauthn_settings(),
        request_context(),
        body.credential,
        token=token,
        device_name=body.device_name,
    )
    database.session().commit()
    return answer(Awaiting.model_validate(result), 202)


def _decide(token: str, approve: bool, confirmation: str | None) -> Response:
    result = pairing.decide(
        database.session(),
        webauthn_settings(),
        request_context(),
        token=token,
        approve=approve,
        confirmation=confirmation,
        user=signed_in_user(),
    )
    database.session().commit()
    return answer(Decided.from_decision(result))


@api.post("/pairing/<token>/approve")
def pairing_approve(token: str) -> Response:
    body = parse_body(Confirmation)
    return _decide(token, approve=True, confirmation=body.confirmation)


@api.post("/pairing/<token>/reject")
def pairing_reject(token: str) -> Response:
    parse_body(NoFields)
    return _decide(token, approve=False, confirmation=None)
