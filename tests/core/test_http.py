"""The HTTP edge: pages, security headers, CSRF (Origin), content types, body size, rate limits
and error shapes."""

from __future__ import annotations

import pytest

from tests.conftest import Api


@pytest.mark.parametrize("path", ["/", "/signin", "/signup"])
def test_pages_render_with_a_strict_csp(api: Api, path):
    response = api.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    html = response.get_data(as_text=True)
    assert "<script>" not in html and " onclick=" not in html


def test_sign_in_page_offers_autofill_and_both_sign_in_ways(api: Api):
    html = api.get("/signin").get_data(as_text=True)
    assert 'autocomplete="username webauthn"' in html
    assert 'id="continue"' in html and 'id="passkey-signin"' in html


def test_account_page_needs_a_session_and_shows_the_devices(api: Api, authenticator):
    response = api.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")
    assert api.sign_up(authenticator).status_code == 201
    html = api.get("/account").get_data(as_text=True)
    assert "Alice&#39;s laptop" in html or "Alice's laptop" in html
    assert "Keystead software authenticator (tests)" in html
    # Signed in, the sign-in page sends the browser on.
    assert api.get("/signin").status_code == 302


def test_sign_in_never_redirects_off_site(api: Api, authenticator):
    assert api.sign_up(authenticator).status_code == 201
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = api.get(f"/signin?next={target}")
        assert response.headers["Location"] == "/account", target


@pytest.mark.parametrize(
    "path", ["/", "/api/me", "/api/openapi.json", "/nowhere", "/static/css/keystead.css"]
)
def test_every_response_has_nosniff_and_no_referrer(api: Api, path):
    response = api.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_unknown_api_path_is_a_json_404_and_a_page_404_elsewhere(api: Api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    page = api.get("/nothing-here")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_wrong_method_is_a_json_405(api: Api):
    response = api.get("/api/register/begin")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://evil.example",
        "http://localhost:5001",
        "https://localhost:5000",
        "null",
        "http://localhost:5000.evil.example",
    ],
)
def test_state_changing_requests_need_an_allowed_origin(app, signed_in: Api, origin):
    headers = {} if origin is None else {"Origin": origin}
    for method, path, body in (
        ("post", "/api/register/begin", {"username": "mallory", "email": "m@example.com"}),
        ("post", "/api/logout", {}),
        ("patch", "/api/devices/1", {"name": "pwned"}),
        ("delete", "/api/devices/1", None),
    ):
        response = getattr(signed_in.client, method)(path, json=body, headers=headers)
        assert response.status_code == 403, (method, path)
        assert response.get_json()["error"] == "csrf_failed"
    assert signed_in.get("/api/me").status_code == 200


def test_allowed_origins_may_list_several_exact_origins(migrated, tmp_path):
    from app import create_app
    from tests.conftest import base_config, empty_tables

    app = create_app(
        {
            **base_config(migrated, tmp_path),
            "ALLOWED_ORIGINS": ["http://localhost:5000", "http://localhost:5050"],
        }
    )
    empty_tables(app)
    client = app.test_client()
    ok = client.post(
        "/api/authenticate/begin", json={}, headers={"Origin": "http://localhost:5050"}
    )
    assert ok.status_code == 200
    bad = client.post(
        "/api/authenticate/begin", json={}, headers={"Origin": "http://localhost:5051"}
    )
    assert bad.status_code == 403


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_json_endpoints_refuse_other_content_types(api: Api, content_type):
    response = api.client.post(
        "/api/authenticate/begin",
        data='{"username": "alice"}',
        headers={"Origin": "http://localhost:5000", "Content-Type": content_type},
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_bodies_over_64_kib_are_refused(api: Api):
    response = api.client.post(
        "/api/authenticate/begin",
        data='{"username": "' + "a" * 70_000 + '"}',
        headers={"Origin": "http://localhost:5000", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "3 per minute"}],
    indirect=True,
)
def test_ceremony_endpoints_are_rate_limited_per_ip(api: Api):
    statuses = [api.post("/api/authenticate/begin", {}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.post("/api/authenticate/begin", {})
    assert limited.get_json()["error"] == "rate_limited"
    # A spoofed X-Forwarded-For does not buy a fresh allowance (no trusted proxy configured).
    spoofed = api.post("/api/authenticate/begin", {}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429
    # Each endpoint has its own allowance.
    assert (
        api.post("/api/register/begin", {"username": "erin", "email": "e@example.com"}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "2 per minute", "TRUSTED_PROXY_COUNT": 1}],
    indirect=True,
)
def test_behind_a_trusted_proxy_the_forwarded_ip_is_the_client(api: Api):
    for ip in ("198.51.100.1", "198.51.100.2"):
        statuses = [
            api.post("/api/authenticate/begin", {}, headers={"X-Forwarded-For": ip}).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429], ip


def test_browser_cookie_binding_ceremonies_is_httponly(api: Api):
    response = api.post("/api/authenticate/begin", {})
    header = next(h for h in response.headers.getlist("Set-Cookie") if "keystead_browser" in h)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    # The challenge lives on the server: no cookie carries ceremony state.
    assert all("session=" not in h for h in response.headers.getlist("Set-Cookie"))


def test_redis_storage_shares_limits_between_workers(migrated, tmp_path):
    """Two apps stand for two gunicorn workers: with Redis they count one allowance."""
    import secrets
    import socket

    from app import create_app
    from tests.conftest import base_config

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    config = {
        **base_config(migrated, tmp_path),
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_CEREMONY": "2 per minute",
        "TRUSTED_PROXY_COUNT": 1,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    }
    workers = [create_app(config).test_client() for _ in range(2)]
    ip = f"192.0.2.{secrets.randbelow(250) + 1}-{secrets.token_hex(4)}"
    headers = {"Origin": "http://localhost:5000", "X-Forwarded-For": ip}
    statuses = [
        workers[i % 2].post("/api/authenticate/begin", json={}, headers=headers).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_logout_refuses_a_form_body(signed_in: Api):
    response = signed_in.client.post(
        "/api/logout",
        data="x=1",
        headers={
            "Origin": "http://localhost:5000",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 415
    assert signed_in.get("/api/me").status_code == 200


def test_an_unexpected_error_is_a_json_500_without_details(app, api: Api, monkeypatch):
    from webauthn import signin

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(signin, "begin_authentication", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = api.post("/api/authenticate/begin", {})
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)
