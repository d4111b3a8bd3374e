"""The embedded sign-in's edge: the request bodies and answers of the frame's JSON API, and the
declaration of each endpoint (what docs/openapi.py writes into the OpenAPI document).

These endpoints are called by Keystead's own frame (``/embed/signin``), from Keystead's
origin, so the Origin check holds as for every other page; no cookie is read or set. A
transaction secret, returned by one step and sent back with the next, binds them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from core.schemas import Answer, Body, CredentialBody, Endpoint, document, omitted_if_none
from embed.errors import (
    EmbedOriginRefused,
    EmbedRequestRefused,
    EmbedTransactionInvalid,
    UnknownWebsite,
)
from embed.frame import AccessDenied, CodeIssued, ConsentAsked
from embed.tokens import SCOPE_WORDS
from webauthn.errors import AuthenticationFailed, DeviceBlocked, DeviceRemoved
from webauthn.schemas import AuthenticationCredential

Transaction = Annotated[
    str,
    Field(min_length=1, max_length=128, description="The secret the previous step answered with"),
]

# ---- request bodies ------------------------------------------------------------------------


class EmbedBegin(Body):
    """The website's authorization request, as the frame's address carried it
    (``response_type`` is always `code`)."""

    client_id: str
    redirect_uri: str = Field(description="Registered by the website, matched exactly")
    scope: str = Field(description="Space-separated; must include `openid`")
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = Field(
        default=None, description="PKCE (RFC 7636), required from public clients"
    )
    code_challenge_method: str | None = Field(default=None, description="`S256` only")

    def parameters(self) -> dict[str, str]:
        """The request's parameters as an authorization request's query has them."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


class EmbedAssertion(CredentialBody):
    """An assertion made in the frame (``credential.toJSON()``) and the sign-in's
    transaction."""

    documents = AuthenticationCredential
    transaction: Transaction


class EmbedDecision(Body):
    transaction: Transaction
    decision: Literal["allow", "deny"]


# ---- answers -------------------------------------------------------------------------------


class EmbedOptions(Answer):
    """A new transaction and the options for `navigator.credentials.get()`"""

    transaction: str = Field(description="Send it back with the assertion; used once")
    publicKey: dict[str, Any] = Field(
        description="PublicKeyCredentialRequestOptionsJSON (WebAuthn L3), usernameless",
        json_schema_extra={"required": ["challenge"]},
    )


class ScopeOut(Answer):
    name: str
    text: str = Field(description="What it lets the website know, in words")


class ConsentOut(Answer):
    """What to ask the person before the website gets a code."""

    website: str = Field(description="The website's name")
    origin: str = Field(description="The page the frame runs in")
    scopes: list[ScopeOut]


class EmbedResult(Answer):
    """For the website: a code, or an error (the person said no); or, for the frame, the
    consent to ask first. The frame posts the code or error only to `origin`."""

    code: str | None = omitted_if_none(description="Authorization code, single use")
    error: Literal["access_denied"] | None = omitted_if_none()
    state: str | None = omitted_if_none(description="The website's `state`, as it sent it")
    iss: str | None = omitted_if_none(description="The issuer (RFC 9207)")
    origin: str | None = omitted_if_none(
        description="The page the frame runs in (the browser's topOrigin, one of the "
        "website's origins): the only target the frame posts to"
    )
    consent: ConsentOut | None = omitted_if_none()
    transaction: str | None = omitted_if_none(
        description="With `consent`: send it back with the decision; used once"
    )

    @classmethod
    def of(cls, result: CodeIssued | ConsentAsked | AccessDenied) -> EmbedResult:
        if isinstance(result, ConsentAsked):
            scopes = [ScopeOut(name=s, text=SCOPE_WORDS.get(s, s)) for s in result.scopes]
            consent = ConsentOut(website=result.website, origin=result.origin, scopes=scopes)
            return cls(consent=consent, transaction=result.transaction)
        if isinstance(result, AccessDenied):
            return cls(
                error="access_denied", state=result.state, iss=result.issuer, origin=result.origin
            )
        return cls(code=result.code, state=result.state, iss=result.issuer, origin=result.origin)


# ---- the endpoints -------------------------------------------------------------------------

_TRANSACTION = (
    EmbedTransactionInvalid,
    "Unknown, used or expired transaction, or the website is gone",
)

document(
    "embed_frame",
    begin=Endpoint(
        "Begin a sign-in in a website's frame",
        tag="embedded sign-in",
        body=EmbedBegin,
        responses={200: EmbedOptions},
        description="Checks the website's authorization request as the authorization endpoint "
        "does and issues a usernameless challenge bound to a new transaction (no cookie).",
        errors=[
            (UnknownWebsite, "Unknown client, or a redirect URI it did not register"),
            (EmbedRequestRefused, "The request does not fit (scope, PKCE, state length…)"),
        ],
    ),
    complete=Endpoint(
        "Finish a sign-in in a website's frame",
        tag="embedded sign-in",
        body=EmbedAssertion,
        responses={200: (EmbedResult, "A code for the website, or the consent to ask first")},
        description="The assertion must be made in a cross-origin frame (`crossOrigin: true`) "
        "whose top-level page (`topOrigin`) is one of the website's registered origins. Starts "
        "a Keystead session without a cookie.",
        errors=[
            (AuthenticationFailed, "Any failed check, a first-party assertion included"),
            (EmbedOriginRefused, "No topOrigin, or not one of the website's: use the popup"),
            _TRANSACTION,
            DeviceBlocked,
            DeviceRemoved,
        ],
    ),
    consent=Endpoint(
        "Answer the consent question of a website that is not trusted",
        tag="embedded sign-in",
        body=EmbedDecision,
        responses={200: (EmbedResult, "A code (allow) or `access_denied` (deny)")},
        errors=[_TRANSACTION],
    ),
)
