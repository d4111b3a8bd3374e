"""Rules of the signed-in session that a test must notice being deleted: a session that never
verified its user is not fresh, a step-up without user verification does not make it fresh,
and an unknown session cookie is not signed in (a clean 401 that changes nothing). The
other packages' rules are in their own ``test_rules.py``."""

from __future__ import annotations

import pytest

from tests.clock import stale
from tests.conftest import Api, error, snapshot
from tests.notify.test_devices_told import step_up
from tools.softauthn import Tamper

PREFERRED = {"USER_VERIFICATION": "preferred"}


# ---- freshness -----------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [PREFERRED], indirect=True)
def test_a_session_that_never_verified_its_user_is_not_fresh(clock, app, api, authenticator):
    assert api.sign_up(authenticator, tamper=Tamper(uv=False)).status_code == 201
    refused = api.post("/api/pairing")
    assert error(refused) == (401, "reauth_required")
    assert error(api.post("/api/backup/regenerate")) == (401, "reauth_required")
    # A step-up with UV makes the same session fresh: the refusal was about verification.
    assert step_up(api, authenticator).status_code == 204
    assert api.post("/api/pairing").status_code == 201


@pytest.mark.parametrize("config_overrides", [PREFERRED], indirect=True)
def test_a_step_up_without_user_verification_does_not_make_a_session_fresh(
    clock, app, signed_in, authenticator
):
    stale(clock, app)
    assert error(signed_in.post("/api/pairing")) == (401, "reauth_required")
    without_uv = step_up(signed_in, authenticator, Tamper(uv=False))
    assert error(without_uv) == (401, "authentication_failed")
    assert error(signed_in.post("/api/pairing")) == (401, "reauth_required")
    assert step_up(signed_in, authenticator).status_code == 204
    assert signed_in.post("/api/pairing").status_code == 201


# ---- unknown values ------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", ["A" * 43, "", "x" * 129, "not a token"])
def test_an_unknown_session_cookie_is_not_signed_in(app, signed_in, cookie):
    stranger = Api(app.test_client())
    stranger.client.set_cookie("keystead_session", cookie)
    assert error(stranger.get("/api/me")) == (401, "not_signed_in")
    before = snapshot(app)
    assert error(stranger.post("/api/pairing")) == (401, "not_signed_in")
    assert error(stranger.post("/api/devices/register/begin", {})) == (401, "not_signed_in")
    assert snapshot(app) == before
