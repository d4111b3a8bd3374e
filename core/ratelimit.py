"""The per-IP rate limit on the ceremony endpoints: one Flask-Limiter per app, what a view is
marked with (``rate_limited``), what happens while its store is down, and the true wait a 429
reports. Flask-bound, at the HTTP edge; the pure security helpers are core/security.py."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask.typing import RouteCallable
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.errors import StorageError

from core.errors import ServiceUnavailable

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

# The wait a client is told while RATELIMIT_FAIL_CLOSED refuses requests because the rate-limit
# store is unreachable: nobody knows when it comes back, so a short, honest retry interval.
STORE_DOWN_RETRY_AFTER = 15
# Redis on the same network answers in well under a millisecond; without timeouts a Redis that
# hangs (stopped, not dead) held every request for as long as it hung.
REDIS_STORE_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 1, "socket_timeout": 1}


def rate_limited(view: F) -> F:
    """Marks a view for the per-IP ceremony limit; ``install_rate_limits`` applies it. Marking
    instead of decorating with a module-level limiter keeps one limiter (and its storage) per
    app, so apps in one process (tests, a live server) never share counters."""
    view.ceremony_rate_limited = True  # type: ignore[attr-defined]
    return view


def install_rate_limits(app: Flask) -> Limiter:
    """One Flask-Limiter per app, keyed by the client IP after ProxyFix (TRUSTED_PROXY_COUNT),
    so a spoofed X-Forwarded-For is ignored unless a trusted proxy set it."""
    uri = str(app.config["RATELIMIT_STORAGE_URI"])
    fail_closed = bool(app.config["RATELIMIT_FAIL_CLOSED"])
    options: dict[str, Any] = {
        # A store failure raises limits' StorageError, a type nothing else raises.
        "wrap_exceptions": True,
        **(REDIS_STORE_OPTIONS if urlsplit(uri).scheme in ("redis", "rediss") else {}),
    }
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        # Flask-Limiter's headers go on every response, 200s included, and overwrite the
        # Retry-After of the app's own 429s with its window's; each 429 and 503 sets its own
        # (``limit_retry_after``, the errors in core.errors).
        headers_enabled=False,
        storage_uri=uri,
        storage_options=options,
        # Store down: Flask-Limiter applies the same limits in this process's memory, logs one
        # warning when the outage starts and one info line when a re-check (after 1, 2, 4 …
        # 32 s) finds the store back. (swallow_errors instead logs a traceback per request and
        # applies no limit at all.)
        in_memory_fallback_enabled=not fail_closed,
        # Count every limit of the endpoint, so a 429 knows each one that is exhausted and
        # its Retry-After is the real wait, not that of the first limit that breached.
        fail_on_first_breach=False,
        enabled=bool(app.config["RATELIMIT_ENABLED"]),
    )
    health = StoreHealth()
    for endpoint, view in list(app.view_functions.items()):
        if getattr(view, "ceremony_rate_limited", False):
            limit = limiter.limit(lambda: str(app.config["RATELIMIT_CEREMONY"]), scope=endpoint)
            limited = limit(view)
            # Flask-Limiter types its decorator for async views too; these views are sync.
            app.view_functions[endpoint] = cast(
                RouteCallable,
                _closed_while_store_down(limited, health) if fail_closed else limited,
            )
    app.extensions["keystead.limiter"] = limiter
    return limiter


class StoreHealth:
    """Whether the rate-limit store answered the last time, so an outage under
    RATELIMIT_FAIL_CLOSED logs one warning when it starts and one line when it ends, not a line
    per request."""

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()

    def failed(self, error: Exception) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        log.warning("rate-limit store unreachable, refusing limited requests (503): %s", error)

    def answered(self) -> None:
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
        log.info("rate-limit store reachable again")


def _closed_while_store_down(view: F, health: StoreHealth) -> F:
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            response = view(*args, **kwargs)
        except StorageError as error:
            health.failed(error)
            raise ServiceUnavailable(STORE_DOWN_RETRY_AFTER) from error
        except Exception:
            health.answered()  # the limits were checked: a 429, or the view's own error
            raise
        health.answered()
        return response

    return guarded  # type: ignore[return-value]


def limit_retry_after() -> int:
    """For a 429 from Flask-Limiter: seconds until every limit this request exhausted lets a
    request through again, rounded up. Flask-Limiter's windows run on ``time.time()``."""
    limiter: Limiter = current_app.extensions["keystead.limiter"]
    now = time.time()
    try:
        resets = [
            limit.window.reset_time
            for limit in limiter.current_limits
            if limit.breached or limit.window.remaining == 0
        ]
    except StorageError:
        return STORE_DOWN_RETRY_AFTER
    return max(1, math.ceil(max(resets, default=now) - now))
