"""Results: what one round measured, the summary per server, the printed table and the JSON.

A ``Round`` is one server measured once (registration phase, then sign-in phase). A ``Result``
sums a server's rounds: throughputs are the median over rounds, latency percentiles are taken
over the pooled samples, CPU per ceremony is total CPU over total ceremonies.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load import ENDPOINTS, Failure, percentile

SERVERS = ("keystead", "bare")
TARGET_USERS = 16
TARGET_SIGNIN_RATIO = 1.0
TARGET_P99_MS = 50.0
BUSY_MACHINE_CORES = 0.25  # other processes' CPU above which the numbers are flagged


@dataclass
class Round:
    registrations: int
    registration_seconds: float
    signins: int
    signin_seconds: float
    latencies: dict[str, list[float]]
    errors: int
    warm_up_errors: int
    failures: list[Failure]
    timed_out: bool
    server_cpu_registration: float  # seconds, gunicorn master + workers
    server_cpu_signin: float
    client_cpu_signin: float  # seconds, this process (the load generator)
    other_cpu_signin: float  # seconds of the machine's CPU used by anything else


@dataclass
class Result:
    server: str
    rounds: int = 0
    registrations_per_s: float | None = None
    signins_per_s: float | None = None
    per_round: list[dict[str, float]] = field(default_factory=list)
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    registrations: int = 0
    signins: int = 0
    errors: int = 0
    warm_up_errors: int = 0
    timed_out: bool = False
    server_cpu_ms_per_signin: float | None = None
    server_cpu_ms_per_registration: float | None = None
    client_cpu_ms_per_signin: float | None = None
    other_cores_during_signins: float | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    start_error: str | None = None

    @property
    def total_errors(self) -> int:
        return self.errors + self.warm_up_errors

    @property
    def failed(self) -> bool:
        return bool(self.start_error or self.total_errors or self.timed_out)

    def worst_p99(self) -> tuple[float, str]:
        worst = (0.0, "-")
        for endpoint, pcts in self.latency_ms.items():
            p99 = pcts.get("p99")
            if p99 is not None and p99 > worst[0]:
                worst = (p99, endpoint)
        return worst


def summarise(server: str, rounds: list[Round]) -> Result:
    result = Result(server, rounds=len(rounds))
    if not rounds:
        return result
    result.per_round = [
        {
            "registrations_per_s": r.registrations / r.registration_seconds,
            "signins_per_s": r.signins / r.signin_seconds,
        }
        for r in rounds
    ]
    result.registrations_per_s = statistics.median(
        p["registrations_per_s"] for p in result.per_round
    )
    result.signins_per_s = statistics.median(p["signins_per_s"] for p in result.per_round)
    for endpoint in ENDPOINTS:
        pooled = [ms for r in rounds for ms in r.latencies[endpoint]]
        result.requests[endpoint] = len(pooled)
        result.latency_ms[endpoint] = {f"p{p}": percentile(pooled, p) for p in (50, 95, 99)}
    result.registrations = sum(r.registrations for r in rounds)
    result.signins = sum(r.signins for r in rounds)
    result.errors = sum(r.errors for r in rounds)
    result.warm_up_errors = sum(r.warm_up_errors for r in rounds)
    result.timed_out = any(r.timed_out for r in rounds)
    if result.registrations:
        cpu = sum(r.server_cpu_registration for r in rounds)
        result.server_cpu_ms_per_registration = cpu * 1000 / result.registrations
    if result.signins:
        cpu = sum(r.server_cpu_signin for r in rounds)
        result.server_cpu_ms_per_signin = cpu * 1000 / result.signins
        cpu = sum(r.client_cpu_signin for r in rounds)
        result.client_cpu_ms_per_signin = cpu * 1000 / result.signins
        seconds = sum(r.signin_seconds for r in rounds)
        result.other_cores_during_signins = sum(r.other_cpu_signin for r in rounds) / seconds
    result.failures = [asdict(f) for r in rounds for f in r.failures][:20]
    return result


# --- the table ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def table(results: dict[str, Result], args: argparse.Namespace, warm_up: tuple[int, int]) -> str:
    names = [n for n in SERVERS if n in results]
    both = all(n in results and results[n].start_error is None for n in SERVERS)
    label_width, width = 38, 22
    rounds = f"{args.rounds} rounds (servers alternate; medians)" if args.rounds > 1 else "1 round"
    lines = [
        f"Load: {args.users} virtual users (threads in one process, own cookie jar and "
        f"authenticator each); each registers a new ID, then signs in {args.signins} times "
        f"(username-first); {rounds}.",
        "Servers: gunicorn -w 2 (sync workers) on 127.0.0.1, SQLite (WAL), rate limits off; "
        "measured one at a time.",
        f"Warm-up before measuring (not counted): {warm_up[0]} other users per round, each "
        f"registers and signs in {warm_up[1]} times.",
        "",
        " " * label_width + "".join(f"{c:>{width}}" for c in [*names, *(["keystead/bare"] * both)]),
    ]

    def row(label: str, values: list[str], extra: str = "") -> None:
        cells = values + ([extra] if both else [])
        lines.append(f"{label:{label_width}}" + "".join(f"{v:>{width}}" for v in cells))

    def metric(label: str, key: str, with_ratio: bool = True, digits: int = 1) -> None:
        values = [getattr(results[n], key) for n in names]
        shown = (
            ratio(getattr(results["keystead"], key), getattr(results["bare"], key))
            if (both and with_ratio)
            else None
        )
        row(label, [fmt(v, digits) for v in values], f"{fmt(shown, 2)}x" if shown else "")

    row("status", ["FAILED TO START" if results[n].start_error else "ran" for n in names])
    metric("registrations/s", "registrations_per_s")
    metric("sign-ins/s", "signins_per_s")
    for endpoint in ENDPOINTS:
        cells = []
        for n in names:
            pcts = results[n].latency_ms.get(endpoint, {})
            cells.append(" / ".join(fmt(pcts.get(p)) for p in ("p50", "p95", "p99")))
        row(f"{endpoint} p50/p95/p99 ms", cells)
    row("errors", [str(results[n].total_errors) if results[n].rounds else "-" for n in names])
    metric("server CPU ms / sign-in", "server_cpu_ms_per_signin")
    metric("server CPU ms / registration", "server_cpu_ms_per_registration")
    metric("load generator CPU ms / sign-in", "client_cpu_ms_per_signin", with_ratio=False)
    metric("other processes, cores (sign-ins)", "other_cores_during_signins", False, 2)
    row(
        "measured registrations, sign-ins",
        [f"{results[n].registrations}, {results[n].signins}" for n in names],
    )
    notes = []
    for n in names:
        r = results[n]
        if r.timed_out:
            notes.append(f"{n}: WARNING: a phase hit the --timeout of {args.timeout:.0f} s")
        if (r.other_cores_during_signins or 0) > BUSY_MACHINE_CORES:
            notes.append(
                f"{n}: WARNING: other processes used {r.other_cores_during_signins:.2f} cores "
                "while it was measured; its numbers are not clean"
            )
    lines += ["", *notes, target_line(results, args)]
    for n in names:
        r = results[n]
        if r.start_error:
            lines += ["", f"{n} failed to start:", r.start_error]
        if r.failures:
            lines += ["", f"{n}: first errors ({r.total_errors} in all):"]
            for f in r.failures[:8]:
                status = f["status"] if f["status"] is not None else "exception"
                lines.append(f"  {f['endpoint']}: {status}: {f['detail'][:300]}")
                if f["request"]:
                    lines.append(f"    request: {f['request'][:300]}")
    return "\n".join(lines)


def target_line(results: dict[str, Result], args: argparse.Namespace) -> str:
    k, b = results.get("keystead"), results.get("bare")
    if k is None or b is None or not k.rounds or not b.rounds:
        return "Target: not evaluated (needs both servers)."
    r = ratio(k.signins_per_s, b.signins_per_s) or 0.0
    p99, where = k.worst_p99()
    met = r >= TARGET_SIGNIN_RATIO and k.total_errors == 0 and p99 < TARGET_P99_MS
    checks = [
        f"sign-ins/s >= {TARGET_SIGNIN_RATIO:.1f}x bare: "
        f"{'yes' if r >= TARGET_SIGNIN_RATIO else 'NO'} ({r:.2f}x)",
        f"zero errors: {'yes' if k.total_errors == 0 else 'NO'} ({k.total_errors})",
        f"p99 < {TARGET_P99_MS:.0f} ms on every endpoint: "
        f"{'yes' if p99 < TARGET_P99_MS else 'NO'} (worst {p99:.1f} ms, {where})",
    ]
    scope = (
        f"at {args.users} users"
        if args.users == TARGET_USERS
        else f"set for {TARGET_USERS} users, this run has {args.users}"
    )
    return f"Target for Keystead ({scope}): {'MET' if met else 'NOT MET'}: " + "; ".join(checks)


def write_json(
    path: Path, results: dict[str, Result], args: argparse.Namespace, warm_up: tuple[int, int]
) -> None:
    data: dict[str, Any] = {
        "users": args.users,
        "signins_per_user": args.signins,
        "rounds": args.rounds,
        "warm_up": {"users": warm_up[0], "signins_per_user": warm_up[1]},
        "servers": {name: asdict(r) for name, r in results.items()},
        "target": target_line(results, args),
    }
    k, b = results.get("keystead"), results.get("bare")
    if k and b:
        data["ratio_keystead_over_bare"] = {
            "signins_per_s": ratio(k.signins_per_s, b.signins_per_s),
            "registrations_per_s": ratio(k.registrations_per_s, b.registrations_per_s),
            "server_cpu_ms_per_signin": ratio(
                k.server_cpu_ms_per_signin, b.server_cpu_ms_per_signin
            ),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
