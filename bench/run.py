"""``make bench``: Keystead against a bare python-fido2 server, same load, one table.

    .venv/bin/python -m bench.run [--users 16] [--signins 20] [--json PATH] [--only bare]
                                  [--rounds 1] [--timeout 120] [--profile DIR] [--keep]

Prepares a fresh SQLite file per server in a temporary directory (Keystead: ``flask --app app
db upgrade``; bare: ``bare_server.init_db``), starts both under ``gunicorn -w 2`` on free ports of
127.0.0.1 and waits until each answers. Then, one server at a time (never both under load):
a warm-up, a registration phase (every virtual user registers one new ID, all at once) and a
sign-in phase (every virtual user signs in K times, username-first); with ``--rounds N`` this
repeats, alternating which server goes first. The servers are stopped at the end whatever
happens. Exit status: 0; 1 when a server failed to start, produced errors or hit the timeout;
2 when the software authenticator cannot be imported; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import subprocess  # noqa: S404 (py-spy, fixed argument lists)
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.load import (
    Recorder,
    VirtualUser,
    register_work,
    run_phase,
    sign_in_work,
    warm_up_work,
)
from bench.report import SERVERS, Result, Round, summarise, table, write_json
from bench.servers import BUILDERS, Server, StartError, machine_busy_seconds, venv_bin

WARM_UP_USERS = 8
WARM_UP_SIGNINS = 3


def load_authenticator() -> Callable[..., Any]:
    from tools.softauthn import SoftAuthenticator  # the project's software authenticator

    return SoftAuthenticator


class Profiler:
    """py-spy sampling each worker during the sign-in phase (``--profile DIR``), written as
    collapsed stacks (``DIR/<server>-r<round>-worker-<pid>.txt``, read by ``bench.hotspots``
    or drawn by any flame-graph tool). The numbers of a profiled run are not comparable: py-spy
    takes CPU from the same two cores."""

    def __init__(self, directory: Path | None, server: Server, round_no: int):
        self.directory, self.server, self.round_no = directory, server, round_no
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        if self.directory is None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for pid in self.server.worker_pids():
            out = self.directory / f"{self.server.name}-r{self.round_no}-worker-{pid}.txt"
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


def make_users(server: Server, prefix: str, count: int, factory: Callable[..., Any]) -> list[Any]:
    return [
        VirtualUser(server.base_url, server.origin, f"{prefix}-{i}", factory) for i in range(count)
    ]


def measure(
    server: Server, args: argparse.Namespace, factory: Callable[..., Any], round_no: int
) -> Round:
    """One round against one server: warm-up, registration phase, sign-in phase."""
    run_id = secrets.token_hex(3)  # fresh usernames every round

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
    with Profiler(args.profile, server, round_no):
        cpu_sig, busy = server.cpu_seconds(), machine_busy_seconds()
        sig = run_phase(users, sign_in_work(args.signins), rec, args.timeout)
        cpu_sig, busy = server.cpu_seconds() - cpu_sig, machine_busy_seconds() - busy
    for user in users:
        user.close()

    return Round(
        registrations=reg.done,
        registration_seconds=reg.seconds,
        signins=sig.done,
        signin_seconds=sig.seconds,
        latencies=rec.latencies,
        errors=rec.errors,
        warm_up_errors=warm.errors,
        failures=[*warm.failures, *rec.failures],
        timed_out=reg.timed_out or sig.timed_out,
        server_cpu_registration=cpu_reg,
        server_cpu_signin=cpu_sig,
        client_cpu_signin=sig.client_cpu,
        other_cpu_signin=max(0.0, busy - cpu_sig - sig.client_cpu),
    )


def run_all(args: argparse.Namespace, factory: Callable[..., Any]) -> dict[str, Result]:
    """Start the servers, measure them in alternating order, always stop them, drop the files."""
    tmp = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    names = [args.only] if args.only else list(SERVERS)
    servers: dict[str, Server] = {}
    start_errors: dict[str, str] = {}
    rounds: dict[str, list[Round]] = {name: [] for name in names}
    try:
        for name in names:
            server, prepare = BUILDERS[name](tmp)
            servers[name] = server
            try:
                prepare()
                server.start()
            except StartError as exc:
                start_errors[name] = str(exc)
                server.stop()
                continue
            print(
                f"{name}: gunicorn {server.proc.pid if server.proc else '?'} on {server.origin}, "
                f"workers {server.worker_pids()}",
                flush=True,
            )
        running = [name for name in names if name not in start_errors]
        for round_no in range(1, args.rounds + 1):
            order = running if round_no % 2 else running[::-1]
            for name in order:
                rounds[name].append(measure(servers[name], args, factory, round_no))
                print(f"{name}: round {round_no} done", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results = {name: summarise(name, rounds[name]) for name in names}
    for name, error in start_errors.items():
        results[name].start_error = error
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Keystead against a bare python-fido2 server under the same load.",
    )
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users (V)")
    parser.add_argument("--signins", type=int, default=20, help="sign-ins per virtual user (K)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", choices=SERVERS, help="benchmark one server only")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each server N times, alternating"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="hard limit per phase, seconds (default 120)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample each worker with py-spy during the sign-in phase (skews the numbers)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' files and logs")
    args = parser.parse_args(argv)
    if min(args.users, args.signins, args.rounds) < 1 or args.timeout <= 0:
        parser.error("--users, --signins, --rounds and --timeout must be positive")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        factory = load_authenticator()
    except ImportError as exc:
        print(f"bench: cannot import tools.softauthn.SoftAuthenticator: {exc}", file=sys.stderr)
        return 2
    try:
        results = run_all(args, factory)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    warm_up = (min(args.users, WARM_UP_USERS), WARM_UP_SIGNINS)
    print()
    print(table(results, args, warm_up))
    if args.json:
        write_json(args.json, results, args, warm_up)
    return 1 if any(r.failed for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
