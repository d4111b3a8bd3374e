"""The OpenID Connect provider, in the spirit of the OpenID Foundation's basic RP-facing
checks: discovery and keys, the code flow with PKCE, the ID token, and every refusal."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.clock import Clock
from tests.conftest import ORIGIN, Api, execute
from tests.embed.conftest import (
    WEBSITE,
    Website,
    code_from,
    redirect_params,
    register,
    sign_in_to,
)

# ---- discovery and keys --------------------------------------------------------------------


def test_discovery_names_every_endpoint_under_the_issuer(client: Any) -> None:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.get_json()
    assert meta["issuer"] == ORIGIN
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ):
        assert meta[key].startswith(ORIGIN + "/"), key
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["subject_types_supported"] == ["pairwise"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_discovery_ignores_the_host_header(client: Any) -> None:
    meta = client.get("/.well-known/openid-configuration", headers={"Host": "evil.example"})
    assert meta.get_json()["issuer"] == ORIGIN
    assert meta.get_json()["token_endpoint"].startswith(ORIGIN)


def test_jwks_publishes_public_keys_only(client: Any) -> None:
    keys = client.get("/oauth/jwks").get_json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "a private part is published"
    # The same keys on the next request (stored, not made per request).
    assert client.get("/oauth/jwks").get_json()["keys"] == keys


# ---- the code flow -------------------------------------------------------------------------


def test_code_flow_with_pkce_gives_a_verifiable_id_token(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 300
    assert tokens["refresh_token"]
    claims = website.id_token_claims(tokens["id_token"])
    assert claims["iss"] == ORIGIN
    assert claims["aud"] == website.client_id
    assert claims["nonce"] == website.nonce
    assert claims["exp"] > claims["iat"] >= claims["auth_time"]
    assert claims["sid"]
    # Soft authenticator: a device-bound key, user verified.
    assert claims["amr"] == ["hwk", "user"]
    assert claims["acr"] == "phrh"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    at_hash = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["at_hash"] == at_hash


def test_synced_passkey_says_swk_and_phr(app: Flask, api: Api, website: Website) -> None:
    from tools.softauthn import SoftAuthenticator

    synced = SoftAuthenticator(origin=ORIGIN, backup_eligible=True)
    assert api.sign_up(synced).status_code == 201
    claims = website.id_token_claims(sign_in_to(api, website)["id_token"])
    assert claims["amr"][0] == "swk" and claims["acr"] == "phr"


def test_userinfo_answers_for_the_access_token(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    claims = website.id_token_claims(tokens["id_token"])
    info = website.app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200
    body = info.get_json()
    assert body["sub"] == claims["sub"]
    assert body["name"] and body["preferred_username"] == "alice"


def test_scopes_limit_the_claims(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website, scope="openid")
    claims = website.id_token_claims(tokens["id_token"])
    assert "email" not in claims and "preferred_username" not in claims


def test_pairwise_subject_differs_between_websites_and_is_stable(
    app: Flask, signed_in: Api, website: Website
) -> None:
    other_id, other_secret = register(app, name="Other", redirect_uris=["https://other.example/cb"])
    other = Website(app, other_id, other_secret, "https://other.example/cb")
    first = website.id_token_claims(sign_in_to(signed_in, website)["id_token"])["sub"]
    again = website.id_token_claims(sign_in_to(signed_in, website)["id_token"])["sub"]
    elsewhere = other.id_token_claims(sign_in_to(signed_in, other)["id_token"])["sub"]
    assert first == again
    assert elsewhere != first


@pytest.mark.parametrize("config_overrides", [{"OIDC_SUBJECT_TYPE": "public"}], indirect=True)
def test_public_subject_is_the_same_everywhere(
    app: Flask, signed_in: Api, website: Website
) -> None:
    other_id, other_secret = register(app, name="Other", redirect_uris=["https://other.example/cb"])
    other = Website(app, other_id, other_secret, "https://other.example/cb")
    first = website.id_token_claims(sign_in_to(signed_in, website)["id_token"])["sub"]
    elsewhere = other.id_token_claims(sign_in_to(signed_in, other)["id_token"])["sub"]
    assert first == elsewhere


def test_client_secret_post_is_accepted(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    secret, website.secret = website.secret, None  # send it in the form instead
    answer = website.redeem(code, client_secret=secret)
    assert answer.status_code == 200, answer.get_json()


def test_public_client_uses_pkce_without_secret(app: Flask, signed_in: Api) -> None:
    client_id, secret = register(app, public=True)
    assert secret is None
    public = Website(app, client_id, None, f"{WEBSITE}/callback")
    assert "id_token" in sign_in_to(signed_in, public)
    without = signed_in.get(public.authorize_url(code_challenge=None, code_challenge_method=None))
    assert redirect_params(without)["error"] == "invalid_request"


# ---- refusals ------------------------------------------------------------------------------


def test_wrong_code_verifier_is_refused(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    answer = website.redeem(code, code_verifier="x" * 50)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    answer = website.redeem(code, code_verifier=None)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"


def test_plain_pkce_is_refused(signed_in: Api, website: Website) -> None:
    response = signed_in.get(
        website.authorize_url(code_challenge=website.verifier, code_challenge_method="plain")
    )
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [f"{WEBSITE}/callback/", f"{WEBSITE}/callback?x=1", "https://evil.example/callback", ""],
)
def test_unregistered_redirect_uri_shows_a_page_and_never_redirects(
    signed_in: Api, website: Website, redirect_uri: str
) -> None:
    response = signed_in.get(website.authorize_url(redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert b"unknown_website" in response.data


def test_unknown_client_shows_a_page(signed_in: Api, website: Website) -> None:
    response = signed_in.get(website.authorize_url(client_id="nobody"))
    assert response.status_code == 400 and "Location" not in response.headers


def test_wrong_client_secret_is_refused(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    website.secret = "wrong"
    answer = website.redeem(code)
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


def test_code_of_another_client_is_refused(app: Flask, signed_in: Api, website: Website) -> None:
    other_id, other_secret = register(app, name="Other", redirect_uris=[website.redirect_uri])
    code = code_from(signed_in.get(website.authorize_url()), website)
    thief = Website(app, other_id, other_secret, website.redirect_uri, verifier=website.verifier)
    assert thief.redeem(code).get_json()["error"] == "invalid_grant"
    # And the code still works for its own client: the thief's attempt used nothing.
    assert website.redeem(code).status_code == 200


def test_code_replay_is_refused_and_revokes_its_tokens(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    first = website.redeem(code).get_json()
    replay = website.redeem(code)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    info = website.app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert info.status_code == 401
    assert website.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_expired_code_is_refused(signed_in: Api, website: Website, clock: Clock) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    clock.advance(60)
    assert website.redeem(code).get_json()["error"] == "invalid_grant"


def test_code_redeemed_one_second_before_expiry_works(
    signed_in: Api, website: Website, clock: Clock
) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    clock.advance(59)
    assert website.redeem(code).status_code == 200


def test_redirect_uri_must_match_at_the_token_endpoint(signed_in: Api, website: Website) -> None:
    code = code_from(signed_in.get(website.authorize_url()), website)
    answer = website.redeem(code, redirect_uri=f"{WEBSITE}/other")
    assert answer.get_json()["error"] == "invalid_grant"


def test_refresh_token_rotates_and_reuse_revokes_the_family(
    signed_in: Api, website: Website
) -> None:
    first = sign_in_to(signed_in, website)
    second = website.refresh(first["refresh_token"])
    assert second.status_code == 200, second.get_json()
    second_tokens = second.get_json()
    assert second_tokens["refresh_token"] != first["refresh_token"]
    # The first refresh token again: theft. The whole family dies, the newest included.
    reuse = website.refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert website.refresh(second_tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    info = website.app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {second_tokens['access_token']}"}
    )
    assert info.status_code == 401


def test_access_token_expires(signed_in: Api, website: Website, clock: Clock) -> None:
    tokens = sign_in_to(signed_in, website)
    clock.advance(300)
    info = website.app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 401


def _userinfo_status(website: Website, access_token: str) -> int:
    return (
        website.app.test_client()
        .get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        .status_code
    )


def test_tokens_die_when_the_device_is_blocked(
    two_devices: dict[str, Any], website: Website
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    tokens = sign_in_to(b, website)
    assert _userinfo_status(website, tokens["access_token"]) == 200
    blocked = a.post(f"/api/devices/{two_devices['b_id']}/block")
    assert blocked.status_code == 200, blocked.get_json()
    assert _userinfo_status(website, tokens["access_token"]) == 401
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_tokens_stay_dead_after_the_device_is_unblocked(
    app: Flask, two_devices: dict[str, Any], website: Website
) -> None:
    a, b = two_devices["a"], two_devices["b"]
    tokens = sign_in_to(b, website)
    assert a.post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    execute(app, "UPDATE devices SET status = 'active' WHERE id = :id", id=two_devices["b_id"])
    execute(app, "UPDATE login_sessions SET revoked_at = NULL")
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_tokens_die_when_the_keystead_session_ends(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    assert signed_in.post("/api/logout").status_code == 204
    assert _userinfo_status(website, tokens["access_token"]) == 401
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_tokens_die_when_the_id_is_deleted(app: Flask, signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    execute(app, "UPDATE users SET deleted_at = CURRENT_TIMESTAMP")
    assert _userinfo_status(website, tokens["access_token"]) == 401


# ---- prompt, max_age and the sign-in page ----------------------------------------------------


def test_signed_out_browser_goes_to_sign_in_and_comes_back(
    api: Api, website: Website, authenticator: Any
) -> None:
    assert api.sign_up(authenticator).status_code == 201
    assert api.post("/api/logout").status_code == 204
    response = api.get(website.authorize_url())
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/signin?")
    next_path = redirect_params(response)["next"]
    assert next_path.startswith("/oauth/continue/")
    assert redirect_params(response)["direct"] == "1"
    page = api.get(location)
    assert page.status_code == 200 and b'data-direct="1"' in page.data
    assert api.sign_in(authenticator).status_code == 200
    code = code_from(api.get(next_path), website)
    assert website.redeem(code).status_code == 200


def test_prompt_none_signed_out_answers_login_required(client: Any, website: Website) -> None:
    params = redirect_params(client.get(website.authorize_url(prompt="none")))
    assert params["error"] == "login_required" and params["state"] == website.state
    assert params["iss"] == ORIGIN


def test_prompt_login_asks_for_a_new_sign_in(
    signed_in: Api, website: Website, authenticator: Any, clock: Clock
) -> None:
    response = signed_in.get(website.authorize_url(prompt="login"))
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin?")
    params = redirect_params(response)
    assert params["fresh"] == "1"
    # The sign-in page shows even though the browser is signed in.
    assert signed_in.get(response.headers["Location"]).status_code == 200
    # Coming back without a new sign-in does not satisfy it.
    again = signed_in.get(params["next"])
    assert again.headers["Location"].startswith("/signin?")
    clock.advance(1)
    assert signed_in.sign_in(authenticator).status_code == 200
    code = code_from(signed_in.get(params["next"]), website)
    claims = website.id_token_claims(website.redeem(code).get_json()["id_token"])
    assert claims["auth_time"] == int(clock.now.timestamp())


def test_max_age_exceeded_asks_for_a_new_sign_in(
    signed_in: Api, website: Website, clock: Clock
) -> None:
    clock.advance(120)
    response = signed_in.get(website.authorize_url(max_age="60"))
    assert response.headers["Location"].startswith("/signin?")
    within = signed_in.get(website.authorize_url(max_age="600"))
    assert code_from(within, website)


def test_prompt_none_with_login_needed_answers_login_required(
    signed_in: Api, website: Website, clock: Clock
) -> None:
    clock.advance(120)
    params = redirect_params(signed_in.get(website.authorize_url(prompt="none", max_age="60")))
    assert params["error"] == "login_required"


def test_forged_continuation_is_refused(signed_in: Api, website: Website) -> None:
    response = signed_in.get("/oauth/continue/eyJxIjoiIn0.forged")
    assert response.status_code == 400 and "Location" not in response.headers


def test_continuation_expires(api: Api, website: Website, authenticator: Any, clock: Clock) -> None:
    response = api.get(website.authorize_url())
    next_path = redirect_params(response)["next"]
    assert api.sign_up(authenticator).status_code == 201
    clock.advance(601)
    assert api.get(next_path).status_code == 400


# ---- consent -------------------------------------------------------------------------------


@pytest.fixture
def untrusted(app: Flask) -> Website:
    client_id, secret = register(app, name="Partner", trusted=False)
    return Website(app, client_id, secret, f"{WEBSITE}/callback")


def _consent_form(page: Any) -> dict[str, str]:
    import re

    html = page.get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf, html[:2000]
    return {"csrf": csrf.group(1)}


def test_untrusted_website_asks_for_consent_once(signed_in: Api, untrusted: Website) -> None:
    url = untrusted.authorize_url()
    page = signed_in.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Partner" in html and WEBSITE in html
    assert 'name="decision" value="allow"' in html and 'name="decision" value="deny"' in html
    # The form may be redirected to the website (CSP form-action).
    assert WEBSITE in page.headers["Content-Security-Policy"]
    allowed = signed_in.client.post(
        url, data={**_consent_form(page), "decision": "allow"}, headers={"Origin": ORIGIN}
    )
    assert untrusted.redeem(code_from(allowed, untrusted)).status_code == 200
    # Remembered: the next sign-in goes straight through.
    assert code_from(signed_in.get(untrusted.authorize_url()), untrusted)
    # prompt=consent asks again.
    assert signed_in.get(untrusted.authorize_url(prompt="consent")).status_code == 200


def test_consent_deny_answers_access_denied(signed_in: Api, untrusted: Website) -> None:
    url = untrusted.authorize_url()
    page = signed_in.get(url)
    denied = signed_in.client.post(
        url, data={**_consent_form(page), "decision": "deny"}, headers={"Origin": ORIGIN}
    )
    params = redirect_params(denied)
    assert params["error"] == "access_denied" and params["state"] == untrusted.state
    # Nothing was remembered.
    assert signed_in.get(url).status_code == 200


def test_consent_without_csrf_field_is_refused(signed_in: Api, untrusted: Website) -> None:
    url = untrusted.authorize_url()
    signed_in.get(url)
    forged = signed_in.client.post(url, data={"decision": "allow"}, headers={"Origin": ORIGIN})
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert signed_in.get(url).status_code == 200  # still asks


def test_consent_from_another_site_is_refused(signed_in: Api, untrusted: Website) -> None:
    url = untrusted.authorize_url()
    page = signed_in.get(url)
    forged = signed_in.client.post(
        url, data={**_consent_form(page), "decision": "allow"}, headers={"Origin": WEBSITE}
    )
    assert forged.status_code == 403


def test_prompt_none_untrusted_without_consent_answers_consent_required(
    signed_in: Api, untrusted: Website
) -> None:
    params = redirect_params(signed_in.get(untrusted.authorize_url(prompt="none")))
    assert params["error"] == "consent_required"


# ---- revocation, introspection -------------------------------------------------------------


def test_revoking_the_refresh_token_ends_the_grant(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    revoked = website.token_request({"token": tokens["refresh_token"]}, path="/oauth/revoke")
    assert revoked.status_code == 200
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(website, tokens["access_token"]) == 401


def test_introspection_reports_active_then_inactive(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    active = website.token_request({"token": tokens["access_token"]}, path="/oauth/introspect")
    body = active.get_json()
    assert body["active"] is True and body["client_id"] == website.client_id
    assert body["sub"] == website.id_token_claims(tokens["id_token"])["sub"]
    assert signed_in.post("/api/logout").status_code == 204
    inactive = website.token_request({"token": tokens["access_token"]}, path="/oauth/introspect")
    assert inactive.get_json() == {"active": False}


def test_introspection_of_another_clients_token_says_inactive(
    app: Flask, signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    other_id, other_secret = register(app, name="Other", redirect_uris=["https://other.example/cb"])
    other = Website(app, other_id, other_secret, "https://other.example/cb")
    answer = other.token_request({"token": tokens["access_token"]}, path="/oauth/introspect")
    assert answer.get_json() == {"active": False}


# ---- RP-initiated logout -------------------------------------------------------------------


def test_end_session_with_id_token_hint_signs_out_and_redirects(
    signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    from urllib.parse import urlencode

    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": f"{WEBSITE}/",
            "state": "bye",
        }
    )
    response = signed_in.get(f"/oauth/logout?{query}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{WEBSITE}/?state=bye"
    assert signed_in.get("/api/me").status_code == 401
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_end_session_never_redirects_to_an_unregistered_uri(
    signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    from urllib.parse import urlencode

    query = urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}
    )
    response = signed_in.get(f"/oauth/logout?{query}")
    assert "Location" not in response.headers


def test_end_session_without_hint_asks_first(signed_in: Api, website: Website) -> None:
    page = signed_in.get("/oauth/logout")
    assert page.status_code == 200 and b'name="confirm"' in page.data
    assert signed_in.get("/api/me").status_code == 200  # nothing ended by a GET
    done = signed_in.client.post(
        "/oauth/logout", data={"confirm": "yes"}, headers={"Origin": ORIGIN}
    )
    assert done.status_code == 200
    assert signed_in.get("/api/me").status_code == 401


def test_login_hint_fills_in_the_username(client: Any, website: Website) -> None:
    response = client.get(website.authorize_url(login_hint="bob"))
    assert redirect_params(response)["hint"] == "bob"
    page = client.get(response.headers["Location"])
    assert b'id="username" name="username" type="text" value="bob"' in page.data


def test_tokens_die_with_the_sessions_lifetime(
    app: Flask, signed_in: Api, website: Website, clock: Clock
) -> None:
    tokens = sign_in_to(signed_in, website)
    clock.advance(app.config["SESSION_LIFETIME"])
    assert website.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_website_activity_keeps_its_session_alive_and_listed(
    app: Flask, signed_in: Api, website: Website, clock: Clock
) -> None:
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    refresh = sign_in_to(signed_in, website)["refresh_token"]
    for _ in range(3):  # three idle timeouts in all, a refresh in each
        clock.advance(idle - 60)
        answer = website.refresh(refresh)
        assert answer.status_code == 200, answer.get_json()
        refresh = answer.get_json()["refresh_token"]
    # Still a live session the owner sees (and can end) on the sessions list.
    seen = execute(app, "SELECT last_seen_at FROM login_sessions").scalar_one()
    assert seen is not None
    clock.advance(idle)  # the website stopped: the session idles out, its tokens with it
    assert website.refresh(refresh).get_json()["error"] == "invalid_grant"


# ---- what the mutation run found untested -----------------------------------------------------


def test_unknown_code_is_invalid_grant(signed_in: Api, website: Website) -> None:
    assert website.redeem("no-such-code").get_json()["error"] == "invalid_grant"


def test_code_replayed_by_another_client_revokes_its_tokens(
    app: Flask, signed_in: Api, website: Website
) -> None:
    other_id, other_secret = register(app, name="Other", redirect_uris=[website.redirect_uri])
    code = code_from(signed_in.get(website.authorize_url()), website)
    first = website.redeem(code).get_json()
    thief = Website(app, other_id, other_secret, website.redirect_uri, verifier=website.verifier)
    assert thief.redeem(code).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(website, first["access_token"]) == 401


def test_code_of_a_device_blocked_before_redemption_is_refused(
    two_devices: dict[str, Any], website: Website
) -> None:
    code = code_from(two_devices["b"].get(website.authorize_url()), website)
    assert two_devices["a"].post(f"/api/devices/{two_devices['b_id']}/block").status_code == 200
    assert website.redeem(code).get_json()["error"] == "invalid_grant"


def test_a_session_whose_device_is_not_active_cannot_authorize(
    app: Flask, signed_in: Api, website: Website
) -> None:
    execute(app, "UPDATE devices SET status = 'blocked'")  # the session itself not ended
    response = signed_in.get(website.authorize_url())
    assert response.headers["Location"].startswith("/signin?")
    execute(app, "UPDATE devices SET status = 'active'")
    execute(app, "UPDATE login_sessions SET device_id = NULL")
    response = signed_in.get(website.authorize_url())
    assert response.headers["Location"].startswith("/signin?")


def test_refresh_token_of_another_client_is_refused(
    app: Flask, signed_in: Api, website: Website
) -> None:
    tokens = sign_in_to(signed_in, website)
    other_id, other_secret = register(app, name="Other", redirect_uris=["https://other.example/cb"])
    other = Website(app, other_id, other_secret, "https://other.example/cb")
    assert other.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert website.refresh(tokens["refresh_token"]).status_code == 200  # untouched


def test_a_refresh_lost_to_a_concurrent_one_revokes_the_family(
    signed_in: Api, website: Website, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embed import tokens as token_service

    first = sign_in_to(signed_in, website)
    found = token_service.find_token

    def raced(db: Any, presented: str, *args: Any, **kwargs: Any) -> Any:
        held = found(db, presented, *args, **kwargs)
        # Another request used the same refresh token between our read and our write. (Plain
        # SQL, so the row this request already read keeps used_at None, as a concurrent
        # request's write would leave it; on SQLite writers are serialised, so the other
        # request cannot run on its own connection here.)
        db.execute(
            sa.text("UPDATE oauth_tokens SET used_at = created_at WHERE id = :id"),
            {"id": held.token.id},
        )
        return held

    monkeypatch.setattr(token_service, "find_token", raced)
    lost = website.refresh(first["refresh_token"])
    monkeypatch.undo()
    assert lost.get_json()["error"] == "invalid_grant"
    assert _userinfo_status(website, first["access_token"]) == 401


@pytest.mark.parametrize("config_overrides", [{"OIDC_REFRESH_TOKEN_TTL": 3600}], indirect=True)
def test_refresh_token_lifetime_is_exact(signed_in: Api, website: Website, clock: Clock) -> None:
    early = sign_in_to(signed_in, website)["refresh_token"]
    late = sign_in_to(signed_in, website)["refresh_token"]
    clock.advance(3599)
    assert website.refresh(early).status_code == 200
    clock.advance(1)
    assert website.refresh(late).get_json()["error"] == "invalid_grant"


def test_revoking_an_access_token_ends_it_alone(signed_in: Api, website: Website) -> None:
    tokens = sign_in_to(signed_in, website)
    revoked = website.token_request({"token": tokens["access_token"]}, path="/oauth/revoke")
    assert revoked.status_code == 200
    assert _userinfo_status(website, tokens["access_token"]) == 401
    assert website.refresh(tokens["refresh_token"]).status_code == 200


def test_deleting_the_id_revokes_its_grants_for_good(
    app: Flask, signed_in: Api, website: Website
) -> None:
    sign_in_to(signed_in, website)
    deleted = signed_in.client.delete(
        "/api/me", json={"confirm": "alice"}, headers={"Origin": ORIGIN}
    )
    assert deleted.status_code == 204, deleted.get_json()
    reasons = execute(app, "SELECT revoked_reason FROM oauth_grants").scalars().all()
    assert reasons == ["user_deleted"]
