"""Start a server under gunicorn, wait for it, read its CPU time, and always stop it.

Each server runs in its own process group (``start_new_session``), so ``stop()`` reaches the
gunicorn master and its workers even if the master is wedged: SIGTERM to the group, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # noqa: S404 (fixed argument lists, no shell)
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(
                    f"{self.name}: gunicorn exited {self.proc.returncode}\n{log_tail(self.log)}"
                )
            try:
                if requests.get(url, timeout=2, headers={"Host": f"localhost:{self.port}"}).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise StartError(f"{self.name}: no 200 from {url} in {timeout:.0f} s\n{log_tail(self.log)}")

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
