"""Backup and recovery over the real JSON API, with mail delivered over real SMTP (aiosmtpd):
the codes are read from the received mail, as a person would.

Past 400 lines on purpose: the recovery flow's steps and their attacks, each standing alone."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core.clock import utcnow
from tests.clock import Clock
from tests.conftest import ORIGIN, Api, snapshot
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator

ALICE = "alice@example.com"
BACKUP_CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$")


# ---- helpers -------------------------------------------------------------------------------


def mail_text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def mailed_code(mailbox: Any, to: str = ALICE, count: int = 1) -> str:
    """The one-time code in the ``count``-th mail to ``to``."""
    messages = mailbox.wait_for(to=to, count=count)
    found = re.search(r"^\s+(\d{8})\s*$", mail_text(messages[count - 1]), re.M)
    assert found, mail_text(messages[count - 1])
    return found.group(1)


def mails_to(mailbox: Any, to: str = ALICE) -> list[Any]:
    return [m for m in mailbox.messages if to in m["To"]]


def activate_backup(api: Api, mailbox: Any, to: str = ALICE) -> str:
    before = len(mails_to(mailbox, to))
    response = api.post("/api/backup/activate")
    assert response.status_code == 202, response.get_json()
    otp = mailed_code(mailbox, to, before + 1)
    confirmed = api.post("/api/backup/confirm", {"otp": otp})
    assert confirmed.status_code == 200, confirmed.get_json()
    return confirmed.get_json()["backup_code"]


def table_count(app: Any, table: str, where: str = "1=1") -> int:
    with app.extensions["keystead.engine"].connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


class Recovery:
    """A new browser (and authenticator) restoring or duplicating alice."""

    def __init__(self, app: Any, mailbox: Any) -> None:
        self.api = Api(app.test_client())
        self.authenticator = SoftAuthenticator(origin=ORIGIN)
        self.mailbox = mailbox

    def begin(self, backup_code: str, username: str = "alice") -> Any:
        return self.api.post(
            "/api/recovery/begin", {"username": username, "backup_code": backup_code}
        )

    def verify(self, otp: str) -> Any:
        return self.api.post("/api/recovery/verify", {"otp": otp})

    def complete(self, options: dict[str, Any], mode: str = "restore") -> Any:
        body = self.authenticator.create(options)
        return self.api.post(
            "/api/recovery/complete", {**body, "mode": mode, "device_name": "New phone"}
        )

    def run(self, backup_code: str, mode: str = "restore") -> Any:
        before = len(mails_to(self.mailbox))
        assert self.begin(backup_code).status_code == 202
        verified = self.verify(mailed_code(self.mailbox, count=before + 1))
        assert verified.status_code == 200, verified.get_json()
        return self.complete(verified.get_json(), mode)


@pytest.fixture
def backed_up(signed_in: Api, mailbox: Any) -> str:
    """alice is signed in (first device) with backup active; returns her backup code."""
    return activate_backup(signed_in, mailbox)


@pytest.fixture
def recovery(app: Any, mailbox: Any) -> Recovery:
    return Recovery(app, mailbox)


def at(clock: Clock, when: Any) -> None:
    """Runs the app at ``when``."""
    clock.set(when)


# ---- activate ------------------------------------------------------------------------------


def test_activation_verifies_the_address_then_shows_the_code_once(app, signed_in, mailbox):
    status = signed_in.get("/api/backup").get_json()
    check_response("GET", "/api/backup", 200, status)
    assert status == {
        "active": False,
        "activated_at": None,
        "prompt": False,
        "mode": "optional",
        "delivery": "display",
    }
    response = signed_in.post("/api/backup/activate")
    assert response.status_code == 202
    assert response.get_json() == {"otp_sent_to": "a***@example.com"}
    [mail] = mailbox.wait_for(to=ALICE, count=1)
    assert "Keystead Test" in mail_text(mail)
    otp = mailed_code(mailbox)
    wrong = signed_in.post(
        "/api/backup/confirm", {"otp": "00000000" if otp != "00000000" else "1" * 8}
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_code"
    check_response("POST", "/api/backup/confirm", 401, wrong.get_json())
    check_response("POST", "/api/backup/activate", 202, response.get_json())
    assert signed_in.get("/api/backup").get_json()["active"] is False
    confirmed = signed_in.post("/api/backup/confirm", {"otp": otp})
    assert confirmed.status_code == 200
    code = confirmed.get_json()["backup_code"]
    check_response("POST", "/api/backup/confirm", 200, confirmed.get_json())
    assert BACKUP_CODE.match(code)
    status = signed_in.get("/api/backup").get_json()
    assert status["active"] is True and status["activated_at"]
    # Shown once: the code is stored only as a keyed hash, and the email code is spent.
    replay = signed_in.post("/api/backup/confirm", {"otp": otp})
    assert replay.status_code == 401
    with app.extensions["keystead.engine"].connect() as conn:
        stored = conn.execute(sa.text("SELECT code_hash FROM backup_codes")).scalar_one()
    assert code.encode() not in bytes(stored) and len(bytes(stored)) == 32
    again = signed_in.post("/api/backup/activate")
    assert again.status_code == 409 and again.get_json()["error"] == "backup_active"


def test_five_wrong_email_codes_void_the_activation_code(signed_in, mailbox, clock):
    signed_in.post("/api/backup/activate")
    otp = mailed_code(mailbox)
    wrong = "12345678" if otp != "12345678" else "87654321"
    start = utcnow()
    for i in range(5):
        at(clock, start + timedelta(seconds=30 * i))  # past the growing delays
        assert signed_in.post("/api/backup/confirm", {"otp": wrong}).status_code == 401
    at(clock, start + timedelta(minutes=3))
    assert signed_in.post("/api/backup/confirm", {"otp": otp}).status_code == 401


def test_a_new_email_code_voids_the_previous_one(signed_in, mailbox, clock):
    signed_in.post("/api/backup/activate")
    first = mailed_code(mailbox, count=1)
    at(clock, utcnow() + timedelta(seconds=30))  # MAIL_CODE_COOLDOWN
    assert signed_in.post("/api/backup/activate").status_code == 202
    second = mailed_code(mailbox, count=2)
    if first != second:
        assert signed_in.post("/api/backup/confirm", {"otp": first}).status_code == 401
    assert signed_in.post("/api/backup/confirm", {"otp": second}).status_code == 200


@pytest.mark.parametrize("config_overrides", [{"BACKUP_CODE_DELIVERY": "email"}], indirect=True)
def test_email_delivery_mails_the_backup_code_instead(signed_in, mailbox, recovery):
    # Only to a confirmed backup address, never to the sign-in address (see
    # tests/recovery/test_email_address.py for the refusals).
    backup = "alice.backup@example.org"
    assert signed_in.post("/api/me/backup-email", {"email": backup}).status_code == 202
    added = signed_in.post("/api/me/backup-email/confirm", {"otp": mailed_code(mailbox, backup)})
    assert added.status_code == 200
    signed_in.post("/api/backup/activate")
    confirmed = signed_in.post("/api/backup/confirm", {"otp": mailed_code(mailbox)})
    assert confirmed.get_json() == {"delivered": "email"}
    [_, code_mail] = mailbox.wait_for(to=backup, count=2)
    code = re.search(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){5}", mail_text(code_mail)).group(0)
    response = recovery.run(code)
    assert response.status_code == 201
    assert response.get_json()["backup_code"] is None
    assert response.get_json()["delivered"] == "email"


# ---- regenerate ----------------------------------------------------------------------------


def test_regenerating_needs_a_fresh_sign_in_and_the_email_code(
    app, signed_in, backed_up, mailbox, authenticator, recovery, clock
):
    at(clock, utcnow() + timedelta(minutes=6))
    stale = signed_in.post("/api/backup/regenerate")
    assert stale.status_code == 401 and stale.get_json()["error"] == "reauth_required"
    assert signed_in.sign_in(authenticator).status_code == 200
    sent = len(mails_to(mailbox))
    assert signed_in.post("/api/backup/regenerate").status_code == 202
    new_code = signed_in.post(
        "/api/backup/confirm", {"otp": mailed_code(mailbox, count=sent + 1)}
    ).get_json()["backup_code"]
    assert new_code != backed_up
    notice = mailbox.wait_for(to=ALICE, count=sent + 2)[-1]
    assert "backup code was changed" in notice["Subject"]
    assert recovery.begin(backed_up).status_code == 401
    assert recovery.begin(new_code).status_code == 202


# ---- prompt and policies -------------------------------------------------------------------


def test_prompt_from_the_fourth_sign_in_until_backup_is_active(signed_in, authenticator, mailbox):
    prompts = [signed_in.sign_in(authenticator).get_json()["backup_prompt"] for _ in range(4)]
    assert prompts == [False, False, False, True]
    assert signed_in.sign_in(authenticator).get_json()["backup_prompt"] is True
    assert signed_in.get("/api/backup").get_json()["prompt"] is True
    activate_backup(signed_in, mailbox)
    assert signed_in.sign_in(authenticator).get_json()["backup_prompt"] is False


@pytest.mark.parametrize("config_overrides", [{"BACKUP_MODE": "on_enrollment"}], indirect=True)
def test_on_enrollment_requires_backup_at_sign_up(api, authenticator, mailbox):
    response = api.sign_up(authenticator)
    assert response.get_json()["backup_required"] is True
    assert api.get("/api/backup").get_json()["prompt"] is True
    assert api.sign_in(authenticator).get_json()["backup_prompt"] is True
    activate_backup(api, mailbox)
    assert api.sign_in(authenticator).get_json()["backup_prompt"] is False


@pytest.mark.parametrize("config_overrides", [{"BACKUP_MODE": "disabled"}], indirect=True)
def test_disabled_mode_refuses_every_backup_endpoint(signed_in, authenticator):
    for _ in range(4):
        assert signed_in.sign_in(authenticator).get_json()["backup_prompt"] is False
    for path, body in (
        ("/api/backup/activate", {}),
        ("/api/backup/regenerate", {}),
        ("/api/backup/confirm", {"otp": "12345678"}),
        ("/api/recovery/begin", {"username": "alice", "backup_code": "X" * 20}),
        ("/api/recovery/verify", {"otp": "12345678"}),
        ("/api/recovery/options", {}),
    ):
        response = signed_in.post(path, body)
        assert response.status_code == 403, path
        assert response.get_json()["error"] == "backup_disabled"


# ---- restore and duplicate -----------------------------------------------------------------


def test_restore_on_a_new_device_removes_the_old_ones(app, signed_in, backed_up, recovery, mailbox):
    old_device = signed_in.get("/api/devices").get_json()["devices"][0]
    sent = len(mails_to(mailbox))
    begun = recovery.begin(backed_up.lower().replace("-", " "))  # typed loosely
    assert begun.status_code == 202 and begun.get_json() == {"otp_sent_to": "a***@example.com"}
    check_response("POST", "/api/recovery/begin", 202, begun.get_json())
    verified = recovery.verify(mailed_code(mailbox, count=sent + 1))
    assert verified.status_code == 200
    check_response("POST", "/api/recovery/verify", 200, verified.get_json())
    options = verified.get_json()
    assert options["restore_forced"] is False
    assert options["publicKey"]["user"]["name"] == "alice"
    response = recovery.complete(options, "restore")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    check_response("POST", "/api/recovery/complete", 201, body)
    assert body["mode"] == "restore" and body["device"]["name"] == "New phone"
    assert BACKUP_CODE.match(body["backup_code"]) and body["backup_code"] != backed_up
    # Signed in on the new device; the old device is gone and its session ended.
    devices = recovery.api.get("/api/me").get_json()["devices"]
    assert [d["name"] for d in devices] == ["New phone"]
    assert old_device["id"] not in [d["id"] for d in devices]
    assert signed_in.get("/api/me").status_code == 401
    # The ID's address is told: which device, when, from where.
    notice = mailbox.wait_for(to=ALICE, count=sent + 2)[-1]
    text = mail_text(notice)
    assert "restored" in notice["Subject"] and "New phone" in text
    assert "127.0.0.1" in text and "Werkzeug" in text and "Alice's laptop" in text
    # The used code is void, the new one works; sign-in with the new passkey works.
    assert Recovery(app, mailbox).begin(backed_up).status_code == 401
    recovery.api.post("/api/logout")
    assert recovery.api.sign_in(recovery.authenticator).status_code == 200


def test_duplicate_keeps_the_other_devices_and_their_sessions(signed_in, backed_up, recovery):
    response = recovery.run(backed_up, mode="duplicate")
    assert response.status_code == 201 and response.get_json()["mode"] == "duplicate"
    names = [d["name"] for d in recovery.api.get("/api/devices").get_json()["devices"]]
    assert names == ["Alice's laptop", "New phone"]
    assert signed_in.get("/api/me").status_code == 200


@pytest.mark.parametrize("config_overrides", [{"RESTORE_REMOVES_OLD_DEVICES": True}], indirect=True)
def test_policy_can_force_restore(signed_in, backed_up, recovery, mailbox):
    recovery.begin(backed_up)
    options = recovery.verify(mailed_code(mailbox, count=2)).get_json()
    assert options["restore_forced"] is True
    response = recovery.complete(options, mode="duplicate")
    assert response.status_code == 201 and response.get_json()["mode"] == "restore"
    assert signed_in.get("/api/me").status_code == 401


def test_forgotten_pin_path_restores_on_the_same_authenticator(
    app, signed_in, backed_up, authenticator, mailbox
):
    """Delete the passkey on the authenticator (new PIN), then restore with both factors."""
    [credential_id] = list(authenticator.credentials)
    authenticator.remove(credential_id)
    same_key = Recovery(app, mailbox)
    same_key.authenticator = authenticator
    response = same_key.run(backed_up)
    assert response.status_code == 201
    assert same_key.api.sign_in(authenticator).status_code == 200


def test_a_cancelled_browser_dialog_can_be_retried_without_a_new_email_code(
    signed_in, backed_up, recovery, mailbox
):
    recovery.begin(backed_up)
    first = recovery.verify(mailed_code(mailbox, count=2)).get_json()
    retry = recovery.api.post("/api/recovery/options")
    assert retry.status_code == 200
    assert retry.get_json()["publicKey"]["challenge"] != first["publicKey"]["challenge"]
    assert recovery.complete(retry.get_json()).status_code == 201


def test_lost_backup_code_is_reissued_by_an_administrator(app, signed_in, backed_up, mailbox):
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["reissue-backup-code", "ALICE", "--deliver", "display"])
    assert shown.exit_code == 0, shown.output
    new_code = re.search(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){5}", shown.output).group(0)
    assert Recovery(app, mailbox).begin(backed_up).status_code == 401
    assert Recovery(app, mailbox).begin(new_code).status_code == 202
    # Mailing it needs a confirmed backup address (the rest: tests/recovery/test_email_address.py).
    mailed = runner.invoke(args=["reissue-backup-code", "alice", "--deliver", "email"])
    assert mailed.exit_code != 0 and "backup email address" in mailed.output
    subjects = [m["Subject"] for m in mailbox.wait_for(to=ALICE, count=3)]
    assert sum("administrator issued" in s for s in subjects) == 1
    assert "Your new backup code" not in subjects
    assert table_count(app, "audit_events", "kind = 'backup_code_reissued'") == 1
    unknown = runner.invoke(args=["reissue-backup-code", "nobody", "--deliver", "display"])
    assert unknown.exit_code == 1 and "No such ID." in unknown.output


def test_recover_page_explains_both_factors(api):
    html = api.get("/recover").get_data(as_text=True)
    assert api.get("/recover").status_code == 200
    assert "backup code" in html.lower()


# ---- attacks -------------------------------------------------------------------------------


def lasting_state(app: Any) -> dict[str, Any]:
    state = snapshot(app)
    with app.extensions["keystead.engine"].connect() as conn:
        state["backup_codes"] = sorted(
            tuple(r) for r in conn.execute(sa.text("SELECT * FROM backup_codes"))
        )
    return state


def test_backup_code_alone_does_not_recover(app, signed_in, backed_up, recovery, mailbox):
    assert recovery.begin(backed_up).status_code == 202
    before = lasting_state(app)
    options = recovery.api.post("/api/recovery/options")
    assert options.status_code == 401 and options.get_json()["error"] == "recovery_failed"
    # Skip the email code: forge a creation response to a challenge never issued.
    fake_options = {
        "publicKey": {
            "rp": {"id": "localhost", "name": "x"},
            "user": {"id": "AAAA", "name": "alice", "displayName": "a"},
            "challenge": "A" * 43,
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        }
    }
    response = recovery.complete(fake_options)
    assert response.status_code == 401 and response.get_json()["error"] == "recovery_failed"
    assert lasting_state(app) == before


def test_email_code_alone_does_not_recover(app, signed_in, backed_up, recovery, mailbox):
    other = Recovery(app, mailbox)
    other.begin(backed_up)
    otp = mailed_code(mailbox, count=2)
    before = lasting_state(app)
    # This browser never gave a backup code: the (valid) email code is worth nothing here.
    response = recovery.verify(otp)
    assert response.status_code == 401 and response.get_json()["error"] == "recovery_failed"
    assert lasting_state(app) == before
    assert other.verify(otp).status_code == 200  # and it was not consumed by the attempt


def test_one_ids_backup_code_with_anothers_email_code_fails(app, signed_in, backed_up, mailbox):
    bob = Api(app.test_client())
    assert bob.sign_up(SoftAuthenticator(), username="bob").status_code == 201
    activate_backup(bob, mailbox, to="bob@example.com")
    attacker = Recovery(app, mailbox)
    assert attacker.begin(backed_up).status_code == 202  # alice's code
    bob_sent = len(mails_to(mailbox, "bob@example.com"))
    bobs_code = bob.post("/api/backup/regenerate")  # fresh sign-in: mails bob a code
    assert bobs_code.status_code == 202
    bob_otp = mailed_code(mailbox, "bob@example.com", bob_sent + 1)
    before = lasting_state(app)
    response = attacker.verify(bob_otp)
    assert response.status_code == 401 and response.get_json()["error"] == "recovery_failed"
    assert lasting_state(app) == before


def test_used_expired_and_superseded_email_codes_fail(app, signed_in, backed_up, clock, mailbox):
    first = Recovery(app, mailbox)
    start = utcnow()
    at(clock, start)
    first.begin(backed_up)
    superseded = mailed_code(mailbox, count=2)
    at(clock, start + timedelta(seconds=30))  # MAIL_CODE_COOLDOWN
    first.begin(backed_up)
    current = mailed_code(mailbox, count=3)
    if superseded != current:
        assert first.verify(superseded).status_code == 401
    # Expired: the same right code, 11 minutes later.
    at(clock, start + timedelta(minutes=11, seconds=30))
    assert first.verify(current).status_code == 401
    at(clock, start + timedelta(minutes=12))
    first.begin(backed_up)
    fresh = mailed_code(mailbox, count=4)
    assert first.verify(fresh).status_code == 200
    # Used: a second browser cannot reuse it, nor can this one.
    assert first.verify(fresh).status_code == 401


def test_five_wrong_email_codes_void_the_recovery(
    app, signed_in, backed_up, recovery, mailbox, clock
):
    recovery.begin(backed_up)
    otp = mailed_code(mailbox, count=2)
    wrong = "12345678" if otp != "12345678" else "87654321"
    start = utcnow()
    for i in range(5):
        at(clock, start + timedelta(minutes=i))  # past the growing delays
        assert recovery.verify(wrong).status_code == 401
    at(clock, start + timedelta(minutes=6))
    response = recovery.verify(otp)
    assert response.status_code == 401 and response.get_json()["error"] == "recovery_failed"


def test_brute_force_locks_the_browser_but_never_the_id_nor_passkey_sign_in(
    app, signed_in, backed_up, authenticator, clock
):
    start = utcnow()
    attacker = Api(app.test_client())
    statuses = []
    for i in range(11):
        at(clock, start + timedelta(minutes=i))  # past the growing delays
        response = attacker.post(
            "/api/recovery/begin",
            {"username": "alice", "backup_code": "0000-0000-0000-0000-0000"},
        )
        statuses.append(response.status_code)
    # Locked for this browser after RECOVERY_MAX_FAILURES, even with the right code.
    assert statuses == [401] * 10 + [429]
    locked = attacker.post("/api/recovery/begin", {"username": "ALICE", "backup_code": backed_up})
    assert locked.status_code == 429 and locked.get_json()["error"] == "too_many_attempts"
    check_response("POST", "/api/recovery/begin", 429, locked.get_json())
    assert int(locked.headers["Retry-After"]) > 0
    # Passkey sign-in is untouched by recovery attempts.
    assert signed_in.sign_in(authenticator).status_code == 200
    # The owner, in another browser, is not held up beyond the IP's bounded delay (the IP has
    # 10 failures, below RECOVERY_MAX_FAILURES_PER_IP: no delay at all).
    owner = Api(app.test_client())
    assert (
        owner.post(
            "/api/recovery/begin", {"username": "alice", "backup_code": backed_up}
        ).status_code
        == 202
    )
    # After the hour the attacker's browser may try again.
    at(clock, start + timedelta(minutes=70))
    assert (
        attacker.post("/api/recovery/begin", {"username": "x", "backup_code": "y"}).status_code
        == 401
    )


def test_failures_come_with_growing_delays(app, signed_in, backed_up, clock):
    start = utcnow()
    at(clock, start)
    attacker = Api(app.test_client())
    wrong = {"username": "alice", "backup_code": "0000-0000-0000-0000-0000"}
    assert [attacker.post("/api/recovery/begin", wrong).status_code for _ in range(4)] == [
        401,
        401,
        401,
        429,
    ]
    at(clock, start + timedelta(seconds=1))
    assert attacker.post("/api/recovery/begin", wrong).status_code == 401
    at(clock, start + timedelta(seconds=2))
    assert attacker.post("/api/recovery/begin", wrong).status_code == 429


def test_unknown_username_and_wrong_code_look_the_same(app, signed_in, backed_up, clock):
    """Same status and body, and the same database work (a stand-in for timing that cannot
    be flaky): the statements run for each are counted."""
    statements: list[str] = []

    me = threading.get_ident()

    def count(conn, cursor, statement, *args):  # noqa: ANN001
        # Only this request's statements, not the mail worker's (another thread).
        if threading.get_ident() == me:
            statements.append(statement.split()[0])

    engine = app.extensions["keystead.engine"]
    answers, shapes = [], []
    start = utcnow()
    for i, username in enumerate(("alice", "nobody-here")):
        at(clock, start + timedelta(minutes=i))
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        response = Api(app.test_client()).post(
            "/api/recovery/begin", {"username": username, "backup_code": "0000-0000-0000-0000-0000"}
        )
        sa.event.remove(engine, "before_cursor_execute", count)
        answers.append((response.status_code, response.get_json()))
        shapes.append([s for s in statements if s not in ("SAVEPOINT", "RELEASE")])
    assert (
        answers[0]
        == answers[1]
        == (401, {"error": "recovery_failed", "message": answers[0][1]["message"]})
    )
    assert shapes[0] == shapes[1]
    # Unknown usernames are throttled like real ones (per browser: the same lock).
    statuses = {}
    for username in ("alice", "nobody-here"):
        browser = Api(app.test_client())
        for i in range(2, 13):
            at(clock, start + timedelta(minutes=i))
            last = browser.post("/api/recovery/begin", {"username": username, "backup_code": "x"})
        statuses[username] = (last.status_code, last.headers.get("Retry-After"))
    assert statuses["alice"] == statuses["nobody-here"]
    assert statuses["alice"][0] == 429


def test_twenty_parallel_submissions_of_one_email_code_succeed_once(
    app, signed_in, backed_up, recovery, mailbox
):
    recovery.begin(backed_up)
    otp = mailed_code(mailbox, count=2)
    browser_cookie = recovery.api.client.get_cookie("keystead_browser").value
    results: list[int] = []
    barrier = threading.Barrier(20)

    def submit() -> None:
        client = app.test_client()
        client.set_cookie("keystead_browser", browser_cookie)
        barrier.wait()
        response = client.post(
            "/api/recovery/verify", json={"otp": otp}, headers={"Origin": ORIGIN}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One winner; the rest fail (401, or 429 once their failures reach the growing delays).
    assert len(results) == 20 and results.count(200) == 1
    assert set(results) - {200} <= {401, 429}


def test_a_replayed_recovery_ceremony_fails(app, signed_in, backed_up, recovery, mailbox):
    recovery.begin(backed_up)
    options = recovery.verify(mailed_code(mailbox, count=2)).get_json()
    body = {**recovery.authenticator.create(options), "mode": "duplicate"}
    assert recovery.api.post("/api/recovery/complete", body).status_code == 201
    before = lasting_state(app)
    replay = recovery.api.post("/api/recovery/complete", body)
    assert replay.status_code == 401 and replay.get_json()["error"] == "recovery_failed"
    assert lasting_state(app) == before


def test_a_recovery_begun_before_a_new_code_cannot_complete(
    app, signed_in, backed_up, recovery, mailbox, authenticator
):
    recovery.begin(backed_up)
    options = recovery.verify(mailed_code(mailbox, count=2)).get_json()
    # Meanwhile the owner makes a new code (fresh sign-in, email code).
    assert signed_in.sign_in(authenticator).status_code == 200
    signed_in.post("/api/backup/regenerate")
    signed_in.post("/api/backup/confirm", {"otp": mailed_code(mailbox, count=3)})
    before = lasting_state(app)
    response = recovery.complete(options)
    assert response.status_code == 401
    assert lasting_state(app) == before


def test_smtp_down_during_recovery_loses_nothing(app, signed_in, backed_up, recovery, mailbox):
    mailbox.stop()
    response = recovery.begin(backed_up)
    assert response.status_code == 202  # the user's request does not fail
    # (Only the recovery mail: the activation mail may be a moment from being marked sent.)
    unsent = "sent_at IS NULL AND kind = 'email_code_recover'"
    assert table_count(app, "outbox_mail", unsent) == 1
    mailbox.start()
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    otp = mailed_code(mailbox, count=2)
    assert recovery.verify(otp).status_code == 200
    # Whichever sender got it out (send-mail or the worker's retry) marks it sent; once.
    deadline = time.monotonic() + 5
    while table_count(app, "outbox_mail", unsent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert table_count(app, "outbox_mail", unsent) == 0
    mailbox.assert_count(2, to=ALICE)  # the activation code and the recovery code, once each
