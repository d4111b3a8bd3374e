"""Partner websites from the command line: ``clients create|list|delete|rotate-secret`` and
``oidc rotate-keys``. Every change is audited with the command's actor."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import db as database
from core.cli import actor
from core.context import RequestContext
from core.errors import AppError
from embed import clients, keys
from embed.models import Client

clients_group = AppGroup("clients", help="Partner websites that sign their users in with Keystead.")
oidc_group = AppGroup("oidc", help="The OpenID Connect provider.")


def _describe(client: Client, secret: str | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.public,
        "token_endpoint_auth_method": "none" if client.public else "client_secret_basic",
        "redirect_uris": list(client.redirect_uris),
        "origins": list(client.origins),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "trusted": client.trusted,
        "id_token_signed_response_alg": client.id_token_alg,
        "created_at": client.created_at.isoformat(),
    }
    if secret is not None:
        described["client_secret"] = secret
    return described


def _print(client: Client, secret: str | None, as_json: bool) -> None:
    described = _describe(client, secret)
    if as_json:
        click.echo(json.dumps(described))
        return
    for key, value in described.items():
        click.echo(f"{key}: {' '.join(value) if isinstance(value, list) else value}")
    if secret is not None:
        click.echo("The secret is shown this once: store it in the website's configuration now.")


def _run(work: Any) -> Any:
    db_session = database.session()
    try:
        result = work(db_session, RequestContext.outside_request(actor()))
    except AppError as error:
        db_session.rollback()
        raise click.ClickException(error.message) from error
    db_session.commit()
    return result


@clients_group.command("create")
@click.option("--name", required=True, help="The website's name, as people are shown it.")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    required=True,
    help="Exact redirect URI (repeat for more).",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="Web origin allowed to embed or open the sign-in (repeat).",
)
@click.option(
    "--post-logout-redirect-uri",
    "logout_uris",
    multiple=True,
    help="Exact post-logout redirect URI (repeat).",
)
@click.option(
    "--public", is_flag=True, help="No secret (a browser or mobile app): PKCE is required."
)
@click.option("--trusted", is_flag=True, help="First-party: no consent screen.")
@click.option(
    "--id-token-alg",
    type=click.Choice(clients.ID_TOKEN_ALGORITHMS),
    default="RS256",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object (with the secret).")
def create(
    name: str,
    redirect_uris: tuple[str, ...],
    origins: tuple[str, ...],
    logout_uris: tuple[str, ...],
    public: bool,
    trusted: bool,
    id_token_alg: str,
    as_json: bool,
) -> None:
    """Register a website; prints its client id (and secret, shown once)."""
    created = _run(
        lambda db, ctx: clients.create_client(
            db,
            ctx,
            name=name,
            redirect_uris=list(redirect_uris),
            origins=list(origins),
            post_logout_redirect_uris=list(logout_uris),
            public=public,
            trusted=trusted,
            id_token_alg=id_token_alg,
            actor=actor(),
        )
    )
    _print(created.client, created.secret, as_json)


@clients_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
def list_clients(as_json: bool) -> None:
    """Every registered website (never a secret)."""
    found = clients.list_clients(database.session())
    if as_json:
        click.echo(json.dumps([_describe(c) for c in found]))
        return
    for client in found:
        kind = "public" if client.public else "confidential"
        click.echo(
            f"{client.client_id}  {client.name}  ({kind}{', trusted' if client.trusted else ''})"
        )


@clients_group.command("delete")
@click.argument("client_id")
def delete(client_id: str) -> None:
    """Remove a website and everything it holds (its users' tokens die with it)."""
    _run(lambda db, ctx: clients.delete_client(db, ctx, client_id, actor=actor()))
    click.echo(f"Deleted {client_id}.")


@clients_group.command("rotate-secret")
@click.argument("client_id")
def rotate_secret(client_id: str) -> None:
    """A new secret for a confidential client; the old one stops working at once."""
    secret = _run(lambda db, ctx: clients.rotate_secret(db, ctx, client_id, actor=actor()))
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown this once: store it in the website's configuration now.")


@oidc_group.command("rotate-keys")
def rotate_keys() -> None:
    """New signing keys; the old ones stay in the JWKS until their ID tokens have expired."""
    ttl = current_app.config["OIDC_ID_TOKEN_TTL"]
    kids = _run(lambda db, ctx: keys.rotate(db, ctx, id_token_ttl=ttl, actor=actor()))
    click.echo(f"New signing keys: {', '.join(kids)}; the old ones stay published for {ttl} s.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(clients_group)
    app.cli.add_command(oidc_group)
