"""The exact limits of every expiry: the app's clock stands on the boundary second and one
second before it (``tests/clock.py``), so ``>=`` against ``>`` (or a limit off by one) fails
a test. What each limit means: a challenge, a mailed code, a started recovery, a pairing code
and a block link stop working AT their TTL; a session ends AT its idle timeout or lifetime; a
verification counts as fresh up to and including REAUTH_MAX_AGE."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.clock import clock_fixture  # noqa: F401
from tests.conftest import ORIGIN, Api
from tests.notify.test_devices_told import NewDevice, block_link, start_pairing
from tests.recovery.test_recovery import activate_backup, mailed_code
from tools.softauthn import SoftAuthenticator

BEFORE, AT = -1, 0  # seconds relative to a limit


def error(response: Any) -> tuple[int, str]:
    return response.status_code, (response.get_json() or {}).get("error")


def touch(api: Api) -> int:
    """A request that commits (every POST does; a GET does not write its last-seen time, see
    ``test_reading_pages_keeps_a_session_alive``)."""
    return api.post("/api/notifications/read").status_code


def execute(app: Any, sql: str, **params: Any) -> Any:
    with app.extensions["keystead.engine"].begin() as conn:
        return conn.execute(sa.text(sql), params)


# ---- challenges ----------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 401)])
def test_a_challenge_works_until_its_ttl(clock, app, signed_in, authenticator, offset, expected):
    begin = signed_in.post("/api/authenticate/begin", {"username": "alice"})
    body = authenticator.get(begin.get_json())
    clock.advance(app.config["CHALLENGE_TTL"] + offset)
    response = signed_in.post("/api/authenticate/complete", body)
    assert response.status_code == expected, response.get_json()
    if expected == 401:
        assert error(response) == (401, "authentication_failed")


# ---- sessions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 401)])
def test_a_session_ends_at_its_idle_timeout(clock, app, signed_in, offset, expected):
    clock.advance(app.config["SESSION_IDLE_TIMEOUT"] + offset)
    assert signed_in.get("/api/me").status_code == expected


@pytest.mark.parametrize(
    "config_overrides", [{"SESSION_LIFETIME": 1000, "SESSION_IDLE_TIMEOUT": 400}], indirect=True
)
@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 401)])
def test_a_session_in_use_ends_at_its_lifetime(clock, signed_in, offset, expected):
    # Used every 390 s, it never idles out; the absolute lifetime still ends it.
    for seconds in (390, 780):
        clock.at(seconds)
        assert touch(signed_in) == 204
    clock.at(1000 + offset)
    assert signed_in.get("/api/me").status_code == expected


@pytest.mark.parametrize(("seen_at", "expected"), [(59, 401), (60, 200)])
def test_last_seen_moves_once_a_minute_has_passed(clock, app, signed_in, seen_at, expected):
    """A request LAST_SEEN_RESOLUTION (60 s) after the last recorded one records itself."""
    clock.at(seen_at)
    assert touch(signed_in) == 204
    clock.at(app.config["SESSION_IDLE_TIMEOUT"] + 59)
    assert signed_in.get("/api/me").status_code == expected


def test_reading_pages_keeps_a_session_alive(clock, app, signed_in):
    clock.at(app.config["SESSION_IDLE_TIMEOUT"] - 60)
    assert signed_in.get("/api/me").status_code == 200
    clock.at(app.config["SESSION_IDLE_TIMEOUT"] + 60)
    assert signed_in.get("/api/me").status_code == 200


@pytest.mark.parametrize(("offset", "expected"), [(AT, 201), (+1, 401)])
def test_a_verification_is_fresh_up_to_reauth_max_age(clock, app, signed_in, offset, expected):
    clock.advance(app.config["REAUTH_MAX_AGE"] + offset)
    response = signed_in.post("/api/pairing")
    assert response.status_code == expected
    if expected == 401:
        assert error(response) == (401, "reauth_required")


# ---- pairing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, "waiting"), (AT, "expired")])
def test_a_pairing_code_works_until_its_ttl(clock, app, signed_in, offset, expected):
    token = start_pairing(signed_in)["token"]
    clock.advance(app.config["PAIRING_TTL"] + offset)
    phone = NewDevice(app)
    begin = phone.api.post(f"/api/pairing/{token}/begin", {"device_name": "Phone"})
    assert begin.status_code == (200 if expected == "waiting" else 404)
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == expected


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 429), (AT, 201)])
def test_expired_pairings_stop_counting_toward_the_pending_limit(
    clock, app, signed_in, offset, expected
):
    assert app.config["PAIRING_TTL"] <= app.config["REAUTH_MAX_AGE"]  # still fresh below
    for _ in range(3):
        start_pairing(signed_in)
    clock.advance(app.config["PAIRING_TTL"] + offset)
    response = signed_in.post("/api/pairing")
    assert response.status_code == expected
    if expected == 429:
        assert error(response) == (429, "too_many_pairings")


def test_a_pairing_approved_one_second_before_its_ttl_completes(clock, app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    clock.advance(app.config["PAIRING_TTL"] - 1)
    approved = signed_in.post(f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"


def test_a_pairing_not_approved_by_its_ttl_expires_and_loses_its_passkey(clock, app, signed_in):
    token = start_pairing(signed_in)["token"]
    phone = NewDevice(app)
    assert phone.redeem(token).status_code == 202
    pending = signed_in.get(f"/api/pairing/{token}").get_json()["device"]["id"]
    clock.advance(app.config["PAIRING_TTL"])
    approved = signed_in.post(f"/api/pairing/{token}/approve", {"confirmation": phone.confirmation})
    assert error(approved) == (404, "not_found")
    assert signed_in.get(f"/api/pairing/{token}").get_json()["status"] == "expired"
    ids = [d["id"] for d in signed_in.get("/api/devices").get_json()["devices"]]
    assert pending not in ids


# ---- mailed codes and recovery -------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 401)])
def test_a_mailed_code_works_until_its_ttl(clock, app, signed_in, mailbox, offset, expected):
    assert signed_in.post("/api/backup/activate").status_code == 202
    code = mailed_code(mailbox)
    clock.advance(app.config["OTP_TTL"] + offset)
    response = signed_in.post("/api/backup/confirm", {"otp": code})
    assert response.status_code == expected, response.get_json()
    if expected == 401:
        assert error(response) == (401, "invalid_code")
        assert signed_in.get("/api/backup").get_json()["active"] is False


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 201), (AT, 401)])
def test_a_started_recovery_works_until_its_flow_ttl(
    clock, app, signed_in, mailbox, offset, expected
):
    backup_code = activate_backup(signed_in, mailbox)
    stranger = Api(app.test_client())
    clock.advance(10)
    started = clock.now
    begin = stranger.post("/api/recovery/begin", {"username": "alice", "backup_code": backup_code})
    assert begin.status_code == 202
    verified = stranger.post("/api/recovery/verify", {"otp": mailed_code(mailbox, count=2)})
    assert verified.status_code == 200
    clock.set(started)
    clock.advance(app.config["RECOVERY_FLOW_TTL"] + offset)
    options = stranger.post("/api/recovery/options")
    if expected == 401:
        assert error(options) == (401, "recovery_failed")
        return
    assert options.status_code == 200
    body = SoftAuthenticator(origin=ORIGIN).create(options.get_json())
    done = stranger.post("/api/recovery/complete", {**body, "mode": "duplicate"})
    assert done.status_code == 201, done.get_json()


# ---- block links ---------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "expected"), [(BEFORE, 200), (AT, 404)])
def test_a_block_link_works_until_its_ttl(clock, app, signed_in, mailbox, offset, expected):
    # Notices with block links go to a verified address.
    execute(app, "UPDATE users SET email_verified_at = created_at")
    assert signed_in.add_device(SoftAuthenticator(attachment="cross-platform")).status_code == 201
    token = block_link(mailbox, 1)
    clock.advance(app.config["BLOCK_LINK_TTL"] + offset)
    assert app.test_client().get(f"/block/{token}").status_code == expected


# ---- purge ---------------------------------------------------------------------------------

RETENTION = 30 * 86400  # ended sessions are kept 30 days (the account's session history)


def purge(app: Any) -> str:
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    return result.output


def session_count(app: Any) -> int:
    return execute(app, "SELECT count(*) FROM login_sessions").scalar_one()


@pytest.mark.parametrize(("offset", "deleted"), [(BEFORE, 0), (AT, 1)])
def test_purge_deletes_a_signed_out_session_30_days_later(
    clock, app, signed_in, authenticator, offset, deleted
):
    assert signed_in.post("/api/logout").status_code == 204
    assert signed_in.sign_in(authenticator).status_code == 200  # live for 14 days
    clock.at(RETENTION + offset)
    assert f"deleted 0 expired challenges, {deleted} ended sessions" in purge(app)
    assert session_count(app) == 2 - deleted


@pytest.mark.parametrize("config_overrides", [{"SESSION_LIFETIME": 1000}], indirect=True)
@pytest.mark.parametrize(("offset", "deleted"), [(BEFORE, 0), (AT, 1)])
def test_purge_deletes_an_expired_session_30_days_later(clock, app, signed_in, offset, deleted):
    clock.at(1000 + RETENTION + offset)
    assert f"{deleted} ended sessions" in purge(app)
    assert session_count(app) == 1 - deleted


@pytest.mark.parametrize(("offset", "deleted"), [(BEFORE, 0), (AT, 1)])
def test_purge_deletes_a_challenge_at_its_ttl(clock, app, api, offset, deleted):
    assert api.post("/api/authenticate/begin", {}).status_code == 200
    clock.at(app.config["CHALLENGE_TTL"] + offset)
    assert f"deleted {deleted} expired challenges" in purge(app)


# ---- lengths -------------------------------------------------------------------------------

# 64 + 1 + 189 = 254 characters, the longest address (RFC 5321), each part within its own limit.
LONGEST_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"


@pytest.mark.parametrize(
    ("field", "longest", "too_long"),
    [
        ("username", "u" * 64, "u" * 65),
        ("email", LONGEST_EMAIL, LONGEST_EMAIL.replace(".com", "d.com")),
        ("display_name", "D" * 128, "D" * 129),
    ],
)
def test_sign_up_values_may_be_exactly_as_long_as_allowed(api, field, longest, too_long):
    assert len(LONGEST_EMAIL) == 254 and len(too_long) == len(longest) + 1
    body = {"username": "alice", "email": "alice@example.com", field: longest}
    assert api.post("/api/register/begin", body).status_code == 200
    refused = api.post("/api/register/begin", {**body, field: too_long})
    assert error(refused) == (400, "invalid_input")


def test_a_device_name_may_be_exactly_as_long_as_allowed(signed_in):
    device = signed_in.get("/api/devices").get_json()["devices"][0]["id"]
    renamed = signed_in.patch(f"/api/devices/{device}", {"name": "n" * 64})
    assert renamed.status_code == 200 and renamed.get_json()["device"]["name"] == "n" * 64
    assert error(signed_in.patch(f"/api/devices/{device}", {"name": "n" * 65})) == (
        400,
        "invalid_input",
    )


def test_a_sign_in_username_may_be_254_characters(api):
    assert api.post("/api/authenticate/begin", {"username": "u" * 254}).status_code == 200
    too_long = api.post("/api/authenticate/begin", {"username": "u" * 255})
    assert error(too_long) == (400, "invalid_input")
    assert error(api.post("/api/authenticate/begin", {"username": "  "})) == (400, "invalid_input")


@pytest.mark.parametrize(("draw", "left"), [(0, 1), (1, 2)])
def test_one_begin_in_a_hundred_sweeps_expired_challenges(clock, app, api, monkeypatch, draw, left):
    import webauthn.challenges

    assert api.post("/api/authenticate/begin", {}).status_code == 200
    clock.at(app.config["CHALLENGE_TTL"])
    monkeypatch.setattr(webauthn.challenges.secrets, "randbelow", lambda n: draw)
    assert api.post("/api/authenticate/begin", {}).status_code == 200
    assert execute(app, "SELECT count(*) FROM challenges").scalar_one() == left
