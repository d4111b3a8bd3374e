"""The ID's addresses over JSON: confirm the sign-in address, change it, add a backup address.
Each view parses, calls one function of ``recovery.addresses``, commits and answers."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from core import db as database
from core.security import rate_limited
from core.web import (
    json_body,
    request_context,
    required_str,
    signed_in_user,
)
from recovery import addresses
from recovery.settings import BackupSettings

# Nested in recovery's /api blueprint (see recovery.views).
api = Blueprint("addresses", __name__)


def _settings() -> BackupSettings:
    from recovery.views import settings

    return settings()


@api.post("/me/email/verify")
@rate_limited
def send_verification() -> Response:
    json_body()
    masked = addresses.send_verification(
        database.session(), _settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/email")
@rate_limited
def change() -> Response:
    data = json_body()
    masked = addresses.start_change(
        database.session(),
        _settings(),
        request_context(),
        user=signed_in_user(),
        email=required_str(data, "email"),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/email/confirm")
@rate_limited
def confirm() -> Response:
    data = json_body()
    user = addresses.confirm(
        database.session(),
        _settings(),
        request_context(),
        user=signed_in_user(),
        typed=required_str(data, "otp"),
    )
    database.session().commit()
    return jsonify(user=user.to_json())


@api.post("/me/backup-email")
@rate_limited
def backup_address() -> Response:
    data = json_body()
    masked = addresses.start_backup_address(
        database.session(),
        _settings(),
        request_context(),
        user=signed_in_user(),
        email=required_str(data, "email"),
    )
    database.session().commit()
    return jsonify(otp_sent_to=masked), 202


@api.post("/me/backup-email/confirm")
@rate_limited
def confirm_backup_address() -> Response:
    data = json_body()
    user = addresses.confirm_backup_address(
        database.session(),
        _settings(),
        request_context(),
        user=signed_in_user(),
        typed=required_str(data, "otp"),
    )
    database.session().commit()
    return jsonify(user=user.to_json())
