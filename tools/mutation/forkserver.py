"""A pytest fork server for one worker's copy of the tree.

Starting Python and importing Flask, SQLAlchemy, fido2, cryptography, pytest… costs more than
most mutants' tests. This process imports those third-party modules once (never the project's
own: the names come from ``--preload``, a list of modules that are not under the tree), then
forks one child per request, which imports the project from the (mutated) copy and runs
pytest. Requests and answers are JSON lines on stdin/stdout:

    {"args": [...], "timeout": 60, "env": {...}, "out": "/path/for/output"}
    {"status": "passed" | "failed" | "timeout" | "error(n)", "seconds": 1.2}
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time


def _preload(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001, S112 - a module that cannot load alone is skipped
            continue


def _child(request: dict) -> None:
    os.setsid()
    fd = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.update(request.get("env", {}))
    code = 3
    try:
        import pytest

        code = int(pytest.main(request["args"]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


_current: list[int] = []


def _stop(*_: object) -> None:
    for pid in _current:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(143)


def _run(request: dict) -> dict:
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request)
    _current[:] = [pid]
    deadline = started + float(request["timeout"])
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return {"status": "timeout", "seconds": time.monotonic() - started}
        time.sleep(0.02)
    _current.clear()
    code = os.waitstatus_to_exitcode(status)
    name = {0: "passed", 1: "failed"}.get(code, f"error({code})")
    return {"status": name, "seconds": time.monotonic() - started}


def main() -> None:
    preload = sys.argv[sys.argv.index("--preload") + 1 :] if "--preload" in sys.argv else []
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    _preload(preload)
    sys.path.insert(0, os.getcwd())
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
