"""The partner-website feature's errors. An authorization request with an unknown client or a
redirect URI that is not registered is answered with a page and never redirected (RFC 6749
§4.1.2.1): those are these errors. Errors a website should hear at its redirect URI go through
Authlib's OAuth2Error instead."""

from __future__ import annotations

from core.errors import AppError, NotFound


class InvalidClientSettings(AppError):
    """A client registration that cannot work (a redirect URI on plain http off loopback...)."""

    status, code = 400, "invalid_client_settings"
    message = "The website's settings are not valid."


class ClientNotFound(NotFound):
    code = "client_not_found"
    message = "No website is registered with this client id."


class UnknownWebsite(AppError):
    status, code = 400, "unknown_website"
    message = (
        "This sign-in link names a website that is not registered with this server, or a "
        "return address the website did not register. Go back to the website and try again."
    )


class EmbedTransactionInvalid(AppError):
    status, code = 400, "embed_expired"
    message = "This sign-in expired or was used already. Start again from the website."


class EmbedOriginRefused(AppError):
    """The inline sign-in ran in a page that is not one of the website's registered origins,
    or the browser did not say which page it ran in (no ``topOrigin``): the popup works."""

    status, code = 400, "embed_origin_refused"
    message = "Sign in with the popup instead: this page cannot use the embedded sign-in."


class ConnectionNotFound(NotFound):
    code = "connection_not_found"
    message = "This website is not connected to your ID."


class EmbedRequestRefused(AppError):
    """The embedded sign-in's authorization request of a registered website does not fit
    (``embed.requests.RequestRefused``): told to the frame, whose page shows it to whoever
    builds the website. The message says what is wrong."""

    status, code = 400, "invalid_request"
    message = "This website asked to sign you in in a way this server does not allow."
