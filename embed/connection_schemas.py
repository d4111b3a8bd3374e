"""The connected-websites API's edge: its answers and the declaration of each endpoint (what
docs/openapi.py writes into the OpenAPI document). The owner of an ID sees the websites it
signed in to and disconnects any of them."""

from __future__ import annotations

from pydantic import Field

from core.schemas import SIGNED_IN, Answer, Endpoint, Timestamp, document
from embed.errors import ConnectionNotFound
from embed.models import Client, Connection
from embed.tokens import website_origin


class ConnectionOut(Answer):
    """A website the ID signed in to."""

    id: int
    website: str = Field(description="The website's name, as it was registered")
    origin: str = Field(description="Where the website lives (scheme://host[:port])")
    scopes: list[str] = Field(
        description="What the ID agreed to share with it; empty for a first-party website, "
        "which never asks"
    )
    first_used_at: Timestamp
    last_used_at: Timestamp

    @classmethod
    def from_row(cls, connection: Connection, client: Client) -> ConnectionOut:
        return cls(
            id=connection.id,
            website=client.name,
            origin=website_origin(client),
            scopes=connection.scopes.split(),
            first_used_at=connection.first_used_at,
            last_used_at=connection.last_used_at,
        )


class ConnectionsOut(Answer):
    connections: list[ConnectionOut] = Field(description="Most recently used first")


document(
    "connections",
    list_connections=Endpoint(
        "The websites the ID signed in to, most recently used first",
        tag="account",
        responses={200: ConnectionsOut},
        errors=SIGNED_IN,
    ),
    disconnect=Endpoint(
        "Disconnect a website: forget what the ID agreed to share with it and revoke every "
        "code and token it holds for the ID",
        tag="account",
        description="Its refresh tokens stop working at once and its access tokens are refused "
        "at the userinfo endpoint; a website that must ask for consent asks again at the next "
        "sign-in. Audited (`website_disconnected`).",
        responses={204: "Disconnected"},
        errors=[
            (ConnectionNotFound, "Unknown, or another ID's connection (indistinguishable)"),
            *SIGNED_IN,
        ],
    ),
)
