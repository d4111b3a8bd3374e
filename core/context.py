"""The per-request value: what every use case may know about the request it serves, built once
at the HTTP edge (``core.web.request_context``) and passed down as one argument instead of a
handful of keywords. Plain Python: services and listeners never see Flask's ``request``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import utcnow
from core.models import LoginSession
from core.security import ClientInfo


@dataclass(frozen=True)
class RequestContext:
    """``client``: who is calling (IP, user agent, browser, the device signed in with);
    ``now``: the request's one instant, from the app's clock; ``login_session``: the live
    sign-in session, if any; ``session_token``: the session cookie's value as sent (a new
    sign-in ends the browser's previous session by it, even one no longer live)."""

    client: ClientInfo
    now: datetime
    login_session: LoginSession | None = None
    session_token: str | None = None

    @classmethod
    def outside_request(cls, actor: str = "", now: datetime | None = None) -> RequestContext:
        """For work no HTTP request carries (a CLI command): no IP, no browser, ``actor`` (if
        given) in the user agent's place, so the audit trail says who did it."""
        return cls(
            client=ClientInfo(ip="", user_agent=actor, browser=b""),
            now=now if now is not None else utcnow(),
        )
