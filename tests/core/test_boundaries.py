"""Sessions and verifications at their exact limits: the app's clock stands on the boundary
second and one second before it (``tests/clock.py``), so ``>=`` against ``>`` (or a limit off
by one) fails a test. A session ends AT its idle timeout or lifetime; a verification counts as
fresh up to and including REAUTH_MAX_AGE; ``flask purge`` deletes what ended 30 days ago and
challenges at their TTL. The other packages' limits are in their own ``test_boundaries.py``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clock import AT, BEFORE
from tests.conftest import Api, error, execute


def touch(api: Api) -> int:
    """A request that commits (every POST does; a GET does not write its last-seen time, see
    ``test_reading_pages_keeps_a_session_alive``)."""
    return api.post("/api/notifications/read").status_code


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
