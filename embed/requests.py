"""Checking an authorization request's parameters, shared by the authorization endpoint
(``embed.views``) and the embedded sign-in (``embed.frame``). Pure: no Flask, no Authlib.

Two kinds of failure, as RFC 6749 §4.1.2.1 says: an unknown client or a redirect URI it did
not register is ``UnknownWebsite`` (a page, never a redirect: nobody may use Keystead to send
people to an address of their choosing); everything else is ``RequestRefused``, which the
website hears at its (now trusted) redirect URI."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from embed.clients import find_client
from embed.errors import UnknownWebsite
from embed.models import Client
from embed.tokens import SCOPES_SUPPORTED, CodeRequest

# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_STATE = 1024
MAX_NONCE = 512


@dataclass(frozen=True)
class RequestRefused(Exception):
    """An OAuth error for the website's redirect URI (``error``, ``error_description``)."""

    error: str
    description: str

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"


def registered_client(db: Session, params: Mapping[str, str]) -> tuple[Client, str]:
    """The client and its redirect URI, matched exactly; ``UnknownWebsite`` otherwise."""
    client = find_client(db, params.get("client_id"))
    redirect_uri = params.get("redirect_uri") or ""
    if client is None or redirect_uri not in client.redirect_uris:
        raise UnknownWebsite()
    return client, redirect_uri


def code_request(client: Client, redirect_uri: str, params: Mapping[str, str]) -> CodeRequest:
    """The checked request of a registered client: ``response_type=code``; scopes known and
    ``openid`` among them; PKCE with S256 only (``plain`` is refused), required from public
    clients; ``state`` and ``nonce`` of sane length. ``RequestRefused`` otherwise."""
    if params.get("response_type") != "code":
        raise RequestRefused("unsupported_response_type", "Only response_type=code is supported.")
    scopes = (params.get("scope") or "").split()
    if "openid" not in scopes:
        raise RequestRefused("invalid_scope", "The scope must include openid.")
    unknown = [s for s in scopes if s not in SCOPES_SUPPORTED]
    if unknown:
        raise RequestRefused("invalid_scope", f"Unsupported scope: {' '.join(unknown)}.")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None and method is None:
        if client.public:
            raise RequestRefused("invalid_request", "PKCE (code_challenge, S256) is required.")
    else:
        if method != "S256":
            raise RequestRefused("invalid_request", "code_challenge_method must be S256.")
        if not challenge or not _S256_CHALLENGE.match(challenge):
            raise RequestRefused("invalid_request", "Invalid code_challenge.")
    if len(params.get("state") or "") > MAX_STATE:
        raise RequestRefused("invalid_request", "state is too long.")
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > MAX_NONCE:
        raise RequestRefused("invalid_request", "nonce is too long.")
    return CodeRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
    )
