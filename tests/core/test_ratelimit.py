"""Rate limits at the HTTP edge: a store outage is never a 500 (in-memory limits by default, 503
under RATELIMIT_FAIL_CLOSED), and every 429 tells the true wait while nothing else carries
Retry-After. The outage tests run a real redis-server on a free port and kill it mid-test."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from app import create_app
from core import db as database
from core.ratelimit import STORE_DOWN_RETRY_AFTER
from recovery.errors import TooManyAttempts
from tests.conftest import Api, base_config, empty_tables
from tools.softauthn import SoftAuthenticator

# ---- a Redis of our own ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """``redis-server`` on its own port, without persistence: ``stop()`` kills it (an outage),
    ``start()`` brings an empty one back on the same port."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (a fixed argv)
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def keys(self) -> list[bytes]:
        return list(self.client().keys("*"))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI"):  # CI installs it (.ci/run): never skip there
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(executable)
    server.start()
    yield server
    server.stop()


def limited_app(migrated: str, tmp_path: Path, **overrides: Any) -> Flask:
    app = create_app(
        {
            **base_config(migrated, tmp_path),
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_CEREMONY": "3 per minute",
            **overrides,
        }
    )
    empty_tables(app)
    return app


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions[database.ENGINE_KEY].dispose()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---- item 13: the store goes away ------------------------------------------------------------


def test_store_outage_falls_back_to_in_memory_limits_with_one_warning(
    migrated, tmp_path, redis_server, apps, caplog, monkeypatch
):
    app = limited_app(migrated, tmp_path, RATELIMIT_STORAGE_URI=redis_server.uri)
    apps.append(app)
    api = Api(app.test_client())
    alice = SoftAuthenticator(origin=api.origin)
    assert api.sign_up(alice, "alice").status_code == 201
    assert redis_server.keys(), "with Redis up, the limits live in Redis"

    caplog.clear()  # start-up lines (an unknown KEYSTEAD_ variable, say) are not ours
    redis_server.stop()
    with caplog.at_level(logging.INFO):
        # Sign-in and sign-up keep working: no 500, no traceback.
        assert api.sign_in(alice, "alice").status_code == 200
        bob = SoftAuthenticator(origin=api.origin)
        assert Api(app.test_client()).sign_up(bob, "bob").status_code == 201
        # …and the limits still hold, counted in this process's memory: sign-in's begin was
        # called once since the outage, so two more pass and the fourth is refused.
        statuses = [api.post("/api/authenticate/begin", {}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = api.post("/api/authenticate/begin", {})
        assert refused.get_json()["error"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) > 0
    problems = outage_lines(caplog)
    assert [r.getMessage() for r in problems] == [
        "Rate limit storage unreachable - falling back to in-memory storage"
    ]
    assert not any(r.exc_info for r in caplog.records)

    # Redis comes back (empty). Flask-Limiter re-checks it with a backoff of at most 32 s:
    # move its clock past that, and the limits are counted in Redis again.
    redis_server.start()
    caplog.clear()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 120)
    with caplog.at_level(logging.INFO):
        statuses = [api.post("/api/authenticate/begin", {}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert any(b"authenticate_begin" in key for key in redis_server.keys())
    assert "Rate limit storage recovered" in [r.getMessage() for r in caplog.records]
    assert outage_lines(caplog) == []


def test_fail_closed_answers_503_with_retry_after_while_the_store_is_down(
    migrated, tmp_path, redis_server, apps, caplog
):
    app = limited_app(
        migrated, tmp_path, RATELIMIT_STORAGE_URI=redis_server.uri, RATELIMIT_FAIL_CLOSED=True
    )
    apps.append(app)
    api = Api(app.test_client())
    alice = SoftAuthenticator(origin=api.origin)
    assert api.sign_up(alice, "alice").status_code == 201

    caplog.clear()  # start-up lines (an unknown KEYSTEAD_ variable, say) are not ours
    redis_server.stop()
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        answers = [
            api.post("/api/authenticate/begin", {}),
            api.post("/api/register/begin", {"username": "bob", "email": "bob@example.com"}),
            api.post("/api/authenticate/begin", {"username": "alice"}),
        ]
    assert time.monotonic() - started < 3  # refused at once
    for answer in answers:
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "unavailable"
        assert answer.headers["Retry-After"] == str(STORE_DOWN_RETRY_AFTER)
    problems = outage_lines(caplog)
    assert len(problems) == 1 and "rate-limit store unreachable" in problems[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)

    redis_server.start()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert api.sign_in(alice, "alice").status_code == 200
        assert api.post("/api/authenticate/begin", {}).status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name == "core.ratelimit"] == [
        "rate-limit store reachable again"
    ]
    assert any(b"authenticate_begin" in key for key in redis_server.keys())


def test_a_hung_store_does_not_hold_requests(migrated, tmp_path, redis_server, apps, caplog):
    app = limited_app(migrated, tmp_path, RATELIMIT_STORAGE_URI=redis_server.uri)
    apps.append(app)
    api = Api(app.test_client())
    assert api.post("/api/authenticate/begin", {}).status_code == 200
    assert redis_server.process is not None
    caplog.clear()
    redis_server.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        answers: list[Any] = []
        worker = threading.Thread(
            target=lambda: answers.append(api.post("/api/authenticate/begin", {})), daemon=True
        )
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            worker.start()
            worker.join(timeout=15)
        assert not worker.is_alive(), "the request hung with the store"
        assert time.monotonic() - started < 5
        assert answers[0].status_code == 200
        assert len(outage_lines(caplog)) == 1
    finally:
        redis_server.process.send_signal(signal.SIGCONT)


# ---- item 14: Retry-After tells the truth ----------------------------------------------------


@pytest.fixture
def frozen_time(monkeypatch) -> Any:
    """Flask-Limiter's windows run on ``time.time()``: hold it still, move it by hand."""

    class Clock:
        now = 1_700_000_000.25  # not on a second boundary, so rounding shows

        def move_to(self, offset: float) -> None:
            self.now = 1_700_000_000.25 + offset

    clock = Clock()
    monkeypatch.setattr(time, "time", lambda: clock.now)
    return clock


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "2 per minute"}],
    indirect=True,
)
def test_a_limiter_429_says_when_its_window_resets(api: Api, frozen_time):
    assert api.post("/api/authenticate/begin", {}).status_code == 200
    frozen_time.move_to(1)
    assert api.post("/api/authenticate/begin", {}).status_code == 200
    frozen_time.move_to(15.5)
    refused = api.post("/api/authenticate/begin", {})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "45"  # 44.5 s, rounded up
    frozen_time.move_to(59.5)
    assert api.post("/api/authenticate/begin", {}).headers["Retry-After"] == "1"
    # The wait was true: at 60 s the window is over.
    frozen_time.move_to(60)
    assert api.post("/api/authenticate/begin", {}).status_code == 200


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "2 per minute;4 per hour"}],
    indirect=True,
)
def test_a_limiter_429_waits_for_every_exhausted_limit(api: Api, frozen_time):
    for offset in (0, 1, 61, 62):
        frozen_time.move_to(offset)
        assert api.post("/api/authenticate/begin", {}).status_code == 200, offset
    # The minute is full and so is the hour: the wait is the hour's, not the minute's.
    frozen_time.move_to(63)
    refused = api.post("/api/authenticate/begin", {})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(3600 - 63)
    frozen_time.move_to(130)
    assert api.post("/api/authenticate/begin", {}).status_code == 429
    frozen_time.move_to(3600)
    assert api.post("/api/authenticate/begin", {}).status_code == 200


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "5 per minute"}],
    indirect=True,
)
def test_the_apps_own_429_keeps_its_retry_after(api: Api, monkeypatch, frozen_time):
    from webauthn import signin

    assert api.post("/api/authenticate/begin", {}).status_code == 200

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise TooManyAttempts(6)

    monkeypatch.setattr(signin, "begin_authentication", throttled)
    frozen_time.move_to(2)
    refused = api.post("/api/authenticate/begin", {})
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_attempts"
    # The limiter's window ends in 58 s; the app knows the true wait.
    assert refused.headers["Retry-After"] == "6"


@pytest.mark.parametrize(
    "config_overrides",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_CEREMONY": "5 per minute"}],
    indirect=True,
)
def test_only_429_and_503_carry_retry_after(api: Api, authenticator):
    assert "Retry-After" not in api.post("/api/authenticate/begin", {}).headers
    signed_up = api.sign_up(authenticator)
    assert signed_up.status_code == 201 and "Retry-After" not in signed_up.headers
    # A refused ceremony (4xx, not 429) has none either.
    bad = api.post("/api/authenticate/complete", {"id": "x"})
    assert bad.status_code // 100 == 4 and bad.status_code != 429
    assert "Retry-After" not in bad.headers
    for path in ("/signin", "/api/me"):
        assert "Retry-After" not in api.get(path).headers
