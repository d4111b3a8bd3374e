"""Partner websites (OAuth clients): registering, listing, changing, removing, and rotating a
secret. The CLI and the admin API (admin/website_views.py) use the same functions.

The registration rules are strict on purpose. Redirect URIs and origins are compared exactly
(no prefix or subdomain leniency). A redirect URI is https, or plain http only on a loopback
host (``localhost``, ``127.0.0.1``, ``[::1]``: RFC 8252 §7.3), without a fragment or user info.
A confidential client's secret is shown once and stored as a hash."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.security import token_hash
from embed.errors import ClientNotFound, InvalidClientSettings
from embed.models import Client

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|[0-9a-f:.]*:[0-9a-f:.]*")
ID_TOKEN_ALGORITHMS = ("RS256", "ES256")
MAX_URIS = 20
MAX_URI_LENGTH = 2048
NAME_MAX = 128


@dataclass(frozen=True)
class CreatedClient:
    """A new client and, for a confidential one, its secret (shown this once)."""

    client: Client
    secret: str | None


def _problem_with_https_or_loopback(what: str, value: str) -> str | None:
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # a malformed port raises here
    except ValueError:
        return f"{what} is not a valid URL: {value!r}"
    if parts.scheme not in ("http", "https") or not host:
        return f"{what} must be an absolute http(s) URL: {value!r}"
    if not _HOST.fullmatch(host):
        # What goes into a CSP header and a postMessage target: nothing that could end a
        # directive or the header (a space, ";", ",", "*"...).
        return f"{what} has a host that is not a plain DNS name or IP address: {value!r}"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return (
            f"{what} must use https (plain http only on localhost, 127.0.0.1 or [::1]): {value!r}"
        )
    if parts.username is not None or parts.password is not None:
        return f"{what} must not hold a user name or password: {value!r}"
    return None


def check_redirect_uri(value: str, what: str = "redirect URI") -> str:
    """``value`` if it may be registered as a redirect URI; InvalidClientSettings otherwise."""
    if len(value) > MAX_URI_LENGTH:
        raise InvalidClientSettings(f"{what} is longer than {MAX_URI_LENGTH} characters")
    if "#" in value:
        raise InvalidClientSettings(f"{what} must not have a fragment (#…): {value!r}")
    problem = _problem_with_https_or_loopback(what, value)
    if problem:
        raise InvalidClientSettings(problem)
    return value


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, https (or http on loopback), nothing else."""
    problem = _problem_with_https_or_loopback("origin", value)
    parts = urlsplit(value) if problem is None else None
    if parts is not None and (parts.path not in ("", "/") or parts.query or parts.fragment):
        problem = f"an origin is scheme://host[:port] only: {value!r}"
    if problem or parts is None:
        raise InvalidClientSettings(problem)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _unique(values: list[str], what: str) -> list[str]:
    if len(values) > MAX_URIS:
        raise InvalidClientSettings(f"at most {MAX_URIS} {what}s")
    return list(dict.fromkeys(values))


def check_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > NAME_MAX:
        raise InvalidClientSettings(f"the name must have 1 to {NAME_MAX} characters")
    return name


def check_redirect_uris(values: list[str]) -> list[str]:
    if not values:
        raise InvalidClientSettings("at least one redirect URI is needed")
    return _unique([check_redirect_uri(u) for u in values], "redirect URI")


def check_origins(values: list[str]) -> list[str]:
    return _unique([normalise_origin(o) for o in values], "origin")


def check_post_logout_redirect_uris(values: list[str]) -> list[str]:
    return _unique(
        [check_redirect_uri(u, "post-logout redirect URI") for u in values],
        "post-logout redirect URI",
    )


def _new_secret() -> tuple[str, bytes]:
    secret = secrets.token_urlsafe(32)
    return secret, token_hash(secret)


def new_client_id() -> str:
    """144 random bits in base64url that never start with ``-`` (a command line would read
    such an id as an option: ``flask clients delete -K…``)."""
    while True:
        client_id = secrets.token_urlsafe(18)
        if not client_id.startswith("-"):
            return client_id


def create_client(
    db: Session,
    ctx: RequestContext,
    *,
    name: str,
    redirect_uris: list[str],
    origins: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    public: bool = False,
    trusted: bool = False,
    id_token_alg: str = "RS256",  # noqa: S107 (an algorithm name, not a password)
    actor: str | None = None,
    actor_user_id: int | None = None,
) -> CreatedClient:
    """Registers a website. Its ``client_id`` is random (never a name someone could guess or
    squat); a confidential client's secret is returned once and stored hashed."""
    name = check_name(name)
    if id_token_alg not in ID_TOKEN_ALGORITHMS:
        raise InvalidClientSettings(
            f"the ID token algorithm is one of {', '.join(ID_TOKEN_ALGORITHMS)}"
        )
    redirects = check_redirect_uris(redirect_uris)
    allowed_origins = check_origins(origins or [])
    logouts = check_post_logout_redirect_uris(post_logout_redirect_uris or [])
    secret, secret_hash = (None, None) if public else _new_secret()
    client = Client(
        client_id=new_client_id(),
        name=name,
        secret_hash=secret_hash,
        redirect_uris=redirects,
        origins=allowed_origins,
        post_logout_redirect_uris=logouts,
        trusted=trusted,
        id_token_alg=id_token_alg,
        created_at=ctx.now,
    )
    db.add(client)
    db.flush()
    events.emit(
        db,
        events.ClientRegistered(
            ctx=ctx,
            user_id=None,
            client_id=client.client_id,
            client_name=name,
            actor=actor,
            actor_user_id=actor_user_id,
        ),
    )
    return CreatedClient(client, secret)


def list_clients(db: Session) -> list[Client]:
    return list(db.scalars(sa.select(Client).order_by(Client.id)))


def find_client(db: Session, client_id: str | None) -> Client | None:
    return db.scalars(sa.select(Client).where(Client.client_id == client_id)).first()


def get_client(db: Session, client_id: str) -> Client:
    client = find_client(db, client_id)
    if client is None:
        raise ClientNotFound()
    return client


def delete_client(
    db: Session,
    ctx: RequestContext,
    client_id: str,
    *,
    actor: str | None = None,
    actor_user_id: int | None = None,
) -> None:
    """Removes the website with every connection, grant, code and token it had."""
    client = get_client(db, client_id)
    events.emit(
        db,
        events.ClientRemoved(
            ctx=ctx,
            user_id=None,
            client_id=client.client_id,
            client_name=client.name,
            actor=actor,
            actor_user_id=actor_user_id,
        ),
    )
    db.delete(client)
    db.flush()


def update_client(
    db: Session,
    ctx: RequestContext,
    client_id: str,
    *,
    name: str | None = None,
    redirect_uris: list[str] | None = None,
    origins: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    trusted: bool | None = None,
    actor: str | None = None,
    actor_user_id: int | None = None,
) -> Client:
    """Changes a website's settings (None: left as it is), checked by the very rules of
    ``create_client`` (``InvalidClientSettings``, nothing changed); audited with each changed
    setting's old and new value. Whether it is public and its ID token algorithm stay: a
    website's configuration depends on them (delete and register it again instead)."""
    client = get_client(db, client_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = check_name(name)
    if redirect_uris is not None:
        wanted["redirect_uris"] = check_redirect_uris(redirect_uris)
    if origins is not None:
        wanted["origins"] = check_origins(origins)
    if post_logout_redirect_uris is not None:
        wanted["post_logout_redirect_uris"] = check_post_logout_redirect_uris(
            post_logout_redirect_uris
        )
    if trusted is not None:
        wanted["trusted"] = trusted
    changes: dict[str, Any] = {}
    for setting, value in wanted.items():
        old = getattr(client, setting)
        old = list(old) if isinstance(old, list) else old
        if value != old:
            changes[setting] = {"old": old, "new": value}
            setattr(client, setting, value)
    if changes:
        db.flush()
        events.emit(
            db,
            events.ClientUpdated(
                ctx=ctx,
                user_id=None,
                client_id=client.client_id,
                changes=changes,
                actor=actor,
                actor_user_id=actor_user_id,
            ),
        )
    return client


def rotate_secret(
    db: Session,
    ctx: RequestContext,
    client_id: str,
    *,
    actor: str | None = None,
    actor_user_id: int | None = None,
) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    client = get_client(db, client_id)
    if client.public:
        raise InvalidClientSettings("a public client has no secret")
    secret, client.secret_hash = _new_secret()
    client.secret_rotated_at = ctx.now
    events.emit(
        db,
        events.ClientSecretRotated(
            ctx=ctx,
            user_id=None,
            client_id=client.client_id,
            actor=actor,
            actor_user_id=actor_user_id,
        ),
    )
    return secret


def secret_matches(client: Client, secret: str | None) -> bool:
    """Constant-time check of a presented client secret against the stored hash."""
    if client.secret_hash is None or not secret:
        return False
    return hmac.compare_digest(client.secret_hash, token_hash(secret))
