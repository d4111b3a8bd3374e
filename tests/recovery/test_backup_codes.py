"""Backup codes carry 120 bits (issue 7, item 26); codes issued before (20 symbols, 100 bits)
keep working until they are used or replaced."""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa

from recovery import codes
from tests.recovery.test_recovery import BACKUP_CODE, Recovery, mailed_code

KEY = "k" * 32


def test_a_new_code_has_24_symbols_in_six_groups_120_bits():
    code = codes.generate()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}", code)
    assert BACKUP_CODE.match(code)
    assert codes.LENGTH * 5 >= 112


def test_both_lengths_are_accepted_and_nothing_in_between():
    for length in (20, 24):
        raw = "".join(secrets.choice(codes.ALPHABET) for _ in range(length))
        assert codes.normalise(raw.lower()) == raw
        assert codes.matches(KEY, raw, codes.hash_code(KEY, raw))
    for length in (19, 21, 23, 25):
        assert codes.normalise("A" * length) is None
        assert not codes.matches(KEY, "A" * length, codes.hash_code(KEY, "A" * 24))


def test_a_20_symbol_code_issued_before_still_recovers_and_is_replaced_by_a_longer_one(
    app, signed_in, mailbox
):
    legacy = "-".join(["K7QM", "3WXD", "9PJC", "HT4N", "2RBV"])
    with app.extensions["keystead.engine"].begin() as conn:
        user_id = conn.execute(sa.text("SELECT id FROM users")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO backup_codes (user_id, code_hash, activated_at, code_created_at)"
                " VALUES (:u, :h, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"u": user_id, "h": codes.hash_code(app.config["SECRET_KEY"], legacy)},
        )
    recovery = Recovery(app, mailbox)
    assert recovery.begin(legacy).status_code == 202
    verified = recovery.verify(mailed_code(mailbox))
    assert verified.status_code == 200
    done = recovery.complete(verified.get_json(), "duplicate")
    assert done.status_code == 201
    assert BACKUP_CODE.match(done.get_json()["backup_code"])  # the new one: 24 symbols
    assert Recovery(app, mailbox).begin(legacy).status_code == 401  # used: gone
