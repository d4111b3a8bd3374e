"""The sign-in embedded in a website's frame: the ceremony's framed-assertion rule (pure), the
frame's JSON API with the soft authenticator playing a browser inside a cross-origin frame
(client data ``crossOrigin: true`` and ``topOrigin``: the page), every refusal leaving nothing
behind, the frame page's headers, the popup's response page and the served web component.

Past 400 lines on purpose: one feature's happy path, its attack tests and its pages, which
share the helpers at the top."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core import db as database
from core.web import PAGE_CSP
from tests.clock import Clock
from tests.conftest import ORIGIN, Api, execute, snapshot
from tests.embed.conftest import WEBSITE, Website, register
from tests.openapi_check import check_response
from tools.softauthn import HONEST, SoftAuthenticator, Tamper
from webauthn.ceremony import (
    RelyingParty,
    StoredCredential,
    TopOriginRefused,
    authentication_options,
    parse_authentication,
    parse_registration,
    registration_options,
    verify_authentication,
    verify_registration,
)
from webauthn.errors import AuthenticationFailed

ROOT = Path(__file__).resolve().parents[2]
OTHER_SITE = "https://other.example"
# The page a framed sign-in runs in, as the browser reports it (topOrigin).
FRAMED = Tamper(cross_origin=True, top_origin=WEBSITE)


@pytest.fixture
def app(app: Flask) -> Flask:
    """The app with the embedded sign-in's blueprint (until app.py registers it)."""
    return app


class Frame(Api):
    """The frame inside the website's page: a browser that sends none of Keystead's cookies
    (a third-party frame gets none), whose fetches come from Keystead's origin. Every answer
    of the frame's API is checked against the OpenAPI document."""

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = super().post(path, body, **kwargs)
        check_response("POST", path, response.status_code, response.get_json())
        return response


@pytest.fixture
def frame(app: Flask) -> Frame:
    return Frame(app.test_client())


def challenge_of(verifier: str) -> str:
    """PKCE S256: what the website sends for the verifier it keeps."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def begin(frame: Api, website: Website, **extra: Any) -> Any:
    body = {
        "client_id": website.client_id,
        "redirect_uri": website.redirect_uri,
        "scope": "openid profile email",
        "state": website.state,
        "nonce": website.nonce,
        "code_challenge": challenge_of(website.verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return frame.post("/api/embed/begin", {k: v for k, v in body.items() if v is not None})


def framed_assertion(
    frame: Api, website: Website, authenticator: SoftAuthenticator, tamper: Tamper = FRAMED
) -> dict[str, Any]:
    """A begun sign-in's transaction and the assertion the browser made in the frame."""
    begun = begin(frame, website)
    assert begun.status_code == 200, begun.get_json()
    options = begun.get_json()
    return {**authenticator.get(options, tamper=tamper), "transaction": options["transaction"]}


def lasting(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of lasting state, a website's grants, codes and connections included."""
    state = snapshot(app)
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        for name in ("oauth_grants", "oauth_codes", "oauth_connections"):
            rows = conn.execute(sa.text(f"SELECT * FROM {name}"))  # noqa: S608 (fixed names)
            state[name] = sorted(tuple(row) for row in rows)
    return state


def pending_embeds(app: Flask) -> int:
    return int(execute(app, "SELECT count(*) FROM challenges WHERE purpose = 'embed'").scalar())


def no_cookie(response: Any) -> None:
    assert "Set-Cookie" not in response.headers, response.headers


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, (response.get_json() or {}).get("error")


# ---- the ceremony's rule (pure) --------------------------------------------------------------

RP = RelyingParty(id="localhost", name="t", origins=frozenset({ORIGIN}))


@pytest.fixture
def held() -> Iterator[tuple[SoftAuthenticator, StoredCredential]]:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    challenge = secrets.token_bytes(32)
    options = registration_options(
        RP, challenge=challenge, user_handle=b"u" * 32, username="a", display_name="A", exclude=[]
    )
    raw = authenticator.create(options)
    new = verify_registration(RP, parse_registration(raw), raw, challenge=challenge)
    yield (
        authenticator,
        StoredCredential(
            credential_id=new.credential_id,
            public_key=new.public_key,
            aaguid=new.aaguid,
            sign_count=new.sign_count,
            backup_eligible=new.backup_eligible,
            user_handle=b"u" * 32,
        ),
    )


def assert_framed(
    held: tuple[SoftAuthenticator, StoredCredential],
    tamper: Tamper,
    top_origins: Any = (WEBSITE,),
) -> Any:
    authenticator, stored = held
    challenge = secrets.token_bytes(32)
    raw = authenticator.get(
        authentication_options(RP, challenge=challenge, allow=[]), tamper=tamper
    )
    return verify_authentication(
        RP,
        parse_authentication(raw),
        raw,
        challenge=challenge,
        stored=stored,
        user_handle_required=True,
        top_origins=top_origins,
    )


def test_a_framed_assertion_on_a_listed_page_passes_and_names_it(held):
    assertion = assert_framed(held, FRAMED, top_origins=[OTHER_SITE, WEBSITE])
    assert assertion.top_origin == WEBSITE


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(Tamper(cross_origin=True), id="no-topOrigin"),
        pytest.param(Tamper(cross_origin=True, top_origin=OTHER_SITE), id="unlisted"),
        pytest.param(Tamper(cross_origin=True, top_origin=WEBSITE.upper()), id="not-exact"),
        pytest.param(Tamper(cross_origin=True, top_origin=WEBSITE + "/"), id="trailing-slash"),
        pytest.param(
            Tamper(cross_origin=True, extra_client_data={"topOrigin": [WEBSITE]}), id="not-text"
        ),
    ],
)
def test_a_framed_assertion_elsewhere_is_refused_as_an_origin(held, tamper):
    with pytest.raises(TopOriginRefused):
        assert_framed(held, tamper)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(HONEST, id="first-party"),
        pytest.param(Tamper(top_origin=WEBSITE), id="topOrigin-without-crossOrigin"),
        pytest.param(Tamper(cross_origin="true", top_origin=WEBSITE), id="crossOrigin-text"),
        pytest.param(Tamper(cross_origin=1, top_origin=WEBSITE), id="crossOrigin-number"),
    ],
)
def test_a_caller_expecting_a_frame_refuses_anything_else(held, tamper):
    with pytest.raises(AuthenticationFailed) as refused:
        assert_framed(held, tamper)
    assert not isinstance(refused.value, TopOriginRefused)


def test_without_top_origins_a_framed_assertion_is_still_refused(held):
    with pytest.raises(AuthenticationFailed):
        assert_framed(held, FRAMED, top_origins=None)


def test_a_first_party_assertion_passes_without_top_origins(held):
    assert assert_framed(held, HONEST, top_origins=None).top_origin is None


def test_a_framed_assertion_with_a_bad_signature_is_refused(held):
    with pytest.raises(AuthenticationFailed):
        assert_framed(held, Tamper(cross_origin=True, top_origin=WEBSITE, corrupt_signature=True))


# ---- the happy path --------------------------------------------------------------------------


def test_a_framed_sign_in_gives_the_page_a_code_the_website_redeems(
    app, signed_in, authenticator, frame, website
):
    sessions_before = signed_in.get("/api/sessions").get_json()["sessions"]
    begun = begin(frame, website)
    no_cookie(begun)
    options = begun.get_json()
    assert options["publicKey"]["allowCredentials"] == []
    assert options["publicKey"]["rpId"] == "localhost"
    body = {**authenticator.get(options, tamper=FRAMED), "transaction": options["transaction"]}
    done = frame.post("/api/embed/complete", body)
    assert done.status_code == 200, done.get_json()
    no_cookie(done)
    answer = done.get_json()
    assert answer["state"] == website.state
    assert answer["iss"] == ORIGIN
    assert answer["origin"] == WEBSITE
    assert set(answer) == {"code", "state", "iss", "origin"}
    assert pending_embeds(app) == 0

    tokens = website.redeem(answer["code"])
    assert tokens.status_code == 200, tokens.get_json()
    claims = website.id_token_claims(tokens.get_json()["id_token"])
    assert claims["nonce"] == website.nonce
    assert claims["amr"] == ["hwk", "user"] and claims["sid"]

    # A session without a cookie, which the owner sees and can end.
    sessions_after = signed_in.get("/api/sessions").get_json()["sessions"]
    assert len(sessions_after) == len(sessions_before) + 1
    embedded = [s for s in sessions_after if not s["current"]]
    assert len(embedded) == 1
    ended = signed_in.delete(f"/api/sessions/{embedded[0]['id']}")
    assert ended.status_code == 204
    access = tokens.get_json()["access_token"]
    info = app.test_client().get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 401
    assert website.refresh(tokens.get_json()["refresh_token"]).status_code == 400


# ---- refusals: each leaves nothing behind ----------------------------------------------------


def refused(app: Flask, frame: Api, body: dict[str, Any], expected: tuple[int, str]) -> None:
    before = lasting(app)
    response = frame.post("/api/embed/complete", body)
    assert error_of(response) == expected
    no_cookie(response)
    assert lasting(app) == before
    assert pending_embeds(app) == 0, "the transaction must be used up"


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        pytest.param(
            Tamper(cross_origin=True, top_origin="https://evil.example"),
            (400, "embed_origin_refused"),
            id="topOrigin-not-registered",
        ),
        pytest.param(
            Tamper(cross_origin=True), (400, "embed_origin_refused"), id="crossOrigin-no-topOrigin"
        ),
        pytest.param(HONEST, (401, "authentication_failed"), id="same-origin"),
        pytest.param(
            Tamper(top_origin=WEBSITE), (401, "authentication_failed"), id="topOrigin-first-party"
        ),
        pytest.param(
            Tamper(cross_origin=True, top_origin=WEBSITE, origin=WEBSITE),
            (401, "authentication_failed"),
            id="frame-not-keystead",
        ),
    ],
)
def test_an_assertion_not_made_in_the_website_frame_is_refused(
    app, signed_in, authenticator, frame, website, tamper, expected
):
    body = framed_assertion(frame, website, authenticator, tamper)
    refused(app, frame, body, expected)


def test_a_framed_assertion_does_not_sign_in_to_keystead_itself(app, signed_in, authenticator):
    """The normal sign-in still refuses what a frame made, even on a registered page."""
    browser = Api(app.test_client())
    before = lasting(app)
    response = browser.sign_in(authenticator, username=None, tamper=FRAMED)
    assert error_of(response) == (401, "authentication_failed")
    assert app.config["SESSION_COOKIE_NAME"] not in response.headers.get("Set-Cookie", "")
    assert lasting(app) == before


def test_a_transaction_works_once(app, signed_in, authenticator, frame, website):
    body = framed_assertion(frame, website, authenticator)
    assert frame.post("/api/embed/complete", body).status_code == 200
    refused(app, frame, body, (400, "embed_expired"))


def test_an_expired_transaction_is_refused(
    app, signed_in, authenticator, frame, website, clock: Clock
):
    body = framed_assertion(frame, website, authenticator)
    clock.advance(app.config["CHALLENGE_TTL"])
    refused(app, frame, body, (400, "embed_expired"))


def test_one_second_before_expiry_the_transaction_works(
    app, signed_in, authenticator, frame, website, clock: Clock
):
    body = framed_assertion(frame, website, authenticator)
    clock.advance(app.config["CHALLENGE_TTL"] - 1)
    assert frame.post("/api/embed/complete", body).status_code == 200


def test_another_websites_transaction_is_refused_on_this_page(
    app, signed_in, authenticator, frame, website
):
    """A transaction begun for one website, signed in a frame of another website's page: the
    website's origins decide, not the page that happens to post it."""
    other_id, _ = register(
        app, name="Other", redirect_uris=[f"{OTHER_SITE}/cb"], origins=[OTHER_SITE]
    )
    other = Website(app, other_id, None, f"{OTHER_SITE}/cb")
    body = framed_assertion(
        frame, other, authenticator, Tamper(cross_origin=True, top_origin=WEBSITE)
    )
    refused(app, frame, body, (400, "embed_origin_refused"))


def test_a_made_up_transaction_is_refused(app, signed_in, authenticator, frame, website):
    body = framed_assertion(frame, website, authenticator)
    before = lasting(app)
    response = frame.post("/api/embed/complete", {**body, "transaction": "made-up"})
    assert error_of(response) == (400, "embed_expired")
    assert lasting(app) == before
    # The real one still works: a guess uses nothing up.
    assert frame.post("/api/embed/complete", body).status_code == 200


def test_an_assertion_for_another_challenge_is_refused(
    app, signed_in, authenticator, frame, website
):
    first = framed_assertion(frame, website, authenticator)
    second = framed_assertion(frame, website, authenticator)
    before = lasting(app)
    swapped = {**first, "transaction": second["transaction"]}
    assert error_of(frame.post("/api/embed/complete", swapped)) == (401, "authentication_failed")
    assert lasting(app) == before


def test_a_sign_in_transaction_is_no_consent(app, signed_in, authenticator, frame, website):
    body = framed_assertion(frame, website, authenticator)
    before = lasting(app)
    answer = frame.post(
        "/api/embed/consent", {"transaction": body["transaction"], "decision": "allow"}
    )
    assert error_of(answer) == (400, "embed_expired")
    assert lasting(app) == before
    assert pending_embeds(app) == 0


def test_the_frame_api_keeps_the_origin_check(frame, website):
    response = frame.post("/api/embed/begin", {}, headers={"Origin": WEBSITE})
    assert error_of(response) == (403, "csrf_failed")


# ---- the request the frame carries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"client_id": "nobody"}, "unknown_website", id="unknown-client"),
        pytest.param(
            {"redirect_uri": f"{WEBSITE}/elsewhere"}, "unknown_website", id="unregistered-uri"
        ),
        pytest.param({"scope": "profile"}, "invalid_request", id="no-openid"),
        pytest.param({"scope": "openid admin"}, "invalid_request", id="unknown-scope"),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="pkce-plain"),
        pytest.param({"state": "s" * 1025}, "invalid_request", id="state-too-long"),
    ],
)
def test_a_request_that_does_not_fit_is_refused_before_any_ceremony(
    app, frame, website, change, expected
):
    response = begin(frame, website, **change)
    assert error_of(response) == (400, expected)
    assert response.get_json()["message"]
    assert pending_embeds(app) == 0


def test_a_public_website_must_use_pkce(app, frame):
    client_id, _ = register(app, name="Spa", public=True)
    website = Website(app, client_id, None, f"{WEBSITE}/callback")
    response = begin(frame, website, code_challenge=None, code_challenge_method=None)
    assert error_of(response) == (400, "invalid_request")
    assert "PKCE" in response.get_json()["message"]


# ---- consent ---------------------------------------------------------------------------------


@pytest.fixture
def untrusted(app: Flask) -> Website:
    client_id, secret = register(app, name="Partner Shop", trusted=False)
    return Website(app, client_id, secret, f"{WEBSITE}/callback")


def consent_asked(frame: Api, website: Website, authenticator: SoftAuthenticator) -> Any:
    done = frame.post("/api/embed/complete", framed_assertion(frame, website, authenticator))
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def test_a_website_that_is_not_trusted_asks_first_and_allow_gives_the_code(
    app, signed_in, authenticator, frame, untrusted
):
    asked = consent_asked(frame, untrusted, authenticator)
    assert set(asked) == {"consent", "transaction"}
    assert asked["consent"]["website"] == "Partner Shop"
    assert asked["consent"]["origin"] == WEBSITE
    assert [s["name"] for s in asked["consent"]["scopes"]] == ["openid", "profile", "email"]
    assert all(s["text"] for s in asked["consent"]["scopes"])
    assert lasting(app)["oauth_grants"] == []

    allowed = frame.post(
        "/api/embed/consent", {"transaction": asked["transaction"], "decision": "allow"}
    )
    assert allowed.status_code == 200, allowed.get_json()
    no_cookie(allowed)
    answer = allowed.get_json()
    assert answer["state"] == untrusted.state and answer["origin"] == WEBSITE
    assert untrusted.redeem(answer["code"]).status_code == 200
    # Once agreed, the next sign-in asks no more.
    assert "code" in consent_asked(frame, untrusted, authenticator)


def test_deny_tells_the_website_and_ends_the_sign_in(
    app, signed_in, authenticator, frame, untrusted
):
    sessions_before = len(signed_in.get("/api/sessions").get_json()["sessions"])
    asked = consent_asked(frame, untrusted, authenticator)
    denied = frame.post(
        "/api/embed/consent", {"transaction": asked["transaction"], "decision": "deny"}
    )
    assert denied.status_code == 200
    assert denied.get_json() == {
        "error": "access_denied",
        "state": untrusted.state,
        "iss": ORIGIN,
        "origin": WEBSITE,
    }
    state = lasting(app)
    assert state["oauth_grants"] == [] and state["oauth_connections"] == []
    assert len(signed_in.get("/api/sessions").get_json()["sessions"]) == sessions_before


def test_a_consent_is_answered_once(app, signed_in, authenticator, frame, untrusted):
    asked = consent_asked(frame, untrusted, authenticator)
    decision = {"transaction": asked["transaction"], "decision": "allow"}
    assert frame.post("/api/embed/consent", decision).status_code == 200
    before = lasting(app)
    assert error_of(frame.post("/api/embed/consent", decision)) == (400, "embed_expired")
    assert error_of(frame.post("/api/embed/consent", {**decision, "decision": "deny"})) == (
        400,
        "embed_expired",
    )
    assert lasting(app) == before


def test_a_consent_expires(app, signed_in, authenticator, frame, untrusted, clock: Clock):
    asked = consent_asked(frame, untrusted, authenticator)
    clock.advance(app.config["CHALLENGE_TTL"])
    decision = {"transaction": asked["transaction"], "decision": "allow"}
    assert error_of(frame.post("/api/embed/consent", decision)) == (400, "embed_expired")
    assert lasting(app)["oauth_grants"] == []
    assert pending_embeds(app) == 0


def test_a_consent_transaction_is_no_sign_in(app, signed_in, authenticator, frame, untrusted):
    asked = consent_asked(frame, untrusted, authenticator)
    again = framed_assertion(frame, untrusted, authenticator)
    body = {**again, "transaction": asked["transaction"]}
    assert error_of(frame.post("/api/embed/complete", body)) == (400, "embed_expired")
    decision = {"transaction": asked["transaction"], "decision": "allow"}
    assert error_of(frame.post("/api/embed/consent", decision)) == (400, "embed_expired")


def test_a_session_ended_before_the_consent_gets_no_code(
    app, signed_in, authenticator, frame, untrusted
):
    asked = consent_asked(frame, untrusted, authenticator)
    execute(app, "UPDATE login_sessions SET revoked_at = created_at")
    decision = {"transaction": asked["transaction"], "decision": "allow"}
    assert error_of(frame.post("/api/embed/consent", decision)) == (400, "embed_expired")
    assert lasting(app)["oauth_grants"] == []
    assert pending_embeds(app) == 0


def test_a_device_blocked_before_the_consent_gets_no_code(
    app, signed_in, authenticator, frame, untrusted
):
    asked = consent_asked(frame, untrusted, authenticator)
    execute(app, "UPDATE devices SET status = 'blocked'")
    decision = {"transaction": asked["transaction"], "decision": "allow"}
    assert error_of(frame.post("/api/embed/consent", decision)) == (400, "embed_expired")
    assert lasting(app)["oauth_grants"] == []
    assert pending_embeds(app) == 0


def test_a_website_removed_meanwhile_ends_the_sign_in(
    app, signed_in, authenticator, frame, website
):
    body = framed_assertion(frame, website, authenticator)
    execute(app, "DELETE FROM oauth_clients")
    assert error_of(frame.post("/api/embed/complete", body)) == (400, "embed_expired")
    assert len(lasting(app)["login_sessions"]) == 1  # alice's own: no session was started


# ---- the frame page --------------------------------------------------------------------------


def frame_url(website: Website, **extra: Any) -> str:
    params = {
        "client_id": website.client_id,
        "redirect_uri": website.redirect_uri,
        "scope": "openid",
        "state": website.state,
        **extra,
    }
    return "/embed/signin?" + urlencode({k: v for k, v in params.items() if v is not None})


def csp(response: Any) -> dict[str, str]:
    directives = response.headers["Content-Security-Policy"].split("; ")
    return dict(d.split(" ", 1) for d in directives)


def test_only_the_websites_origins_may_frame_the_page(app, client):
    client_id, _ = register(app, origins=[WEBSITE, "http://127.0.0.1:8123"])
    page = client.get(frame_url(Website(app, client_id, None, f"{WEBSITE}/callback")))
    assert page.status_code == 200
    no_cookie(page)
    policy = csp(page)
    assert policy["frame-ancestors"] == f"{WEBSITE} http://127.0.0.1:8123"
    assert {k: v for k, v in policy.items() if k != "frame-ancestors"} == {
        k: v for k, v in (d.split(" ", 1) for d in PAGE_CSP.split("; ")) if k != "frame-ancestors"
    }
    assert "X-Frame-Options" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"


def test_only_plain_origins_reach_the_header(app, client, website):
    """An origin stored with more than scheme://host[:port] (registration lets a ';' or a
    space through in the host) cannot add a directive to the frame's CSP."""
    stored = [WEBSITE, "https://a.example; script-src *", "https://b.example 'unsafe-inline'"]
    execute(app, "UPDATE oauth_clients SET origins = :origins", origins=json.dumps(stored))
    page = client.get(frame_url(website))
    assert csp(page)["frame-ancestors"] == WEBSITE
    assert csp(page)["script-src"] == "'self'"


def test_the_page_offers_only_the_passkey_sign_in(app, client, website):
    page = client.get(frame_url(website)).get_data(as_text=True)
    assert "Sign in with a passkey" in page
    for elsewhere in ("/signup", "/recover", "/pair", "/account", "/block", "href="):
        assert elsewhere not in page.replace('rel="stylesheet" href=', ""), elsewhere
    origins = re.search(r'<script type="application/json" id="embed-origins">(.*?)</script>', page)
    assert origins and json.loads(origins.group(1)) == [WEBSITE]
    request = re.search(r'<script type="application/json" id="embed-request">(.*?)</script>', page)
    assert request and json.loads(request.group(1))["client_id"] == website.client_id
    assert "<script>" not in page  # nothing inline: CSP script-src 'self'


def test_every_other_page_still_refuses_frames(app, client, website):
    for path in ("/signin", "/signup", "/embed/signin?client_id=nobody"):
        response = client.get(path)
        assert csp(response)["frame-ancestors"] == "'none'", path
        assert response.headers["X-Frame-Options"] == "DENY", path


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"client_id": "nobody"}, id="unknown-client"),
        pytest.param({"client_id": None}, id="no-client"),
        pytest.param({"redirect_uri": "https://evil.example/cb"}, id="unregistered-uri"),
    ],
)
def test_an_unknown_website_gets_the_error_page(app, client, website, change):
    page = client.get(frame_url(website, **change))
    assert page.status_code == 400
    assert 'data-error="unknown_website"' in page.get_data(as_text=True)
    assert csp(page)["frame-ancestors"] == "'none'"


def test_a_website_without_origins_cannot_be_framed(app, client):
    client_id, _ = register(app, origins=[])
    page = client.get(frame_url(Website(app, client_id, None, f"{WEBSITE}/callback")))
    assert csp(page)["frame-ancestors"] == "'none'"


# ---- the popup's response page (response_mode=web_message) ----------------------------------


def message_of(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="message">(.*?)</script>', page, re.S)
    assert found, page
    return dict(json.loads(found.group(1)))


def test_the_popup_posts_the_code_to_the_redirect_uris_origin(signed_in, website):
    page = signed_in.get(website.authorize_url(response_mode="web_message"))
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    text = page.get_data(as_text=True)
    assert f'data-target-origin="{WEBSITE}"' in text
    message = message_of(text)
    assert message["type"] == "keystead-signin"
    assert message["state"] == website.state and message["iss"] == ORIGIN
    assert website.redeem(message["code"]).status_code == 200
    assert csp(page)["script-src"] == "'self'"
    assert "webmessage.js" in text and "<script>" not in text


def test_the_popup_posts_an_error_the_same_way(app, signed_in, website):
    page = signed_in.get(website.authorize_url(response_mode="web_message", scope="profile"))
    message = message_of(page.get_data(as_text=True))
    assert message["error"] == "invalid_scope" and message["state"] == website.state


def test_the_message_cannot_break_out_of_its_data_block(app):
    with app.test_request_context():
        from flask import render_template

        page = render_template(
            "embed/web_message.html",
            target_origin='https://x.example" onload="alert(1)',
            message={"type": "keystead-signin", "state": "</script><script>alert(1)</script>"},
        )
    assert message_of(page)["state"] == "</script><script>alert(1)</script>"
    assert html.unescape(re.search(r'data-target-origin="([^"]*)"', page).group(1)) == (
        'https://x.example" onload="alert(1)'
    )


# ---- the web component -----------------------------------------------------------------------


def test_the_component_is_served_to_any_website_with_this_servers_name(app, client: FlaskClient):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in response.headers["Cache-Control"]
    assert "public" in response.headers["Cache-Control"]
    no_cookie(response)
    source = response.get_data(as_text=True)
    assert f"const RP_NAME = {json.dumps(app.config['RP_NAME'])};" in source
    assert 'customElements.define("keystead-signin"' in source
    again = client.get("/embed.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_messages_go_only_to_a_registered_or_verified_origin():
    """No script posts to "*": the frame to the website's registered origins (the fallback)
    and the verified page (the code), the popup to the redirect URI's origin."""

    def targets(name: str) -> list[str]:
        code = (ROOT / "static" / name).read_text()
        return re.findall(r"postMessage\([^;]*?,\s*([^)]*)\)", code)

    assert targets("embed.js") == []
    assert targets("js/embedframe.js") == ["origin", "answer.origin"]
    assert targets("js/webmessage.js") == ["targetOrigin"]
    assert "event.origin !== KEYSTEAD" in (ROOT / "static" / "embed.js").read_text()
