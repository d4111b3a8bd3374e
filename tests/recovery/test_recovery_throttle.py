"""Who recovery failures may hold up, and for how long (issue 7, item 5).

A wrong backup code is counted per browser (may lock it) and per IP (only slowed, bounded);
never against the ID named. The per-ID lock guards the email code once a right backup code
was given; the signed-in owner's backup management counts only the owner's own wrong codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import utcnow
from recovery import throttle
from recovery.throttle import MAX_DELAY, ThrottlePolicy, verdict
from tests.clock import Clock
from tests.conftest import Api
from tests.recovery.test_recovery import ALICE, Recovery, activate_backup, at, mailed_code, mails_to

WRONG = "0000-0000-0000-0000-0000-0000"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ip(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def wrong_otp(right: str) -> str:
    return "12345678" if right != "12345678" else "87654321"


# ---- the pure rules ------------------------------------------------------------------------


def test_delays_grow_from_the_free_failures_on():
    policy = ThrottlePolicy(window=3600)
    assert [throttle.delay(n, policy) for n in range(1, 12)] == [
        0,
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
        60,
    ]
    three = [T0, T0, T0]
    assert verdict(three, T0, policy) == throttle.Verdict(False, 1)
    assert verdict(three, T0 + timedelta(seconds=1), policy).allowed
    assert verdict(three[:2], T0, policy).allowed


def test_a_slowed_subject_is_never_locked_and_never_waits_beyond_the_bound():
    policy = ThrottlePolicy(window=3600, free_failures=30)
    for count in (30, 31, 40, 100, 10_000):
        failures = [T0 + timedelta(seconds=i * 0.01) for i in range(count)]
        last = failures[-1]
        decision = verdict(failures, last, policy)
        assert not decision.allowed and 1 <= decision.retry_after <= MAX_DELAY
        assert verdict(failures, last + timedelta(seconds=MAX_DELAY), policy).allowed
    assert verdict([T0] * 29, T0, policy).allowed


def test_a_lock_lasts_until_the_oldest_counted_failure_leaves_the_window():
    policy = ThrottlePolicy(window=3600, lock_after=4)
    failures = [T0 + timedelta(minutes=i) for i in range(4)]
    now = T0 + timedelta(minutes=10)
    assert verdict(failures, now, policy) == throttle.Verdict(False, 3000)
    assert verdict(failures[:3], now, policy).allowed
    # Only the newest ``lock_after`` count: a longer list unlocks when its 4th-newest leaves.
    longer = [T0 - timedelta(minutes=5), *failures]
    assert verdict(longer, now, policy) == throttle.Verdict(False, 3000)


# ---- strangers cannot stop the owner -------------------------------------------------------


@pytest.mark.parametrize("attempts", [4, 40])
def test_wrong_recovery_attempts_from_four_ips_never_stop_the_owner_managing_backup(
    app, signed_in, mailbox, clock, attempts
):
    start = utcnow()
    for i in range(attempts):
        at(clock, start + timedelta(seconds=61 * i))  # past every delay
        stranger = Api(app.test_client())
        response = stranger.post(
            "/api/recovery/begin",
            {"username": "alice", "backup_code": WRONG},
            **ip(f"203.0.113.{i % 4}"),
        )
        assert response.status_code == 401
    activated = signed_in.post("/api/backup/activate")
    assert activated.status_code == 202, activated.get_json()
    confirmed = signed_in.post("/api/backup/confirm", {"otp": mailed_code(mailbox)})
    assert confirmed.status_code == 200


def test_the_owner_recovers_from_a_fresh_browser_after_at_most_the_bounded_delay(
    app, signed_in, backed_up, mailbox, clock
):
    """40 wrong codes from the owner's own address (cookies dropped each time) slow that
    address, never by more than MAX_DELAY; from another address there is no wait at all."""
    start = utcnow()
    for i in range(40):
        at(clock, start + timedelta(seconds=61 * i))
        stranger = Api(app.test_client())
        assert (
            stranger.post(
                "/api/recovery/begin", {"username": "alice", "backup_code": WRONG}, **ip("10.0.0.1")
            ).status_code
            == 401
        )
    last = start + timedelta(seconds=61 * 39)
    at(clock, last + timedelta(seconds=1))
    elsewhere = Recovery(app, mailbox)
    assert (
        elsewhere.api.post(
            "/api/recovery/begin", {"username": "alice", "backup_code": backed_up}, **ip("10.0.0.2")
        ).status_code
        == 202
    )

    mailed_code(mailbox, count=2)  # (its mail is out before the owner's)

    owner = Recovery(app, mailbox)
    body = {"username": "alice", "backup_code": backed_up}
    slowed = owner.api.post("/api/recovery/begin", body, **ip("10.0.0.1"))
    assert slowed.status_code == 429
    wait = int(slowed.headers["Retry-After"])
    assert 1 <= wait <= MAX_DELAY
    at(clock, last + timedelta(seconds=1 + wait))
    sent = len(mails_to(mailbox))
    assert owner.api.post("/api/recovery/begin", body, **ip("10.0.0.1")).status_code == 202
    verified = owner.api.post(
        "/api/recovery/verify", {"otp": mailed_code(mailbox, count=sent + 1)}, **ip("10.0.0.1")
    )
    assert verified.status_code == 200, verified.get_json()
    done = owner.complete(verified.get_json(), "duplicate")
    assert done.status_code == 201


def test_a_colleague_behind_the_same_address_does_not_lock_the_owner_out(
    app, signed_in, backed_up, mailbox, clock
):
    start = utcnow()
    colleague = Api(app.test_client())
    for i in range(11):
        at(clock, start + timedelta(minutes=i))
        last = colleague.post(
            "/api/recovery/begin", {"username": "alice", "backup_code": WRONG}, **ip("192.0.2.9")
        )
    assert last.status_code == 429  # the colleague's own browser is locked
    owner = Api(app.test_client())
    response = owner.post(
        "/api/recovery/begin", {"username": "alice", "backup_code": backed_up}, **ip("192.0.2.9")
    )
    assert response.status_code == 202


# ---- the per-ID lock guards the email code, after a right backup code ----------------------

FOUR = pytest.mark.parametrize("config_overrides", [{"RECOVERY_MAX_FAILURES": 4}], indirect=True)


def wrong_email_codes(recovery: Recovery, otp: str, start: datetime, clock: Clock) -> None:
    for i in range(4):
        at(clock, start + timedelta(seconds=2 * i))  # past the 1-second delay
        assert recovery.verify(wrong_otp(otp)).status_code == 401


@FOUR
def test_wrong_email_codes_after_a_right_backup_code_lock_the_ids_email_step(
    app, signed_in, backed_up, mailbox, authenticator, clock
):
    start = utcnow()
    at(clock, start)
    first = Recovery(app, mailbox)
    assert first.begin(backed_up).status_code == 202
    otp = mailed_code(mailbox, count=2)
    wrong_email_codes(first, otp, start, clock)
    # Another browser, another address, the right backup code: step 1 still works (no
    # per-ID lock on backup codes), but the ID's email-code step is locked.
    # (After MAIL_CODE_COOLDOWN: a recovery code went to this address moments ago.)
    at(clock, start + timedelta(seconds=40))
    second = Recovery(app, mailbox)
    begun = second.api.post(
        "/api/recovery/begin", {"username": "alice", "backup_code": backed_up}, **ip("198.51.100.3")
    )
    assert begun.status_code == 202
    locked = second.api.post(
        "/api/recovery/verify", {"otp": mailed_code(mailbox, count=3)}, **ip("198.51.100.3")
    )
    assert locked.status_code == 429 and locked.get_json()["error"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= 3600
    # The signed-in owner still manages backup: anonymous failures are not the owner's.
    assert signed_in.sign_in(authenticator).status_code == 200
    assert signed_in.post("/api/backup/regenerate").status_code == 202


@FOUR
def test_recovery_step_two_checks_and_counts_failures(
    app, signed_in, backed_up, recovery, mailbox, clock
):
    start = utcnow()
    at(clock, start)
    assert recovery.begin(backed_up).status_code == 202
    otp = mailed_code(mailbox, count=2)
    wrong_email_codes(recovery, otp, start, clock)
    at(clock, start + timedelta(minutes=5))
    refused = recovery.verify(otp)  # right, but after 4 counted failures
    assert refused.status_code == 429
    at(clock, start + timedelta(minutes=61))
    # The hour is over; the flow (RECOVERY_FLOW_TTL) too: start again and it works.
    sent = len(mails_to(mailbox))
    assert recovery.begin(backed_up).status_code == 202
    assert recovery.verify(mailed_code(mailbox, count=sent + 1)).status_code == 200


def test_one_wrong_email_code_then_the_right_one_recovers(
    app, signed_in, backed_up, recovery, mailbox
):
    assert recovery.begin(backed_up).status_code == 202
    otp = mailed_code(mailbox, count=2)
    assert recovery.verify(wrong_otp(otp)).status_code == 401
    verified = recovery.verify(otp)
    assert verified.status_code == 200
    assert recovery.complete(verified.get_json(), "duplicate").status_code == 201


# ---- the signed-in owner: only the owner's own failures count -------------------------------


@FOUR
def test_activation_and_its_confirmation_check_and_count_the_owners_wrong_codes(
    app, signed_in, mailbox, clock
):
    start = utcnow()
    at(clock, start)
    assert signed_in.post("/api/backup/activate").status_code == 202
    otp = mailed_code(mailbox)
    for i in range(4):
        at(clock, start + timedelta(seconds=2 * i))
        assert signed_in.post("/api/backup/confirm", {"otp": wrong_otp(otp)}).status_code == 401
    at(clock, start + timedelta(minutes=1))
    refused = signed_in.post("/api/backup/confirm", {"otp": otp})
    assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_attempts"
    again = signed_in.post("/api/backup/activate")
    assert again.status_code == 429
    assert signed_in.get("/api/backup").get_json()["active"] is False
    # Once the failures leave the window, the owner goes on.
    at(clock, start + timedelta(minutes=61))
    sent = len(mails_to(mailbox))
    assert signed_in.post("/api/backup/activate").status_code == 202
    assert (
        signed_in.post(
            "/api/backup/confirm", {"otp": mailed_code(mailbox, count=sent + 1)}
        ).status_code
        == 200
    )


@FOUR
def test_regeneration_and_its_confirmation_check_and_count_the_owners_wrong_codes(
    app, signed_in, mailbox, authenticator, clock
):
    activate_backup(signed_in, mailbox)
    start = utcnow()
    at(clock, start)
    assert signed_in.sign_in(authenticator).status_code == 200  # fresh
    sent = len(mails_to(mailbox, ALICE))
    assert signed_in.post("/api/backup/regenerate").status_code == 202
    otp = mailed_code(mailbox, count=sent + 1)
    for i in range(4):
        at(clock, start + timedelta(seconds=2 * i))
        assert signed_in.post("/api/backup/confirm", {"otp": wrong_otp(otp)}).status_code == 401
    at(clock, start + timedelta(seconds=30))
    assert signed_in.post("/api/backup/confirm", {"otp": otp}).status_code == 429
    assert signed_in.post("/api/backup/regenerate").status_code == 429


@pytest.fixture
def backed_up(signed_in: Api, mailbox: Any) -> str:
    return activate_backup(signed_in, mailbox)


@pytest.fixture
def recovery(app: Any, mailbox: Any) -> Recovery:
    return Recovery(app, mailbox)
