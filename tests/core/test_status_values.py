"""Status values are StrEnums declared once (beside the column that stores them): the database
and the JSON keep the same strings as before, Python reads enum members, a value outside the
enum is refused before it is written, and pages compare with the declared names."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from admin.models import Role
from core import db as database
from embed.models import TokenKind
from recovery.models import EmailCodePurpose, FailureStep, FlowStage, PairingStatus
from recovery.restore import RecoveryMode
from tests.conftest import Api
from webauthn.models import (
    Challenge,
    ChallengePurpose,
    Device,
    DeviceStatus,
    InvitationDelivery,
    InvitationStatus,
)

ROOT = Path(__file__).resolve().parents[2]

# The strings in databases and JSON today: changing one needs a migration (and an API change).
STORED = {
    DeviceStatus: {"active", "blocked", "pending", "removed"},
    ChallengePurpose: {
        "register",
        "authenticate",
        "add_device",
        "recover",
        "reauth",
        "pair",
        "embed",
    },
    TokenKind: {"access_token", "refresh_token"},
    Role: {"admin", "helpdesk"},
    FlowStage: {"code_verified", "otp_verified", "completed", "void"},
    EmailCodePurpose: {
        "activate",
        "regenerate",
        "recover",
        "verify_email",
        "change_email",
        "backup_email",
    },
    FailureStep: {"backup_code", "email_code", "pairing_number"},
    PairingStatus: {"waiting", "awaiting_approval", "approved", "rejected", "expired"},
    RecoveryMode: {"restore", "duplicate"},
    InvitationDelivery: {"email", "display"},
    InvitationStatus: {"pending", "used", "expired", "revoked"},
}


@pytest.mark.parametrize("enum", list(STORED), ids=lambda enum: enum.__name__)
def test_the_stored_strings_stay_the_same(enum: type[StrEnum]) -> None:
    assert {member.value for member in enum} == STORED[enum]


def test_rows_hold_plain_strings_and_read_back_as_members(app: Flask, signed_in: Api) -> None:
    signed_in.post("/api/reauth/begin")
    engine = app.extensions[database.ENGINE_KEY]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM devices")).scalar_one() == "active"
        assert conn.execute(sa.text("SELECT purpose FROM challenges")).scalar_one() == "reauth"
    with app.app_context():
        db = database.session()
        assert db.scalars(sa.select(Device.status)).one() is DeviceStatus.ACTIVE
        assert db.scalars(sa.select(Challenge.purpose)).one() is ChallengePurpose.REAUTH
    device = signed_in.get("/api/devices").get_json()["devices"][0]
    assert device["status"] == "active"


def test_a_value_outside_its_enum_is_refused_before_it_is_written(
    app: Flask, signed_in: Api
) -> None:
    with app.app_context():
        db = database.session()
        with pytest.raises(sa.exc.StatementError) as refused:
            db.execute(sa.update(Device).values(status="gone"))
        assert isinstance(refused.value.orig, ValueError)
        db.rollback()
        assert db.scalars(sa.select(Device.status)).one() is DeviceStatus.ACTIVE


def test_pages_compare_device_statuses_with_the_declared_names() -> None:
    literal = "|".join(DeviceStatus)
    compared = re.compile(rf"status\s*(?:==|!=|in)\s*\(?[^%}}]*['\"](?:{literal})['\"]")
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        assert not compared.search(text), f"{path}: compare with DeviceStatus.<NAME>"
        for name in re.findall(r"DeviceStatus\.([A-Za-z_]+)", text):
            assert name in DeviceStatus.__members__, f"{path}: no DeviceStatus.{name}"
