"""Keystead's OpenID Connect provider, on Authlib (``authlib.integrations.flask_oauth2`` and
``authlib.oidc.core``): the authorization server, its grants (authorization code with PKCE and
the ID token, refresh token with rotation), the bearer-token validator behind userinfo, and the
revocation, introspection, userinfo and end-session endpoints.

This module adapts our tables and services to Authlib's interfaces; it holds no rule of its
own. Codes, tokens and their lifetimes are ``embed.tokens``; keys ``embed.keys``; which request
may get a code ``embed.requests``; clients ``embed.clients``. Authlib builds and checks the
protocol messages and signs the JWTs (joserfc): nothing here writes JOSE or OAuth by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, current_app
from flask import request as flask_request
from werkzeug.datastructures import CombinedMultiDict, MultiDict

from core import db as database
from core.models import User
from core.web import request_now, session_policy
from embed import keys, tokens
from embed.clients import find_client, secret_matches
from embed.models import Client, Grant, TokenKind

CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]


def _config(key: str) -> Any:
    return current_app.config[key]


def issuer() -> str:
    """The issuer is ``ORIGIN`` exactly (never the Host header)."""
    return str(_config("ORIGIN"))


# ---- our rows as Authlib sees them -----------------------------------------------------------


class OAuthClient(ClientMixin):
    def __init__(self, row: Client) -> None:
        self.row = row
        self.client_id = row.client_id
        self.id_token_signed_response_alg = row.id_token_alg
        # Read by Authlib's userinfo (no signed userinfo) and end-session endpoints.
        self.client_metadata = {"post_logout_redirect_uris": list(row.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every request names its redirect URI

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in tokens.SCOPES_SUPPORTED)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.public:
            return method == "none" and endpoint in ("token", "revocation")
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class SignedInUser:
    """The ``grant_user`` handed to Authlib: the person and how they signed in."""

    authentication: tokens.Authentication

    @property
    def id(self) -> int:
        return self.authentication.user.id


class CodeAdapter:
    """A redeemed authorization code, as Authlib's ``AuthorizationCodeMixin``."""

    def __init__(self, redeemed: tokens.RedeemedCode) -> None:
        self.redeemed = redeemed

    def get_redirect_uri(self) -> str:
        return self.redeemed.code.redirect_uri

    def get_scope(self) -> str:
        return self.redeemed.grant.scope

    def get_nonce(self) -> str | None:
        return self.redeemed.grant.nonce

    def get_auth_time(self) -> int:
        return int(self.redeemed.grant.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.redeemed.grant.acr

    def get_amr(self) -> list[str]:
        return list(self.redeemed.grant.amr)


class TokenAdapter:
    """A stored access or refresh token, as Authlib's ``TokenMixin``."""

    def __init__(self, held: tokens.HeldToken) -> None:
        self.held = held
        self.scope = held.token.scope

    @property
    def grant(self) -> Grant:
        return self.held.grant

    def check_client(self, client: OAuthClient) -> bool:
        return self.held.client.id == client.row.id

    def get_scope(self) -> str:
        return self.held.token.scope

    def get_expires_in(self) -> int:
        return int((self.held.token.expires_at - self.held.token.created_at).total_seconds())

    def is_expired(self) -> bool:
        return self.held.token.expires_at <= request_now()

    def is_revoked(self) -> bool:
        return not self.held.active and not self.is_expired()

    def get_user(self) -> SignedInUserForToken | None:
        user = self.held.user
        return SignedInUserForToken(user, self.held.grant) if user else None

    def get_client(self) -> OAuthClient:
        return OAuthClient(self.held.client)


# ---- requests ------------------------------------------------------------------------------


class _Payload(BasicOAuth2Payload):
    def __init__(self, values: MultiDict[str, str]) -> None:
        self._data = values
        self._datalist = {key: values.getlist(key) for key in values}


class ParamsRequest(OAuth2Request):
    """An OAuth request whose URL is built from ``ORIGIN`` (behind a proxy the Host header is
    not ours to trust) and whose parameters may come from a stored authorization request (the
    continuation after sign-in) rather than from the live query string."""

    def __init__(self, method: str, args: MultiDict[str, str], form: MultiDict[str, str]) -> None:
        super().__init__(method, issuer() + flask_request.path, headers=flask_request.headers)
        self._args, self._form = args, form
        self.payload = _Payload(CombinedMultiDict([args, form]))

    @property
    def args(self) -> MultiDict[str, str]:
        return self._args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


class Server(AuthorizationServer):
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return ParamsRequest(flask_request.method, flask_request.args, flask_request.form)


def _query_client(client_id: str) -> OAuthClient | None:
    row = find_client(database.session(), client_id)
    return OAuthClient(row) if row else None


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    if request.authorization_code is not None:
        grant = request.authorization_code.redeemed.grant
    else:
        grant = request.refresh_token.grant
    tokens.store_tokens(
        database.session(),
        grant,
        request_now(),
        access_token=token["access_token"],
        access_ttl=_config("OIDC_ACCESS_TOKEN_TTL"),
        refresh_token=token.get("refresh_token"),
        refresh_ttl=_config("OIDC_REFRESH_TOKEN_TTL"),
        scope=token.get("scope", grant.scope),
    )


def _generate_bearer(
    grant_type: str,
    client: OAuthClient,
    user: Any = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """Opaque tokens of 256 bits (only their hashes are stored)."""
    from core.security import new_token

    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": new_token(32),
        "expires_in": _config("OIDC_ACCESS_TOKEN_TTL"),
        "scope": scope or "",
    }
    if include_refresh_token:
        token["refresh_token"] = new_token(32)
    return token


# ---- grants --------------------------------------------------------------------------------


class S256Only(CodeChallenge):
    """PKCE with S256 only (``plain`` gives nothing a stolen code does not); required from
    public clients (``required``), honoured for every client that sent a challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def get_authorization_code_challenge(self, authorization_code: CodeAdapter) -> str | None:
        return authorization_code.redeemed.code.code_challenge

    def get_authorization_code_challenge_method(
        self, authorization_code: CodeAdapter
    ) -> str | None:
        return authorization_code.redeemed.code.code_challenge_method


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        from core.security import new_token

        return new_token(32)  # 256 bits

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        from embed.requests import code_request

        who: tokens.Authentication = request.user.authentication
        checked = code_request(
            request.client.row, request.payload.redirect_uri, request.payload.data
        )
        tokens.issue_code(
            database.session(), _ctx(), checked, who, ttl=_config("OIDC_CODE_TTL"), code=code
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> CodeAdapter | None:
        redeemed = tokens.redeem_code(
            database.session(), code, client.row, request_now(), session_policy()
        )
        return CodeAdapter(redeemed) if redeemed else None

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        """Consumed already, by ``redeem_code``'s conditional UPDATE."""

    def authenticate_user(self, authorization_code: CodeAdapter) -> SignedInUserForToken:
        redeemed = authorization_code.redeemed
        return SignedInUserForToken(redeemed.user, redeemed.grant)


@dataclass
class SignedInUserForToken:
    """The user behind a grant at the token and userinfo endpoints."""

    user: User
    grant: Grant

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def client(self) -> Client:
        found = database.session().get(Client, self.grant.client_pk)
        assert found is not None
        return found


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every use returns a new refresh token

    def _validate_request_token(self, client: OAuthClient) -> TokenAdapter:
        from authlib.oauth2.rfc6749 import InvalidGrantError

        presented = self.request.form.get("refresh_token")
        if presented is None:
            from authlib.oauth2.rfc6749 import InvalidRequestError

            raise InvalidRequestError("Missing 'refresh_token' in request.")
        held = tokens.use_refresh_token(
            database.session(), presented, client.row, request_now(), session_policy()
        )
        if held is None:
            raise InvalidGrantError()
        return TokenAdapter(held)

    def authenticate_refresh_token(self, refresh_token: str) -> None:
        raise AssertionError("replaced by _validate_request_token")

    def authenticate_user(self, refresh_token: TokenAdapter) -> SignedInUserForToken | None:
        return refresh_token.get_user()

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        """Consumed already, by ``use_refresh_token``'s conditional UPDATE."""


def _subject(user: User, client_row: Client) -> str:
    return tokens.subject(user, client_row, _config("OIDC_SUBJECT_TYPE"))


def user_info(user: User, client_row: Client, scope: str) -> UserInfo:
    """The claims a website gets for ``scope``: ``sub`` always; ``profile``: name and
    preferred_username; ``email``: email and email_verified."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": _subject(user, client_row)}
    if "profile" in scopes:
        claims.update(name=user.display_name, preferred_username=user.username)
    if "email" in scopes:
        claims.update(email=user.email, email_verified=user.email_verified_at is not None)
    return UserInfo(claims)


class IdToken(OpenIDCode):
    """The ID token: Authlib's, with our keys, claims and clock."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is bound to its code and checked by the website

    def resolve_client_private_key(self, client: OAuthClient) -> dict[str, Any]:
        return keys.signing_jwk(database.session(), client.row.id_token_alg, request_now())

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        jwk = keys.signing_jwk(database.session(), client.row.id_token_alg, request_now())
        return {"alg": client.row.id_token_alg, "kid": jwk["kid"], "typ": "JWT"}

    def get_compatible_claims(self, request: OAuth2Request) -> dict[str, Any]:
        now = int(request_now().timestamp())
        grant: Grant = request.authorization_code.redeemed.grant
        return {
            "iss": issuer(),
            "aud": request.client.get_client_id(),
            "iat": now,
            "exp": now + _config("OIDC_ID_TOKEN_TTL"),
            "sid": grant.sid,
        }

    def generate_user_info(self, user: SignedInUserForToken, scope: str) -> UserInfo:
        return user_info(user.user, user.client, scope)


# ---- bearer tokens and the other endpoints --------------------------------------------------


class AccessTokens(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> TokenAdapter | None:
        held = tokens.find_token(
            database.session(), token_string, request_now(), session_policy(), TokenKind.ACCESS
        )
        return TokenAdapter(held) if held else None


class UserInfoAnswer(UserInfoEndpoint):
    def generate_user_info(self, user: SignedInUserForToken, scope: str) -> UserInfo:
        return user_info(user.user, user.client, scope)

    def get_issuer(self) -> str:
        return issuer()


def _find_held(token_string: str) -> TokenAdapter | None:
    held = tokens.find_token(database.session(), token_string, request_now(), session_policy())
    return TokenAdapter(held) if held else None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return _find_held(token_string)

    def revoke_token(self, token: TokenAdapter, request: OAuth2Request) -> None:
        tokens.revoke_token(database.session(), token.held, request_now())


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return _find_held(token_string)

    def check_permission(
        self, token: TokenAdapter, client: OAuthClient, request: OAuth2Request
    ) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        held = token.held
        user = held.user
        assert user is not None  # inactive tokens never get here
        return {
            "active": True,
            "client_id": held.client.client_id,
            "token_type": "Bearer" if held.token.kind == TokenKind.ACCESS else "refresh_token",
            "scope": held.token.scope,
            "sub": _subject(user, held.client),
            "aud": held.client.client_id,
            "iss": issuer(),
            "exp": int(held.token.expires_at.timestamp()),
            "iat": int(held.token.created_at.timestamp()),
            "username": user.username,
        }


class EndSession(EndSessionEndpoint):
    """RP-initiated logout. What it ends is decided in ``embed.views`` (it needs the browser's
    session cookie); this validates the request with Authlib."""

    def get_server_jwks(self) -> dict[str, Any]:
        return keys.public_jwks(
            database.session(), request_now(), id_token_ttl=_config("OIDC_ID_TOKEN_TTL")
        )

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: Any) -> None:
        from flask import g
        from flask_login import current_user

        from embed.logout import end_sessions

        client = end_session_request.client
        g.ended_browser_session = end_sessions(
            database.session(),
            _ctx(),
            client=client.row if client else None,
            claims=end_session_request.id_token_claims,
            user=current_user._get_current_object() if current_user.is_authenticated else None,
        )


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return issuer()


def _ctx() -> Any:
    from core.web import request_context

    return request_context()


server = Server()
resource_protector = ResourceProtector()


def init_app(app: Flask) -> None:
    server.init_app(app, _query_client, _save_token)
    server.register_token_generator("default", _generate_bearer)
    server.scopes_supported = list(tokens.SCOPES_SUPPORTED)
    if not getattr(server, "_keystead_ready", False):
        server.register_grant(CodeGrant, [S256Only(required=True), IdToken(require_nonce=False)])
        server.register_grant(RefreshGrant)
        server.register_endpoint(Revocation)
        server.register_endpoint(Introspection)
        server.register_endpoint(EndSession)
        resource_protector.register_token_validator(AccessTokens())
        server.register_endpoint(UserInfoAnswer(resource_protector=resource_protector))
        server.register_extension(Issuer())
        server._keystead_ready = True
