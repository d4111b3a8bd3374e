"""The two servers under test, and how each is started under gunicorn, watched and stopped.

``keystead()`` and ``bare()`` build a ``Server`` (argv, environment, port, readiness URL) and its
preparation step (the schema in a fresh SQLite file). ``Server.start`` waits until it answers,
``cpu_seconds`` reads the CPU time of its processes, ``stop`` always ends them: each server runs
in its own process group (``start_new_session``), so ``stop()`` reaches the gunicorn master and
its workers even if the master is wedged (SIGTERM to the group, SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess  # noqa: S404 (fixed argument lists, no shell)
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench import bare_server

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def venv_bin() -> Path:
    local = REPO / ".venv" / "bin"
    return local if (local / "gunicorn").exists() else Path(sys.executable).parent


class StartError(RuntimeError):
    """A server (or its preparation step) did not come up; the message carries its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_step(argv: list[str], env: dict[str, str], log: Path, timeout: float = 120) -> None:
    """Run a preparation command (e.g. the migrations) to completion or raise StartError."""
    with log.open("ab") as out:
        try:
            proc = subprocess.run(  # noqa: S603
                argv,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StartError(f"{' '.join(argv)} timed out\n{log_tail(log)}") from exc
    if proc.returncode != 0:
        raise StartError(f"{' '.join(argv)} exited {proc.returncode}\n{log_tail(log)}")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == pid:  # field 4: ppid
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return kids


@dataclass
class Server:
    """One gunicorn server: ``name``, the argv, its environment, the port and a readiness URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        # Connect to 127.0.0.1 (gunicorn binds only that): "localhost" could resolve to ::1
        # first and pay a refused connection per request. The Host and Origin headers still say
        # http://localhost:PORT, as a browser would.
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 30) -> None:
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(  # noqa: S603
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        url = self.base_url + self.ready_path
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(
                    f"{self.name}: gunicorn exited {self.proc.returncode}\n{log_tail(self.log)}"
                )
            try:
                resp = requests.get(url, timeout=2, headers={"Host": f"localhost:{self.port}"})
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.1)
        raise StartError(
            f"{self.name}: no 200 from {url} in {timeout:.0f} s (last: {last})\n"
            f"{log_tail(self.log)}"
        )

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def cpu_seconds(self) -> float:
        """User + system CPU of the gunicorn master and its live workers (plus any reaped
        ones, through the master's cutime/cstime)."""
        if self.proc is None:
            return 0.0
        ticks = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                fields = _stat_fields(pid)
            except OSError:
                continue
            # After the split: fields[11..14] are utime, stime, cutime, cstime (stat 14..17).
            ticks += sum(int(v) for v in fields[11:15])
        return ticks / CLOCK_TICKS

    def stop(self, grace: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None and not _group_alive(self.proc.pid):
            return
        pgid = self.proc.pid  # start_new_session: the master leads its own group
        _signal_group(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used (every core), from /proc/stat: what is
    not the server or the load generator is other work that the numbers shared the cores with."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


# --- the servers under test ------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    # A KEYSTEAD_* or BENCH_* variable from the caller's shell must not change the servers.
    return {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "BENCH_BARE_"))}


def _gunicorn(port: int, app: str) -> list[str]:
    return [str(venv_bin() / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", app]


def keystead(tmp: Path) -> tuple[Server, Callable[[], None]]:
    """Keystead as production runs it: production settings, a fresh SQLite file, rate limits off
    (every virtual user comes from 127.0.0.1); the schema made by its own migrations."""
    port = free_port()
    env = _base_env() | {
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
        "keystead", _gunicorn(port, "app:create_app()"), env, port, "/api/openapi.json", log
    )

    def prepare() -> None:
        run_step([str(venv_bin() / "flask"), "--app", "app", "db", "upgrade"], env, log)

    return server, prepare


def bare(tmp: Path) -> tuple[Server, Callable[[], None]]:
    """The baseline of ``bench/bare_server.py``, with its own SQLite file and cookie key."""
    port = free_port()
    db_path = tmp / "bare.db"
    env = _base_env() | {
        "BENCH_BARE_DATABASE": str(db_path),
        "BENCH_BARE_SECRET": secrets.token_urlsafe(32),
        "BENCH_BARE_RP_ID": "localhost",
    }
    argv = _gunicorn(port, "bench.bare_server:create_app()")
    server = Server("bare", argv, env, port, "/healthz", tmp / "bare.log")
    return server, lambda: bare_server.init_db(str(db_path))


BUILDERS: dict[str, Callable[[Path], tuple[Server, Callable[[], None]]]] = {
    "keystead": keystead,
    "bare": bare,
}
