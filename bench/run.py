"""``make bench``: Keystead against a bare python-fido2 server, same load, one table.

    .venv/bin/python -m bench.run [--users 16] [--signins 20] [--json PATH] [--only bare]

For each server, in turn (never both under load at once): prepare a fresh SQLite file in a
temporary directory (Keystead: ``flask --app app db upgrade``; bare: ``bare_server.init_db``),
start it under ``gunicorn -w 2`` on a free port of 127.0.0.1, wait for it to answer, warm it up,
then measure a registration phase (every virtual user registers one new ID, all at once) and a
sign-in phase (every virtual user signs in K times, username-first). The server is stopped at the
end whatever happens. Exit status: 0, or 1 when a server failed to start or produced errors.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess  # noqa: S404 (py-spy, fixed argument lists)
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import bare_server
from bench.load import (
    ENDPOINTS,
    Recorder,
    VirtualUser,
    percentile,
    register_work,
    run_phase,
    sign_in_work,
    warm_up_work,
)
from bench.servers import REPO, Server, StartError, free_port, run_step

SERVERS = ("keystead", "bare")
WARM_UP_USERS = 8
WARM_UP_SIGNINS = 3
TARGET = {"users": 16, "signin_ratio": 1.0, "p99_ms": 50.0}


def venv_bin() -> Path:
    local = REPO / ".venv" / "bin"
    return local if (local / "gunicorn").exists() else Path(sys.executable).parent


def base_env() -> dict[str, str]:
    # A KEYSTEAD_* or BENCH_* variable from the caller's shell must not change the servers.
    return {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "BENCH_BARE_"))}


def keystead_server(tmp: Path) -> tuple[Server, Callable[[], None]]:
    port = free_port()
    env = base_env() | {
        "KEYSTEAD_ENV": "production",
        # A prefix keeps the value a string: KEYSTEAD_* values are parsed as JSON where they can.
        "KEYSTEAD_SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
        "KEYSTEAD_RP_ID": "localhost",
        "KEYSTEAD_ORIGIN": f"http://localhost:{port}",
        "KEYSTEAD_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'keystead.db'}",
        "KEYSTEAD_RATELIMIT_ENABLED": "false",
    }
    log = tmp / "keystead.log"
    server = Server(
        name="keystead",
        argv=[
            str(venv_bin() / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "app:create_app()",
        ],
        env=env,
        port=port,
        ready_path="/api/openapi.json",
        log=log,
    )

    def prepare() -> None:
        run_step([str(venv_bin() / "flask"), "--app", "app", "db", "upgrade"], env, log)

    return server, prepare


def bare(tmp: Path) -> tuple[Server, Callable[[], None]]:
    port = free_port()
    db_path = tmp / "bare.db"
    env = base_env() | {
        "BENCH_BARE_DATABASE": str(db_path),
        "BENCH_BARE_SECRET": secrets.token_urlsafe(32),
        "BENCH_BARE_RP_ID": "localhost",
    }
    server = Server(
        name="bare",
        argv=[
            str(venv_bin() / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "bench.bare_server:create_app()",
        ],
        env=env,
        port=port,
        ready_path="/healthz",
        log=tmp / "bare.log",
    )
    return server, lambda: bare_server.init_db(str(db_path))


BUILDERS = {"keystead": keystead_server, "bare": bare}


@dataclass
class Result:
    server: str
    users: int
    signins_per_user: int
    registrations: int = 0
    registration_seconds: float = 0.0
    signins: int = 0
    signin_seconds: float = 0.0
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    warm_up_errors: int = 0
    timed_out: bool = False
    server_cpu_ms_per_signin: float | None = None
    server_cpu_ms_per_registration: float | None = None
    client_cpu_ms_per_signin: float | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    start_error: str | None = None

    @property
    def registrations_per_s(self) -> float:
        return self.registrations / self.registration_seconds if self.registration_seconds else 0.0

    @property
    def signins_per_s(self) -> float:
        return self.signins / self.signin_seconds if self.signin_seconds else 0.0

    @property
    def total_errors(self) -> int:
        return self.errors + self.warm_up_errors

    @property
    def max_p99(self) -> tuple[float, str]:
        worst = (0.0, "-")
        for endpoint, pcts in self.latency_ms.items():
            if pcts.get("p99") is not None and pcts["p99"] > worst[0]:
                worst = (pcts["p99"], endpoint)
        return worst


def load_authenticator() -> Callable[..., Any]:
    from tests.softauthn import SoftAuthenticator  # the project's software authenticator

    return SoftAuthenticator


def make_users(server: Server, prefix: str, count: int, factory: Callable[..., Any]) -> list[Any]:
    return [
        VirtualUser(server.base_url, server.origin, f"{prefix}-{i}", factory) for i in range(count)
    ]


class Profiler:
    """py-spy sampling each worker during the sign-in phase (``--profile DIR``), written as
    collapsed stacks (``DIR/<server>-worker-<pid>.txt``, read by ``bench.hotspots``, or drawn by
    any flame-graph tool). The numbers of a profiled run are not comparable: py-spy takes CPU
    from the same two cores."""

    def __init__(self, directory: Path | None, server: Server):
        self.directory, self.server, self.procs = directory, server, []

    def __enter__(self) -> Profiler:
        if self.directory is None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for pid in self.server.worker_pids():
            out = self.directory / f"{self.server.name}-worker-{pid}.txt"
            argv = [str(venv_bin() / "py-spy"), "record", "--pid", str(pid), "--rate", "200"]
            argv += ["--format", "raw", "--nonblocking", "--output", str(out)]
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    argv,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        time.sleep(1.0)  # let py-spy attach before the load starts
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def bench(server: Server, args: argparse.Namespace, factory: Callable[..., Any]) -> Result:
    run_id = secrets.token_hex(3)
    result = Result(server.name, args.users, args.signins)

    warm = Recorder()
    warm_users = make_users(server, f"bench-w{run_id}", min(args.users, WARM_UP_USERS), factory)
    run_phase(warm_users, warm_up_work(WARM_UP_SIGNINS), warm, args.timeout)
    for user in warm_users:
        user.close()

    rec = Recorder()
    users = make_users(server, f"bench-{run_id}", args.users, factory)
    cpu_reg = server.cpu_seconds()
    reg = run_phase(users, register_work, rec, args.timeout)
    cpu_reg = server.cpu_seconds() - cpu_reg
    with Profiler(args.profile, server):
        cpu_sig = server.cpu_seconds()
        sig = run_phase(users, sign_in_work(args.signins), rec, args.timeout)
        cpu_sig = server.cpu_seconds() - cpu_sig
    for user in users:
        user.close()

    result.registrations, result.registration_seconds = reg.done, reg.seconds
    result.signins, result.signin_seconds = sig.done, sig.seconds
    result.timed_out = reg.timed_out or sig.timed_out
    if reg.done:
        result.server_cpu_ms_per_registration = cpu_reg * 1000 / reg.done
    if sig.done:
        result.server_cpu_ms_per_signin = cpu_sig * 1000 / sig.done
        result.client_cpu_ms_per_signin = sig.client_cpu * 1000 / sig.done
    for endpoint in ENDPOINTS:
        values = rec.latencies[endpoint]
        result.requests[endpoint] = len(values)
        result.latency_ms[endpoint] = {f"p{p}": percentile(values, p) for p in (50, 95, 99)}
    result.errors, result.warm_up_errors = rec.errors, warm.errors
    result.failures = [asdict(f) for f in [*warm.failures, *rec.failures]]
    return result


# --- report ------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(results: dict[str, Result], args: argparse.Namespace) -> list[str]:
    names = [n for n in SERVERS if n in results]
    both = all(n in results and results[n].start_error is None for n in SERVERS)
    cols = [*names, "keystead/bare"] if both else names
    width = 20
    lines = [
        f"Load: {args.users} virtual users (threads in one process, own cookie jar and "
        f"authenticator each); each registers a new ID, then signs in {args.signins} times "
        "(username-first).",
        "Servers: gunicorn -w 2 (sync workers) on 127.0.0.1, SQLite (WAL), rate limits off; "
        "measured one after the other.",
        f"Warm-up before measuring (not counted): {min(args.users, WARM_UP_USERS)} other users, "
        f"each registers and signs in {WARM_UP_SIGNINS} times.",
        "",
        f"{'':38}" + "".join(f"{c:>{width}}" for c in cols),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:38}" + "".join(f"{v:>{width}}" for v in values))

    def metric(label: str, get: Callable[[Result], float | None], with_ratio: bool) -> None:
        values = [get(results[n]) for n in names]
        shown = [fmt(v) for v in values]
        if both:
            r = ratio(get(results["keystead"]), get(results["bare"])) if with_ratio else None
            shown.append("" if not with_ratio else f"{fmt(r, 2)}x")
        row(label, shown)

    ok = {n: results[n] for n in names if results[n].start_error is None}
    row("status", ["FAILED TO START" if results[n].start_error else "ran" for n in names])
    if ok:
        metric("registrations/s", lambda r: None if r.start_error else r.registrations_per_s, True)
        metric("sign-ins/s", lambda r: None if r.start_error else r.signins_per_s, True)
        for endpoint in ENDPOINTS:
            shown = []
            for n in names:
                pcts = results[n].latency_ms.get(endpoint, {})
                shown.append(" / ".join(fmt(pcts.get(p)) for p in ("p50", "p95", "p99")))
            if both:
                shown.append("")
            row(f"{endpoint} p50/p95/p99 ms", shown)
        row(
            "errors",
            [str(results[n].total_errors) if results[n].start_error is None else "-" for n in names]
            + ([""] if both else []),
        )
        metric("server CPU ms / sign-in", lambda r: r.server_cpu_ms_per_signin, True)
        metric("server CPU ms / registration", lambda r: r.server_cpu_ms_per_registration, True)
        metric("load generator CPU ms / sign-in", lambda r: r.client_cpu_ms_per_signin, False)
        row(
            "measured: registrations, sign-ins",
            [f"{results[n].registrations}, {results[n].signins}" for n in names]
            + ([""] if both else []),
        )
    for n in names:
        r = results[n]
        if r.timed_out:
            lines.append(f"{n}: WARNING: a phase hit the --timeout of {args.timeout:.0f} s")
    lines.append("")
    lines.append(target_line(results, args))
    for n in names:
        r = results[n]
        if r.start_error:
            lines += ["", f"{n} failed to start:", r.start_error]
        if r.failures:
            lines += ["", f"{n}: first errors ({r.total_errors} in all):"]
            for f in r.failures[:8]:
                status = f["status"] if f["status"] is not None else "exception"
                lines.append(f"  {f['endpoint']}: {status}: {f['detail'][:300]}")
    return lines


def target_line(results: dict[str, Result], args: argparse.Namespace) -> str:
    k, b = results.get("keystead"), results.get("bare")
    if k is None or k.start_error or b is None or b.start_error:
        return "Target: not evaluated (needs both servers)."
    r = ratio(k.signins_per_s, b.signins_per_s) or 0.0
    p99, where = k.max_p99
    checks = [
        f"sign-ins/s >= {TARGET['signin_ratio']:.1f}x bare: {'yes' if r >= 1.0 else 'NO'} "
        f"({r:.2f}x)",
        f"zero errors: {'yes' if k.total_errors == 0 else 'NO'} ({k.total_errors})",
        f"p99 < {TARGET['p99_ms']:.0f} ms on every endpoint: "
        f"{'yes' if p99 < TARGET['p99_ms'] else 'NO'} (worst {p99:.1f} ms, {where})",
    ]
    met = r >= 1.0 and k.total_errors == 0 and p99 < TARGET["p99_ms"]
    scope = (
        f"at {args.users} users"
        if args.users == TARGET["users"]
        else f"target is set at {TARGET['users']} users, this run has {args.users}"
    )
    return f"Target ({scope}): {'MET' if met else 'NOT MET'}: " + "; ".join(checks)


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users (V)")
    parser.add_argument("--signins", type=int, default=20, help="sign-ins per virtual user (K)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", choices=SERVERS, help="benchmark one server only")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="hard limit per phase, seconds (default 120)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample each worker with py-spy during the sign-in phase (skews the numbers)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.users < 1 or args.signins < 1 or args.timeout <= 0:
        parser.error("--users, --signins and --timeout must be positive")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        factory = load_authenticator()
    except ImportError as exc:
        print(f"bench: cannot import tests.softauthn.SoftAuthenticator: {exc}", file=sys.stderr)
        return 2
    try:
        results = run_all(args, factory)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    print()
    print("\n".join(report(results, args)))
    if args.json:
        write_json(args.json, results, args)
    failed = any(r.start_error or r.total_errors or r.timed_out for r in results.values())
    return 1 if failed else 0


def run_all(args: argparse.Namespace, factory: Callable[..., Any]) -> dict[str, Result]:
    """Each server in turn: prepare, start, measure, and always stop; then drop the files."""
    tmp = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    results: dict[str, Result] = {}
    try:
        for name in [args.only] if args.only else SERVERS:
            server, prepare = BUILDERS[name](tmp)
            try:
                prepare()
                server.start()
                print(
                    f"{name}: gunicorn pid {server.proc.pid} on {server.origin}, "
                    f"workers {server.worker_pids()}",
                    flush=True,
                )
                results[name] = bench(server, args, factory)
            except StartError as exc:
                results[name] = Result(name, args.users, args.signins, start_error=str(exc))
            finally:
                server.stop()
    finally:
        if args.keep:
            print(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def write_json(path: Path, results: dict[str, Result], args: argparse.Namespace) -> None:
    data: dict[str, Any] = {
        "users": args.users,
        "signins_per_user": args.signins,
        "warm_up": {"users": min(args.users, WARM_UP_USERS), "signins": WARM_UP_SIGNINS},
        "servers": {
            name: asdict(r)
            | {
                "registrations_per_s": r.registrations_per_s,
                "signins_per_s": r.signins_per_s,
            }
            for name, r in results.items()
        },
    }
    k, b = results.get("keystead"), results.get("bare")
    if k and b and not (k.start_error or b.start_error):
        data["ratio_keystead_over_bare"] = {
            "signins_per_s": ratio(k.signins_per_s, b.signins_per_s),
            "registrations_per_s": ratio(k.registrations_per_s, b.registrations_per_s),
        }
        data["target"] = target_line(results, args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
