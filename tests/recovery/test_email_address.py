"""The ID's addresses: confirming the sign-in address (sign-up mails a code), the cap on mailed
codes, changing the address, validating addresses, and the backup address a mailed backup code
goes to. Mail goes over real SMTP (aiosmtpd); codes are read from it as a person would.

Past 400 lines on purpose: each address rule and its boundary, one test each."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import core.db
from tests.conftest import ORIGIN, Api, snapshot
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator

ALICE = "alice@example.com"
BACKUP = "alice.vault@example.org"
OTP = re.compile(r"^\s+(\d{8})\s*$", re.M)
BACKUP_CODE = re.compile(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}")
VERIFY_SUBJECT = "Your code to confirm your email address"


def codes_in(mailbox: Any, to: str, subject: str = "") -> list[str]:
    return [
        OTP.search(mailbox.text(m)).group(1)  # type: ignore[union-attr]
        for m in mailbox.received(to)
        if subject in str(m["Subject"]) and OTP.search(mailbox.text(m))
    ]


def newest_code(mailbox: Any, to: str, count: int, subject: str = "") -> str:
    mailbox.wait_for(to=to, count=count)
    return codes_in(mailbox, to, subject)[-1]


def wrong(code: str) -> str:
    return "12345678" if code != "12345678" else "87654321"


def rows(app: Any, sql: str, **params: Any) -> list[Any]:
    with app.extensions["keystead.engine"].connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def user_row(app: Any, username: str = "alice") -> Any:
    [row] = rows(
        app,
        "SELECT email, email_verified_at, backup_email, backup_email_verified_at "
        "FROM users WHERE username = :u",
        u=username,
    )
    return row


@pytest.fixture
def unconfirmed(api: Api, authenticator: SoftAuthenticator) -> Api:
    """alice, just signed up: her address is not confirmed yet."""
    response = api.sign_up(authenticator, confirm_email=False)
    assert response.status_code == 201
    assert response.get_json()["user"]["email_verified"] is False
    return api


def another_browser(app: Any, authenticator: SoftAuthenticator) -> Api:
    other = Api(app.test_client())
    assert other.sign_in(authenticator).status_code == 200
    return other


# ---- item 3: sign-up confirms the address ---------------------------------------------------


def test_sign_up_mails_a_code_that_confirms_the_address(app, unconfirmed, mailbox):
    [mail] = mailbox.wait_for(to=ALICE)
    assert mail["Subject"] == VERIFY_SUBJECT
    code = codes_in(mailbox, ALICE)[0]
    assert unconfirmed.get("/api/me").get_json()["user"]["email_verified"] is False
    refused = unconfirmed.post("/api/me/email/confirm", {"otp": wrong(code)})
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_code"
    check_response("POST", "/api/me/email/confirm", 401, refused.get_json())
    assert user_row(app).email_verified_at is None
    confirmed = unconfirmed.post("/api/me/email/confirm", {"otp": code})
    assert confirmed.status_code == 200
    check_response("POST", "/api/me/email/confirm", 200, confirmed.get_json())
    assert confirmed.get_json()["user"]["email_verified"] is True
    assert user_row(app).email_verified_at is not None
    assert rows(app, "SELECT count(*) FROM audit_events WHERE kind = 'email_verified'")[0][0] == 1
    # Single use, and nothing more to confirm.
    assert unconfirmed.post("/api/me/email/confirm", {"otp": code}).status_code == 401
    again = unconfirmed.post("/api/me/email/verify")
    assert again.status_code == 409 and again.get_json()["error"] == "email_verified"
    # The code row records where it went (what the mail cap counts).
    assert rows(app, "SELECT address FROM email_codes") == [(ALICE,)]


def test_a_new_code_on_request_voids_the_first(unconfirmed, mailbox, clock):
    first = newest_code(mailbox, ALICE, 1)
    clock.advance(30)
    sent = unconfirmed.post("/api/me/email/verify")
    assert sent.status_code == 202 and sent.get_json() == {"otp_sent_to": "a***@example.com"}
    check_response("POST", "/api/me/email/verify", 202, sent.get_json())
    second = newest_code(mailbox, ALICE, 2)
    if first != second:
        assert unconfirmed.post("/api/me/email/confirm", {"otp": first}).status_code == 401
    assert unconfirmed.post("/api/me/email/confirm", {"otp": second}).status_code == 200


def test_a_backup_activation_code_confirms_the_address_too(app, unconfirmed, mailbox):
    # Sign-up's code and the activation code right after it are two kinds: both go out.
    assert unconfirmed.post("/api/backup/activate").status_code == 202
    code = newest_code(mailbox, ALICE, 2, "activate backup")
    assert unconfirmed.post("/api/backup/confirm", {"otp": code}).status_code == 200
    assert unconfirmed.get("/api/me").get_json()["user"]["email_verified"] is True
    assert user_row(app).email_verified_at is not None


def test_notices_to_an_unconfirmed_address_stay_in_the_inbox(
    app, unconfirmed, mailbox, authenticator
):
    mailbox.wait_for(to=ALICE)  # sign-up's code
    # A second device, added here, signs in in its own browser: news to this device.
    second_key = SoftAuthenticator(origin=ORIGIN)
    assert unconfirmed.add_device(second_key).status_code == 201
    assert Api(app.test_client()).sign_in(second_key, username=None).status_code == 200
    [notice] = unconfirmed.get("/api/notifications").get_json()["notifications"]
    assert notice["kind"] == "new_device_sign_in"
    mailbox.assert_count(1, to=ALICE)  # only the code
    assert rows(app, "SELECT count(*) FROM block_links")[0][0] == 0
    # Confirmed: the next notice is mailed too.
    code = codes_in(mailbox, ALICE)[0]
    assert unconfirmed.post("/api/me/email/confirm", {"otp": code}).status_code == 200
    assert unconfirmed.add_device(SoftAuthenticator(origin=ORIGIN), "Third").status_code == 201
    [_, mail] = mailbox.wait_for(to=ALICE, count=2)
    assert "A passkey was added" in mail["Subject"]


def test_other_mail_to_an_unconfirmed_address_is_dropped(app, unconfirmed, mailbox):
    from core.clock import utcnow
    from notify.outbox import enqueue

    mailbox.wait_for(to=ALICE)
    user_id = unconfirmed.get("/api/me").get_json()["user"]["id"]
    with app.test_request_context():
        db = core.db.session()
        assert (
            enqueue(
                db, utcnow(), to=ALICE, template="test", context={}, kind="test", user_id=user_id
            )
            is None
        )
        db.commit()
    mailbox.assert_count(1, to=ALICE)


# ---- item 3: the cap on mailed codes ---------------------------------------------------------


def test_twelve_activation_calls_send_one_mail(signed_in, mailbox):
    answers = [signed_in.post("/api/backup/activate") for _ in range(12)]
    assert [a.status_code for a in answers] == [202] + [429] * 11
    refused = answers[1]
    assert refused.get_json()["error"] == "too_many_mails"
    check_response("POST", "/api/backup/activate", 429, refused.get_json())
    assert 29 <= int(refused.headers["Retry-After"]) <= 30
    mailbox.assert_count(1, to=ALICE)


def test_cooldown_is_exact_and_retry_after_is_the_real_wait(api, authenticator, mailbox, clock):
    t0 = clock.now
    assert api.sign_up(authenticator, confirm_email=False).status_code == 201  # code at t0
    clock.set(t0 + timedelta(seconds=10))
    refused = api.post("/api/me/email/verify")
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert wait == 20
    clock.set(t0 + timedelta(seconds=10 + wait - 1))
    last_second = api.post("/api/me/email/verify")
    assert last_second.status_code == 429 and last_second.headers["Retry-After"] == "1"
    clock.set(t0 + timedelta(seconds=10 + wait))  # exactly MAIL_CODE_COOLDOWN after
    assert api.post("/api/me/email/verify").status_code == 202
    mailbox.assert_count(2, to=ALICE)


def test_hourly_cap_per_address_counts_every_kind_and_every_id(
    app, api, authenticator, mailbox, clock
):
    t0 = clock.now
    assert api.sign_up(authenticator, confirm_email=False).status_code == 201  # 1: t0
    for i in range(1, 10):  # 9 more, each past the cooldown: 10 in the hour
        clock.set(t0 + timedelta(seconds=30 * i))
        kind = "/api/me/email/verify" if i % 2 else "/api/backup/activate"
        assert api.post(kind).status_code == 202, i
    mailbox.wait_for(to=ALICE, count=10)
    clock.set(t0 + timedelta(seconds=600))
    capped = api.post("/api/backup/activate")
    assert capped.status_code == 429 and capped.get_json()["error"] == "too_many_mails"
    assert capped.headers["Retry-After"] == str(3600 - 600)
    # Another ID with the same address: sign-up still works, but mails nothing, and asking
    # for a code is refused with the same wait.
    bob = Api(app.test_client())
    bob_key = SoftAuthenticator(origin=ORIGIN)
    assert bob.sign_up(bob_key, "bob", email=ALICE, confirm_email=False).status_code == 201
    assert bob.post("/api/me/email/verify").headers["Retry-After"] == str(3600 - 600)
    clock.set(t0 + timedelta(seconds=3599))
    assert bob.post("/api/me/email/verify").headers["Retry-After"] == "1"
    clock.set(t0 + timedelta(seconds=3600))  # the first code leaves the hour
    assert bob.post("/api/me/email/verify").status_code == 202
    mailbox.assert_count(11, to=ALICE)


def test_hourly_cap_per_id_counts_codes_to_every_address(signed_in, mailbox, clock):
    t0 = clock.now  # alice signed up (one code) just before
    for i in range(1, 10):
        clock.set(t0 + timedelta(seconds=i))
        sent = signed_in.post("/api/me/email", {"email": f"new{i}@example.com"})
        assert sent.status_code == 202, i
    capped = signed_in.post("/api/me/email", {"email": "new10@example.com"})
    assert capped.status_code == 429 and capped.get_json()["error"] == "too_many_mails"
    check_response("POST", "/api/me/email", 429, capped.get_json())
    wait = int(capped.headers["Retry-After"])
    assert 3590 <= wait <= 3591  # the sign-up code, a moment before t0, leaves the hour


@pytest.mark.parametrize(
    "config_overrides", [{"MAIL_CODE_COOLDOWN": 5, "MAIL_CODES_PER_HOUR": 2}], indirect=True
)
def test_the_cap_follows_its_configuration(signed_in, mailbox, clock):
    t0 = clock.now
    assert signed_in.post("/api/backup/activate").status_code == 202  # 2 in the hour
    clock.set(t0 + timedelta(seconds=5))
    capped = signed_in.post("/api/backup/activate")
    assert capped.status_code == 429
    assert int(capped.headers["Retry-After"]) > 3500


# ---- the user panel: changing the address ----------------------------------------------------


def test_change_the_address_with_a_code_from_the_new_one(app, signed_in, mailbox, authenticator):
    second = SoftAuthenticator(origin=ORIGIN)
    assert signed_in.add_device(second, "Phone").status_code == 201
    mailbox.wait_for(to=ALICE)  # the device notice
    sent = signed_in.post("/api/me/email", {"email": "Ada@Example.org"})
    assert sent.status_code == 202 and sent.get_json() == {"otp_sent_to": "A***@example.org"}
    check_response("POST", "/api/me/email", 202, sent.get_json())
    assert user_row(app).email == ALICE  # nothing changes before the code
    code = newest_code(mailbox, "ada@example.org", 1)
    changed = signed_in.post("/api/me/email/confirm", {"otp": code})
    assert changed.status_code == 200
    user = changed.get_json()["user"]
    assert user["email"] == "Ada@example.org" and user["email_verified"] is True
    # The old address is told, once; audited; every other device has a notification (the
    # one that made the change knows).
    [_, told] = mailbox.wait_for(to=ALICE, count=2)
    assert told["Subject"] == "Your email address was changed"
    assert "A***@example.org" in mailbox.text(told)
    [audit] = rows(app, "SELECT data FROM audit_events WHERE kind = 'email_changed'")
    assert '"old_address": "a***@example.com"' in str(audit[0]).replace("'", '"')
    told_devices = rows(app, "SELECT device_id FROM notifications WHERE kind = 'email_changed'")
    phone = signed_in.get("/api/devices").get_json()["devices"][-1]["id"]
    assert [r.device_id for r in told_devices] == [phone]
    activity = signed_in.get("/api/activity").get_json()
    assert ALICE not in str(activity)  # the full old address is not shown


def test_changing_the_address_needs_a_fresh_verification(app, signed_in, mailbox, clock):
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    before = snapshot(app)
    stale = signed_in.post("/api/me/email", {"email": "mallory@example.net"})
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    assert snapshot(app) == before
    assert rows(app, "SELECT count(*) FROM email_codes WHERE purpose = 'change_email'")[0][0] == 0
    assert mailbox.received("mallory@example.net") == []


def test_a_stale_session_cannot_confirm_a_change_either(app, signed_in, mailbox, clock):
    assert signed_in.post("/api/me/email", {"email": "new@example.com"}).status_code == 202
    code = newest_code(mailbox, "new@example.com", 1)
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    before = snapshot(app)
    stale = signed_in.post("/api/me/email/confirm", {"otp": code})
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    assert snapshot(app) == before


def test_a_code_for_address_a_cannot_confirm_a_change_to_b(app, signed_in, mailbox):
    assert signed_in.post("/api/me/email", {"email": "a@example.net"}).status_code == 202
    code_a = newest_code(mailbox, "a@example.net", 1)
    assert signed_in.post("/api/me/email", {"email": "b@example.net"}).status_code == 202
    code_b = newest_code(mailbox, "b@example.net", 1)
    if code_a != code_b:
        refused = signed_in.post("/api/me/email/confirm", {"otp": code_a})
        assert refused.status_code == 401
    assert user_row(app).email == ALICE
    assert signed_in.post("/api/me/email/confirm", {"otp": code_b}).status_code == 200
    assert user_row(app).email == "b@example.net"


def test_five_wrong_codes_void_the_change(app, signed_in, mailbox, clock):
    assert signed_in.post("/api/me/email", {"email": "new@example.com"}).status_code == 202
    code = newest_code(mailbox, "new@example.com", 1)
    for i in range(5):
        clock.advance(30)  # past the growing delays between failures
        refused = signed_in.post("/api/me/email/confirm", {"otp": wrong(code)})
        assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_code", i
    assert rows(
        app,
        "SELECT wrong_tries, voided_at IS NOT NULL FROM email_codes WHERE purpose = 'change_email'",
    ) == [(5, True)]
    clock.advance(30)
    assert signed_in.post("/api/me/email/confirm", {"otp": code}).status_code == 401
    assert user_row(app).email == ALICE


def test_one_wrong_code_then_the_right_one(app, signed_in, mailbox, clock):
    assert signed_in.post("/api/me/email", {"email": "new@example.com"}).status_code == 202
    code = newest_code(mailbox, "new@example.com", 1)
    assert signed_in.post("/api/me/email/confirm", {"otp": wrong(code)}).status_code == 401
    clock.advance(30)
    assert signed_in.post("/api/me/email/confirm", {"otp": code}).status_code == 200
    assert user_row(app).email == "new@example.com"


def test_one_browsers_code_is_useless_in_another(app, signed_in, mailbox, authenticator):
    other = another_browser(app, authenticator)
    assert signed_in.post("/api/me/email", {"email": "new@example.com"}).status_code == 202
    code = newest_code(mailbox, "new@example.com", 1)
    assert other.post("/api/me/email/confirm", {"otp": code}).status_code == 401
    assert user_row(app).email == ALICE
    assert signed_in.post("/api/me/email/confirm", {"otp": code}).status_code == 200


def test_two_ids_may_share_an_address(app, signed_in, mailbox):
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(origin=ORIGIN), "bob").status_code == 201
    assert bob.post("/api/me/email", {"email": ALICE}).status_code == 202
    code = newest_code(mailbox, ALICE, 1)
    assert bob.post("/api/me/email/confirm", {"otp": code}).status_code == 200
    assert user_row(app, "bob").email == ALICE == user_row(app, "alice").email


def test_the_current_address_is_not_a_change(signed_in):
    same = signed_in.post("/api/me/email", {"email": "ALICE@example.com"})
    assert same.status_code == 400 and same.get_json()["error"] == "invalid_input"


def test_a_verification_code_cannot_confirm_an_address_changed_since(
    app, unconfirmed, mailbox, clock
):
    signup_code = newest_code(mailbox, ALICE, 1)
    assert unconfirmed.post("/api/me/email", {"email": "new@example.com"}).status_code == 202
    # Asking for the change voided the pending confirmation: one code box, one code.
    assert unconfirmed.post("/api/me/email/confirm", {"otp": signup_code}).status_code == 401
    assert user_row(app).email_verified_at is None


# ---- item 11: addresses are validated by email-validator --------------------------------------

BAD_ADDRESSES = [
    "a\x00b@example.com",
    "a\x7fb@example.com",
    "a,b@example.com",
    "<a@example.com>",
    "a>b@example.com",
    "a;b@example.com",
    "Alice <alice@example.com>",
    "a b@example.com",
    "a@b@example.com",
    "alice@example",
    "alice@[127.0.0.1]",
    '"a"@example.com',
    "a\r\nBcc: x@example.com",
    "@example.com",
    "a" * 65 + "@example.com",
    "",
    # Needs SMTPUTF8, which the outbox does not speak: refused rather than never delivered.
    "jürgen@example.com",
]
GOOD_ADDRESSES = [
    ("ada+keystead@example.com", "ada+keystead@example.com"),
    ("ada@bücher.de", "ada@bücher.de"),
    ("ada@xn--bcher-kva.de", "ada@bücher.de"),
    ("  Ada.Lovelace@Example.COM ", "Ada.Lovelace@example.com"),
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_sign_up_refuses_malformed_addresses(app, api, address):
    before = snapshot(app)
    response = api.post("/api/register/begin", {"username": "alice", "email": address})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
    assert snapshot(app) == before


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_email_change_refuses_malformed_addresses(app, signed_in, address):
    before = snapshot(app)
    response = signed_in.post("/api/me/email", {"email": address})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"
    assert snapshot(app) == before
    assert rows(app, "SELECT count(*) FROM email_codes WHERE purpose = 'change_email'")[0][0] == 0


@pytest.mark.parametrize(("address", "stored"), GOOD_ADDRESSES)
def test_normal_addresses_pass(app, api, authenticator, mailbox, address, stored):
    assert api.sign_up(authenticator, email=address, confirm_email=False).status_code == 201
    assert user_row(app).email == stored
    [mail] = mailbox.wait_for(to=None)  # delivered: an IDN domain goes out as punycode
    assert mail["Subject"] == VERIFY_SUBJECT


# ---- item 25: a mailed backup code goes only to a second, confirmed address ------------------

EMAIL_DELIVERY = pytest.mark.parametrize(
    "config_overrides", [{"BACKUP_CODE_DELIVERY": "email"}], indirect=True
)


def add_backup_address(api: Api, mailbox: Any, address: str = BACKUP) -> None:
    sent = api.post("/api/me/backup-email", {"email": address})
    assert sent.status_code == 202, sent.get_json()
    check_response("POST", "/api/me/backup-email", 202, sent.get_json())
    code = newest_code(mailbox, address, len(mailbox.received(address)) + 1)
    confirmed = api.post("/api/me/backup-email/confirm", {"otp": code})
    assert confirmed.status_code == 200, confirmed.get_json()
    check_response("POST", "/api/me/backup-email/confirm", 200, confirmed.get_json())
    assert confirmed.get_json()["user"]["backup_email"] == address


@EMAIL_DELIVERY
def test_mailed_backup_codes_are_refused_without_a_backup_address(app, signed_in, mailbox):
    before = snapshot(app)
    refused = signed_in.post("/api/backup/activate")
    assert refused.status_code == 409 and refused.get_json()["error"] == "backup_email_required"
    assert "backup email address" in refused.get_json()["message"]
    check_response("POST", "/api/backup/activate", 409, refused.get_json())
    assert snapshot(app) == before
    assert rows(app, "SELECT count(*) FROM email_codes WHERE purpose = 'activate'")[0][0] == 0


@EMAIL_DELIVERY
def test_the_backup_address_must_not_be_the_sign_in_address(app, signed_in):
    for address in (ALICE, "ALICE@Example.com"):
        refused = signed_in.post("/api/me/backup-email", {"email": address})
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_input"
    assert user_row(app).backup_email is None


@EMAIL_DELIVERY
def test_the_backup_code_never_goes_to_the_sign_in_address(app, signed_in, mailbox):
    add_backup_address(signed_in, mailbox)
    assert signed_in.post("/api/backup/activate").status_code == 202
    code = newest_code(mailbox, ALICE, 1, "activate backup")  # the email code: sign-in address
    assert signed_in.post("/api/backup/confirm", {"otp": code}).get_json() == {"delivered": "email"}
    [_, mailed] = mailbox.wait_for(to=BACKUP, count=2)
    backup_code = BACKUP_CODE.search(mailbox.text(mailed)).group(0)  # type: ignore[union-attr]
    mailbox.assert_count(1, to=ALICE)
    assert all(backup_code not in mailbox.text(m) for m in mailbox.received(ALICE))
    # The sign-in address cannot become the backup address afterwards either.
    refused = signed_in.post("/api/me/email", {"email": BACKUP})
    assert refused.status_code == 400 and "backup" in refused.get_json()["message"]


@EMAIL_DELIVERY
def test_a_backup_address_needs_a_fresh_verification_and_its_own_code(
    app, signed_in, mailbox, clock, authenticator
):
    other = another_browser(app, authenticator)
    assert signed_in.post("/api/me/backup-email", {"email": BACKUP}).status_code == 202
    code = newest_code(mailbox, BACKUP, 1)
    assert other.post("/api/me/backup-email/confirm", {"otp": code}).status_code == 401
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    stale = signed_in.post("/api/me/backup-email/confirm", {"otp": code})
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    again = signed_in.post("/api/me/backup-email", {"email": "other@example.org"})
    assert again.status_code == 401 and again.get_json()["error"] == "reauth_required"
    assert user_row(app).backup_email is None


@EMAIL_DELIVERY
def test_the_cli_refuses_to_mail_without_a_backup_address(app, signed_in, mailbox):
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["reissue-backup-code", "alice", "--deliver", "display"])
    assert shown.exit_code == 0, shown.output
    before = rows(app, "SELECT code_hash FROM backup_codes")
    refused = runner.invoke(args=["reissue-backup-code", "alice", "--deliver", "email"])
    assert refused.exit_code != 0 and "backup email address" in refused.output
    assert rows(app, "SELECT code_hash FROM backup_codes") == before  # no code replaced
    add_backup_address(signed_in, mailbox)
    mailed = runner.invoke(args=["reissue-backup-code", "alice", "--deliver", "email"])
    assert mailed.exit_code == 0, mailed.output
    [code_mail] = [
        m for m in mailbox.wait_for(to=BACKUP, count=2) if "new backup code" in m["Subject"]
    ]
    assert BACKUP_CODE.search(mailbox.text(code_mail))
    assert all(not BACKUP_CODE.search(mailbox.text(m)) for m in mailbox.received(ALICE))


@EMAIL_DELIVERY
def test_an_id_from_before_backup_addresses_cannot_regenerate_by_mail(app, signed_in, mailbox):
    runner = app.test_cli_runner()
    assert (
        runner.invoke(args=["reissue-backup-code", "alice", "--deliver", "display"]).exit_code == 0
    )
    before = rows(app, "SELECT code_hash FROM backup_codes")
    refused = signed_in.post("/api/backup/regenerate")
    assert refused.status_code == 409 and refused.get_json()["error"] == "backup_email_required"
    assert rows(app, "SELECT code_hash FROM backup_codes") == before


# ---- the pure rule -----------------------------------------------------------------------------


def test_mailcap_boundaries_to_the_second():
    from recovery.mailcap import MailCapPolicy, wait

    t0 = datetime(2026, 1, 1, 12, 0, 0)
    policy = MailCapPolicy(cooldown=30, per_hour=3)
    at = lambda s, **kw: wait(  # noqa: E731
        policy,
        t0 + timedelta(seconds=s),
        same_kind_to_address=kw.get("kind", []),
        to_address=kw.get("address", []),
        for_id=kw.get("ids", []),
    )
    assert at(29, kind=[t0]) == 1 and at(30, kind=[t0]) == 0
    assert at(29.5, kind=[t0]) == 1 and at(0, kind=[t0]) == 30
    three = [t0, t0 + timedelta(seconds=100), t0 + timedelta(seconds=200)]
    assert at(3599, address=three) == 1 and at(3600, address=three) == 0
    assert at(3599, ids=three) == 1 and at(3600, ids=three) == 0
    # Four in the hour: the second must leave before another fits.
    four = [*three, t0 + timedelta(seconds=300)]
    assert at(400, address=four) == 3600 + 100 - 400
    assert at(3000, address=three[:2]) == 0
    # The longest wait wins, and it frees every rule at once.
    assert at(3590, kind=[t0 + timedelta(seconds=3580)], address=three) == 20
