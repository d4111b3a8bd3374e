"""The bounded load: V virtual users, each registering a new ID then signing in K times.

Virtual users are threads in this one process, each with its own cookie jar
(``requests.Session``) and its own software authenticator. Why threads and not processes, on
a 2-core machine: the servers under test get two gunicorn workers, and every CPU cycle the
load generator burns is taken from them. Threads share one interpreter lock, so however many
virtual users there are the generator can never use more than one core, the same for both
servers, and it spends nearly all its time blocked in socket reads (which release the lock).
Sixteen processes would instead each build requests and sign assertions in parallel, competing
with the two workers for two cores and measuring the scheduler more than the servers. The
generator's own CPU per sign-in is measured and printed, so it is visible when the client is
what limits the numbers (it matters beyond its CPU: gunicorn's sync workers answer with
``Connection: close`` and then wait in ``close_graceful`` until the client has closed its end,
so a client thread slow to run holds a worker too). Latencies are taken on the client around
each HTTP request (the authenticator's signing is outside them), so they include queueing in
gunicorn's backlog.

Everything is bounded: a fixed number of requests, a per-request timeout, and a deadline per
phase after which virtual users stop starting new ceremonies.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

ENDPOINTS = (
    "register/begin",
    "register/complete",
    "authenticate/begin",
    "authenticate/complete",
)
REQUEST_TIMEOUT = 10.0  # seconds; a slower answer counts as an error
MAX_FAILURES_KEPT = 20


@dataclass
class Failure:
    endpoint: str
    status: int | None  # None: no HTTP answer (exception)
    detail: str
    request: str = ""


@dataclass
class Recorder:
    """Latencies (ms) per endpoint, request and error counts; shared by the threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    errors: int = 0
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ok(self, endpoint: str, ms: float) -> None:
        self.latencies[endpoint].append(ms)  # list.append is atomic

    def error(self, failure: Failure) -> None:
        with self.lock:
            self.errors += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append(failure)


class VirtualUser:
    """One browser: a cookie jar, an authenticator, a username; ceremonies through the API."""

    def __init__(
        self, base_url: str, origin: str, username: str, authenticator_factory: Callable[..., Any]
    ):
        self.base_url = base_url
        self.username = username
        self.http = requests.Session()
        # No proxies or .netrc from the environment: traffic stays on 127.0.0.1, and requests
        # skips scanning os.environ on every call (a sizeable part of the client's CPU).
        self.http.trust_env = False
        # Keep-alive is left to the server (gunicorn's sync workers close after each answer).
        host = origin.split("://", 1)[1]
        self.headers = {"Origin": origin, "Content-Type": "application/json", "Host": host}
        self.authn = authenticator_factory(origin=origin)
        self.registered = False

    def post(
        self, endpoint: str, payload: dict[str, Any], expect: int, rec: Recorder, deadline: float
    ) -> dict[str, Any] | None:
        body = json.dumps(payload)
        timeout = max(0.1, min(REQUEST_TIMEOUT, deadline - time.monotonic()))
        start = time.perf_counter()
        try:
            resp = self.http.post(
                f"{self.base_url}/api/{endpoint}", data=body, headers=self.headers, timeout=timeout
            )
            data = resp.json() if resp.content else {}
        except (requests.RequestException, ValueError) as exc:
            rec.error(Failure(endpoint, None, f"{type(exc).__name__}: {exc}", body[:300]))
            return None
        elapsed = (time.perf_counter() - start) * 1000
        if resp.status_code != expect:
            rec.error(Failure(endpoint, resp.status_code, resp.text[:500], body[:300]))
            return None
        rec.ok(endpoint, elapsed)
        return data

    def authenticator(self, rec: Recorder, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 (any authenticator failure is one error)
            rec.error(Failure(f"authenticator.{what}", None, f"{type(exc).__name__}: {exc}"))
            return None

    def register(self, rec: Recorder, deadline: float) -> bool:
        options = self.post(
            "register/begin",
            {
                "username": self.username,
                "email": f"{self.username}@example.com",
                "display_name": f"Bench {self.username}",
            },
            200,
            rec,
            deadline,
        )
        if options is None:
            return False
        response = self.authenticator(rec, "create", lambda: self.authn.create(options))
        if response is None:
            return False
        if self.post("register/complete", response, 201, rec, deadline) is None:
            return False
        self.registered = True
        return True

    def sign_in(self, rec: Recorder, deadline: float) -> bool:
        options = self.post("authenticate/begin", {"username": self.username}, 200, rec, deadline)
        if options is None:
            return False
        response = self.authenticator(rec, "get", lambda: self.authn.get(options))
        if response is None:
            return False
        return self.post("authenticate/complete", response, 200, rec, deadline) is not None

    def close(self) -> None:
        self.http.close()


@dataclass
class PhaseResult:
    seconds: float  # wall time from the common start to the last virtual user's end
    done: int  # ceremonies that succeeded
    attempted: int
    timed_out: bool
    client_cpu: float  # seconds of CPU this process used during the phase


def run_phase(
    users: list[VirtualUser],
    work: Callable[[VirtualUser, Recorder, float], tuple[int, int]],
    rec: Recorder,
    time_limit: float,
) -> PhaseResult:
    """Run ``work(user, rec, deadline) -> (done, attempted)`` in one thread per user, all
    released together, and wait for all of them (or the deadline)."""
    barrier = threading.Barrier(len(users) + 1)
    results: list[tuple[int, int]] = [(0, 0)] * len(users)
    ends: list[float] = [0.0] * len(users)
    deadline = 0.0

    def body(index: int, user: VirtualUser) -> None:
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            return
        try:
            results[index] = work(user, rec, deadline)
        except Exception as exc:  # noqa: BLE001 (a crash in a virtual user is an error too)
            rec.error(Failure("virtual-user", None, f"{type(exc).__name__}: {exc}"))
        ends[index] = time.perf_counter()

    threads = [
        threading.Thread(target=body, args=(i, u), name=f"vu-{i}", daemon=True)
        for i, u in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + time_limit  # set before the barrier releases the threads
    cpu_before = _process_cpu()
    barrier.wait(timeout=30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT + 5)
    timed_out = any(t.is_alive() for t in threads) or time.monotonic() > deadline
    end = max([e for e in ends if e] or [time.perf_counter()])
    return PhaseResult(
        seconds=max(end - start, 1e-9),
        done=sum(r[0] for r in results),
        attempted=sum(r[1] for r in results),
        timed_out=timed_out,
        client_cpu=_process_cpu() - cpu_before,
    )


def register_work(user: VirtualUser, rec: Recorder, deadline: float) -> tuple[int, int]:
    if time.monotonic() >= deadline:
        return 0, 0
    return int(user.register(rec, deadline)), 1


def sign_in_work(times: int) -> Callable[[VirtualUser, Recorder, float], tuple[int, int]]:
    def work(user: VirtualUser, rec: Recorder, deadline: float) -> tuple[int, int]:
        if not user.registered:
            return 0, 0
        done = attempted = 0
        for _ in range(times):
            if time.monotonic() >= deadline:
                break
            attempted += 1
            done += user.sign_in(rec, deadline)
        return done, attempted

    return work


def warm_up_work(times: int) -> Callable[[VirtualUser, Recorder, float], tuple[int, int]]:
    sign_ins = sign_in_work(times)

    def work(user: VirtualUser, rec: Recorder, deadline: float) -> tuple[int, int]:
        done, attempted = register_work(user, rec, deadline)
        more = sign_ins(user, rec, deadline)
        return done + more[0], attempted + more[1]

    return work


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def percentile(values: list[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None without data."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
