"""The ID's addresses over JSON: confirm the sign-in address, change it, add a backup address.
Each view parses, calls one function of ``recovery.addresses``, commits and answers."""

from __future__ import annotations

from flask import Blueprint, Response

from core import db as database
from core.ratelimit import rate_limited
from core.schemas import NoFields, UserAnswer, UserOut, answer, parse_body
from core.web import (
    request_context,
    signed_in_user,
)
from recovery import addresses
from recovery.schemas import Address, OneTimeCode, OtpSent
from recovery.web import settings

api = Blueprint("addresses", __name__, url_prefix="/api")


@api.post("/me/email/verify")
@rate_limited
def send_verification() -> Response:
    parse_body(NoFields)
    masked = addresses.send_verification(
        database.session(), settings(), request_context(), user=signed_in_user()
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/me/email")
@rate_limited
def change() -> Response:
    body = parse_body(Address)
    masked = addresses.start_change(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        email=body.email,
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/me/email/confirm")
@rate_limited
def confirm() -> Response:
    body = parse_body(OneTimeCode)
    user = addresses.confirm(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        typed=body.otp,
    )
    database.session().commit()
    return answer(UserAnswer(user=UserOut.from_user(user)))


@api.post("/me/backup-email")
@rate_limited
def backup_address() -> Response:
    body = parse_body(Address)
    masked = addresses.start_backup_address(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        email=body.email,
    )
    database.session().commit()
    return answer(OtpSent(otp_sent_to=masked), 202)


@api.post("/me/backup-email/confirm")
@rate_limited
def confirm_backup_address() -> Response:
    body = parse_body(OneTimeCode)
    user = addresses.confirm_backup_address(
        database.session(),
        settings(),
        request_context(),
        user=signed_in_user(),
        typed=body.otp,
    )
    database.session().commit()
    return answer(UserAnswer(user=UserOut.from_user(user)))
