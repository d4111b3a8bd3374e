"""Passkey ceremonies at their exact limits (``tests/clock.py`` stops the app's clock): a
challenge stops working AT its TTL and one begin in a hundred sweeps expired ones; sign-up
values, a device name and a sign-in username may be exactly as long as allowed."""

from __future__ import annotations

import pytest

from tests.clock import AT, BEFORE
from tests.conftest import error, execute

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
