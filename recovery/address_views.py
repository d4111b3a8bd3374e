"""The ID's addresses over JSON: confirm the sign-in address, change it, add a backup address.
Each view parses, calls one function of ``recovery.addresses``, commits and answers."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from core import db as database
from core.ratelimit import rate_limited
from core.web import (
    client_info,
    current_login_session,
    json_body,
    now,
    required_str,
    signed_in_user,
)
from recovery import addresses
from recovery.web import settings

api = Blueprint("addresses", __name__, url_prefix="/api")


@api.post("/me/email/verify")
@rate_limited
def send_verification() -> Response:
    json_body()
    masked = addresses.send_verification(
        database.session(), settings(), user=signed_in_user(), client=client_info(), now=now()
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/email")
@rate_limited
def change() -> Response:
    data = json_body()
    masked = addresses.start_change(
        database.session(),
        settings(),
        user=signed_in_user(),
        email=required_str(data, "email"),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/email/confirm")
@rate_limited
def confirm() -> Response:
    data = json_body()
    user = addresses.confirm(
        database.session(),
        settings(),
        user=signed_in_user(),
        typed=required_str(data, "otp"),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(user=user.to_json())


@api.post("/me/backup-email")
@rate_limited
def backup_address() -> Response:
    data = json_body()
    masked = addresses.start_backup_address(
        database.session(),
        settings(),
        user=signed_in_user(),
        email=required_str(data, "email"),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/backup-email/confirm")
@rate_limited
def confirm_backup_address() -> Response:
    data = json_body()
    user = addresses.confirm_backup_address(
        database.session(),
        settings(),
        user=signed_in_user(),
        typed=required_str(data, "otp"),
        login_session=current_login_session(),
        client=client_info(),
        now=now(),
    )
    database.session().commit()
    return jsonify(user=user.to_json())
