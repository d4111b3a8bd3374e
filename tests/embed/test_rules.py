"""The pure rules of the provider, without an app: what an authorization request still needs
(``embed.authorize``) and which requests may get a code (``embed.requests``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from embed.authorize import BadPrompt, Facts, Next, decide, parse_max_age, parse_prompt
from embed.clients import check_redirect_uri, normalise_origin
from embed.errors import InvalidClientSettings
from embed.models import Client
from embed.requests import RequestRefused, code_request

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def facts(**changes: object) -> Facts:
    base: dict[str, object] = {
        "prompts": frozenset(),
        "max_age": None,
        "now": NOW,
        "auth_time": NOW - timedelta(minutes=5),
        "user_verified": True,
        "requested_at": None,
        "consent_needed": False,
        "consent_given": False,
    }
    base.update(changes)
    return Facts(**base)  # type: ignore[arg-type]


def test_signed_in_and_nothing_asked_issues() -> None:
    assert decide(facts()) is Next.ISSUE


def test_signed_out_signs_in_or_answers_login_required_silently() -> None:
    assert decide(facts(auth_time=None)) is Next.SIGN_IN
    assert decide(facts(auth_time=None, prompts=frozenset({"none"}))) is Next.LOGIN_REQUIRED


def test_prompt_login_needs_a_sign_in_after_the_request() -> None:
    asked = frozenset({"login"})
    assert decide(facts(prompts=asked)) is Next.SIGN_IN
    requested = NOW - timedelta(seconds=30)
    before = facts(
        prompts=asked, requested_at=requested, auth_time=requested - timedelta(seconds=1)
    )
    assert decide(before) is Next.SIGN_IN
    after = facts(prompts=asked, requested_at=requested, auth_time=requested)
    assert decide(after) is Next.ISSUE


def test_a_fresh_sign_in_without_user_verification_does_not_satisfy_prompt_login() -> None:
    requested = NOW - timedelta(seconds=30)
    unverified = facts(
        prompts=frozenset({"login"}), requested_at=requested, auth_time=NOW, user_verified=False
    )
    assert decide(unverified) is Next.LOGIN_REQUIRED


def test_max_age_counts_from_the_sign_in() -> None:
    assert decide(facts(max_age=300)) is Next.ISSUE  # exactly 300 s ago
    assert decide(facts(max_age=299)) is Next.SIGN_IN
    assert decide(facts(max_age=299, prompts=frozenset({"none"}))) is Next.LOGIN_REQUIRED


def test_consent_is_asked_unless_given_and_never_silently() -> None:
    assert decide(facts(consent_needed=True)) is Next.CONSENT
    assert decide(facts(consent_needed=True, consent_given=True)) is Next.ISSUE
    assert decide(facts(prompts=frozenset({"consent"}))) is Next.CONSENT
    silent = facts(consent_needed=True, prompts=frozenset({"none"}))
    assert decide(silent) is Next.CONSENT_REQUIRED


@pytest.mark.parametrize("value", ["none login", "bogus", "none consent"])
def test_bad_prompts_are_refused(value: str) -> None:
    with pytest.raises(BadPrompt):
        parse_prompt(value)


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "9999999999"])
def test_bad_max_age_is_refused(value: str) -> None:
    with pytest.raises(BadPrompt):
        parse_max_age(value)


def _client(public: bool = False) -> Client:
    return Client(
        client_id="c",
        name="Shop",
        secret_hash=None if public else b"x" * 32,
        redirect_uris=["https://shop.example/cb"],
        origins=[],
    )


def _params(**changes: str | None) -> dict[str, str]:
    params = {
        "response_type": "code",
        "scope": "openid email",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        params.pop(key)
    return params


def test_a_good_request_is_bound_to_its_challenge_and_nonce() -> None:
    checked = code_request(_client(), "https://shop.example/cb", _params(nonce="n"))
    assert checked.code_challenge == CHALLENGE and checked.nonce == "n"
    assert checked.scope == "openid email"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"state": "s" * 1025}, "invalid_request"),
        ({"nonce": "n" * 513}, "invalid_request"),
    ],
)
def test_bad_requests_are_refused(changes: dict[str, str | None], error: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        code_request(_client(), "https://shop.example/cb", _params(**changes))
    assert refused.value.error == error


def test_pkce_is_optional_for_confidential_clients_only() -> None:
    bare = _params(code_challenge=None, code_challenge_method=None)
    assert code_request(_client(), "https://shop.example/cb", bare).code_challenge is None
    with pytest.raises(RequestRefused):
        code_request(_client(public=True), "https://shop.example/cb", bare)


@pytest.mark.parametrize(
    "uri",
    [
        "http://shop.example/cb",
        "https://shop.example/cb#x",
        "https://u:p@shop.example/cb",
        "ftp://shop.example/cb",
        "https:///cb",
        "https://shop.example:99999/cb",
    ],
)
def test_redirect_uri_rules(uri: str) -> None:
    with pytest.raises(InvalidClientSettings):
        check_redirect_uri(uri)


@pytest.mark.parametrize(
    ("origin", "normalised"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("http://localhost:8000/", "http://localhost:8000"),
    ],
)
def test_origins_are_normalised(origin: str, normalised: str) -> None:
    assert normalise_origin(origin) == normalised


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example/path",
        "http://shop.example",
        "null",
        "https://a;b.example",
        "https://a b.example",
        "https://exa*mple.com",
        "https://shop.example,evil.example",
        "https://-shop.example",
    ],
)
def test_bad_origins_are_refused(origin: str) -> None:
    with pytest.raises(InvalidClientSettings):
        normalise_origin(origin)


def test_max_age_takes_up_to_nine_digits() -> None:
    assert parse_max_age("999999999") == 999999999
    assert parse_max_age("0") == 0 and parse_max_age("") is None


def test_redirect_uri_length_limit() -> None:
    base = "https://shop.example/"
    assert check_redirect_uri(base + "a" * (2048 - len(base)))
    with pytest.raises(InvalidClientSettings):
        check_redirect_uri(base + "a" * (2049 - len(base)))


@pytest.mark.parametrize("uri", ["https://user@shop.example/cb", "https://:pw@shop.example/cb"])
def test_redirect_uri_without_user_info(uri: str) -> None:
    with pytest.raises(InvalidClientSettings):
        check_redirect_uri(uri)


def test_state_and_nonce_length_limits_are_inclusive() -> None:
    checked = code_request(
        _client(), "https://shop.example/cb", _params(state="s" * 1024, nonce="n" * 512)
    )
    assert checked.nonce == "n" * 512


def test_a_secret_matches_only_its_own_hash() -> None:
    from core.security import token_hash
    from embed.clients import secret_matches

    confidential = _client()
    confidential.secret_hash = token_hash("right")
    assert secret_matches(confidential, "right")
    assert not secret_matches(confidential, "wrong")
    assert not secret_matches(confidential, "")
    assert not secret_matches(confidential, None)
    assert not secret_matches(_client(public=True), "right")


def test_a_client_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """`flask clients delete -K…` would read the id as an option (seen in CI)."""
    from embed import clients

    made = iter(["-Kdash", "_ok", "plain"])
    monkeypatch.setattr(clients.secrets, "token_urlsafe", lambda n: next(made))
    assert clients.new_client_id() == "_ok"
