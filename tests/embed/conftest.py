"""Fixtures for partner websites: registered clients and a helper that plays the website's
part of the OpenID Connect code flow against the test client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from core import db as database
from core.context import RequestContext
from embed import clients
from tests.conftest import ORIGIN, Api

WEBSITE = "https://shop.example"


@dataclass
class Website:
    """A registered client and what its server keeps between the redirect and the callback."""

    app: Flask
    client_id: str
    secret: str | None
    redirect_uri: str
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def authorize_url(self, **extra: Any) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        params.update({k: v for k, v in extra.items() if v is not None})
        for key in [k for k, v in extra.items() if v is None]:
            params.pop(key, None)
        return "/oauth/authorize?" + urlencode(params)

    def redeem(self, code: str, **extra: Any) -> Any:
        """The token request, client_secret_basic for a confidential client."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            **extra,
        }
        form = {k: v for k, v in form.items() if v is not None}
        return self.token_request(form)

    def refresh(self, refresh_token: str) -> Any:
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def token_request(self, form: dict[str, str], path: str = "/oauth/token") -> Any:
        headers = {}
        if self.secret is not None:
            basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        else:
            form = {**form, "client_id": self.client_id}
        return self.app.test_client().post(path, data=form, headers=headers)

    def id_token_claims(self, id_token: str) -> dict[str, Any]:
        jwks = self.app.test_client().get("/oauth/jwks").get_json()
        decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256"])
        return dict(decoded.claims)


def register(app: Flask, **options: Any) -> tuple[str, str | None]:
    settings = {
        "name": "Shop",
        "redirect_uris": [f"{WEBSITE}/callback"],
        "origins": [WEBSITE],
        "post_logout_redirect_uris": [f"{WEBSITE}/"],
        "trusted": True,
        **options,
    }
    with app.app_context():
        db = database.session()
        created = clients.create_client(db, RequestContext.outside_request("test"), **settings)
        db.commit()
        return created.client.client_id, created.secret


@pytest.fixture
def website(app: Flask) -> Website:
    client_id, secret = register(app)
    return Website(app, client_id, secret, f"{WEBSITE}/callback")


def code_from(response: Any, website: Website) -> str:
    """The code of an authorization response redirected to ``website``."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(website.redirect_uri + "?"), location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params.get("state") == website.state
    assert params.get("iss") == ORIGIN
    assert "error" not in params, params
    return params["code"]


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def sign_in_to(api: Api, website: Website, **extra: Any) -> dict[str, Any]:
    """The whole flow for a signed-in browser at a trusted website: the token response."""
    code = code_from(api.get(website.authorize_url(**extra)), website)
    answer = website.redeem(code)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()
