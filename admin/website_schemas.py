"""The websites API's requests and answers (``/api/admin/websites``: the OpenID Connect
clients of embed/), and its declarations. A secret, or its hash, is never in an answer but
the one that made it (registering, rotating)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field

from admin.errors import Forbidden
from core.errors import InvalidInput, NotSignedIn, ReauthRequired
from core.schemas import (
    Answer,
    Body,
    Checked,
    Endpoint,
    ErrorSpec,
    NoFields,
    Timestamp,
    document,
    omitted_if_none,
)
from core.users import TextRule
from embed import clients
from embed.errors import ClientNotFound, InvalidClientSettings
from embed.models import Client

TAG = "admin"
GATE: list[ErrorSpec] = [
    (NotSignedIn, "signed out"),
    (Forbidden, "no role that may do this (admins only)"),
]
CHANGE: list[ErrorSpec] = [*GATE, ReauthRequired]
URI = TextRule(min_length=1, max_length=clients.MAX_URI_LENGTH)


def _naming(field: str, check: Callable[[str], object]) -> Callable[[str], object]:
    """``check`` (embed.clients' own rule) with its refusal as 400 ``invalid_input`` naming
    ``field``."""

    def run(value: str) -> object:
        try:
            return check(value)
        except InvalidClientSettings as error:
            raise InvalidInput(f"'{field}': {error.message}") from None

    return run


Name = Annotated[
    str,
    Checked(
        _naming("name", clients.check_name), TextRule(min_length=1, max_length=clients.NAME_MAX)
    ),
]
RedirectUri = Annotated[str, Checked(_naming("redirect_uris", clients.check_redirect_uri), URI)]
Origin = Annotated[str, Checked(_naming("origins", clients.normalise_origin), URI)]
LogoutUri = Annotated[
    str,
    Checked(
        _naming(
            "post_logout_redirect_uris",
            lambda value: clients.check_redirect_uri(value, "post-logout redirect URI"),
        ),
        URI,
    ),
]
RedirectUris = Annotated[
    list[RedirectUri],
    Field(
        min_length=1,
        max_length=clients.MAX_URIS,
        description="Exact redirect URIs: https, or http on localhost, 127.0.0.1 or [::1]",
    ),
]
Origins = Annotated[
    list[Origin],
    Field(
        max_length=clients.MAX_URIS,
        description="Web origins (`scheme://host[:port]`) that may embed or open the sign-in",
    ),
]
LogoutUris = Annotated[
    list[LogoutUri],
    Field(max_length=clients.MAX_URIS, description="Exact post-logout redirect URIs"),
]


class NewWebsite(Body):
    """The options of `flask --app app clients create`."""

    name: Name = Field(description="As people are shown it")
    redirect_uris: RedirectUris
    origins: Origins = []
    post_logout_redirect_uris: LogoutUris = []
    public: bool = Field(default=False, description="No secret (a browser or mobile app): PKCE")
    trusted: bool = Field(default=False, description="First-party: no consent screen")
    id_token_alg: Literal["RS256", "ES256"] = "RS256"  # noqa: S105 (an algorithm name)


class WebsiteChanges(Body):
    """What to change; a key left out (or null) stays as it is. Whether it is public and its
    ID token algorithm cannot change (delete the website and register it again)."""

    name: Name | None = None
    redirect_uris: RedirectUris | None = None
    origins: Origins | None = None
    post_logout_redirect_uris: LogoutUris | None = None
    trusted: bool | None = None


class WebsiteSettings(Answer):
    """A partner website: never its secret nor the secret's hash."""

    client_id: str
    name: str
    public: bool
    token_endpoint_auth_method: Literal["none", "client_secret_basic"]
    redirect_uris: list[str]
    origins: list[str]
    post_logout_redirect_uris: list[str]
    trusted: bool
    id_token_alg: str
    created_at: Timestamp
    secret_rotated_at: Timestamp | None

    @classmethod
    def from_client(cls, client: Client) -> WebsiteSettings:
        return cls(
            client_id=client.client_id,
            name=client.name,
            public=client.public,
            token_endpoint_auth_method="none" if client.public else "client_secret_basic",
            redirect_uris=list(client.redirect_uris),
            origins=list(client.origins),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            trusted=client.trusted,
            id_token_alg=client.id_token_alg,
            created_at=client.created_at,
            secret_rotated_at=client.secret_rotated_at,
        )


class WebsitesAnswer(Answer):
    websites: list[WebsiteSettings]


class WebsiteAnswer(Answer):
    website: WebsiteSettings


class CreatedWebsite(Answer):
    website: WebsiteSettings
    client_secret: str | None = omitted_if_none(
        description="A confidential website's secret, shown this once (never again)"
    )


class NewSecret(Answer):
    website: WebsiteSettings
    client_secret: str = Field(description="Shown this once; the old one no longer works")


document(
    "admin_websites",
    websites=Endpoint(
        "The partner websites (admins only; never a secret)",
        tag=TAG,
        responses={200: WebsitesAnswer},
        errors=GATE,
    ),
    create=Endpoint(
        "Register a website (admins only; fresh verification)",
        tag=TAG,
        body=NewWebsite,
        responses={201: CreatedWebsite},
        errors=CHANGE,
    ),
    website=Endpoint(
        "One website (admins only)",
        tag=TAG,
        responses={200: WebsiteAnswer},
        errors=[*GATE, ClientNotFound],
    ),
    update=Endpoint(
        "Change a website's name, redirect URIs, origins, post-logout URIs or trust "
        "(admins only; fresh verification)",
        tag=TAG,
        body=WebsiteChanges,
        responses={200: WebsiteAnswer},
        errors=[*CHANGE, ClientNotFound],
    ),
    rotate_secret=Endpoint(
        "A new secret for a confidential website, shown once; the old one stops working "
        "(admins only; fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: NewSecret},
        errors=[*CHANGE, ClientNotFound, (InvalidClientSettings, "a public website has no secret")],
    ),
    delete=Endpoint(
        "Remove a website with every connection, grant and token it had "
        "(admins only; fresh verification)",
        tag=TAG,
        responses={204: "Removed"},
        errors=[*CHANGE, ClientNotFound],
    ),
)
