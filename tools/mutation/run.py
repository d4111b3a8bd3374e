"""``make mutation``: do the tests notice when a security rule is changed?

Each mutant (see ``tools/mutation/mutants.py``) is written into a worker's own temporary copy
of the tree, never into the working files, and the non-browser tests that cover its module run
against it (``-x``, SQLite in the worker's temp dir, a timeout). A failing or timed-out run
kills the mutant; a passing one means no test depends on that rule. Mutants that change no
behaviour are listed with a reason in ``tools/mutation/equivalent.toml`` and left out of the
score.

    python -m tools.mutation.run [-j 2] [--module recovery/otp.py] [--list] [--match TEXT]

Past 400 lines on purpose: one program (the targets, the run, the report); the mutant
generator and the fork server are already modules of their own.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import defaultdict
from pathlib import Path

from tools.mutation.mutants import Mutant, generate

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")

# Files split by package (tests/<package>/test_rules.py, ...): every piece but the browser's.
_PACKAGES = ("core", "webauthn", "recovery", "notify")
_RULES = [f"tests/{package}/test_rules.py" for package in _PACKAGES]
_BOUNDARIES = [f"tests/{package}/test_boundaries.py" for package in _PACKAGES]
_HARDENING = [f"tests/{package}/test_hardening.py" for package in _PACKAGES]

_PASSKEY_TESTS = [
    *_RULES,
    *_HARDENING,
    "tests/webauthn/test_user_panel.py",
    *_BOUNDARIES,
    "tests/webauthn/test_api.py",
    "tests/notify/test_devices_told.py",
    "tests/recovery/test_pairing.py",
    "tests/recovery/test_recovery.py",
    "tests/webauthn/test_attacks.py",
]
_RECOVERY_TESTS = [
    *_RULES,
    *_BOUNDARIES,
    "tests/recovery/test_*throttl*.py",
    "tests/recovery/test_recovery.py",
    "tests/recovery/test_email_address.py",
    "tests/recovery/test_backup_codes.py",
    "tests/recovery/test_page_states.py",
    "tests/notify/test_mail.py",
]

# Module → scope and the test files that may cover it (patterns may match nothing yet). The
# baseline run traces which of their tests reach each line; a mutant runs only those.
TARGETS: dict[str, tuple[str, list[str]]] = {
    "webauthn/ceremony.py": (
        "full",
        [
            "tests/webauthn/test_encoding_rules.py",
            "tests/webauthn/test_ceremony.py",
            *_RULES,
            *_HARDENING,
            "tests/webauthn/test_attacks.py",
        ],
    ),
    "webauthn/challenges.py": (
        "full",
        [
            *_BOUNDARIES,
            "tests/webauthn/test_attacks.py",
            "tests/webauthn/test_api.py",
        ],
    ),
    "recovery/codes.py": (
        "full",
        [
            "tests/recovery/test_domain_rules.py",
            "tests/recovery/test_backup_codes.py",
            *_RULES,
            "tests/recovery/test_recovery.py",
        ],
    ),
    "recovery/otp.py": (
        "full",
        [
            "tests/recovery/test_domain_rules.py",
            *_RULES,
            *_BOUNDARIES,
            "tests/recovery/test_recovery.py",
        ],
    ),
    "recovery/throttle.py": (
        "full",
        [
            "tests/recovery/test_*throttl*.py",
            *_RULES,
            "tests/recovery/test_recovery.py",
        ],
    ),
    "core/sessions.py": (
        "full",
        [
            *_RULES,
            "tests/webauthn/test_user_panel.py",
            *_HARDENING,
            *_BOUNDARIES,
            "tests/webauthn/test_api.py",
            "tests/notify/test_devices_told.py",
            "tests/recovery/test_pairing.py",
            "tests/recovery/test_recovery.py",
        ],
    ),
    "core/policy.py": (
        "full",
        ["tests/core/test_policy.py", "tests/core/test_config.py", "tests/core/test_migrations.py"],
    ),
    # Who may act in the admin API, and what an administrator does to an ID.
    "admin/roles.py": (
        "full",
        ["tests/admin/test_admin_api.py", "tests/admin/test_admin_account.py"],
    ),
    "admin/actions.py": (
        "full",
        [
            "tests/admin/test_admin_account.py",
            "tests/admin/test_admin_api.py",
            "tests/admin/test_seed_promises.py",
        ],
    ),
    # Who may create an ID: invitations and the registration policy.
    "webauthn/invitations.py": (
        "full",
        ["tests/webauthn/test_registration_policy.py", "tests/admin/test_invitations.py"],
    ),
    # What an uploaded logo may be.
    "core/logo.py": (
        "full",
        [
            "tests/core/test_logo_rules.py",
            "tests/core/test_branding.py",
            "tests/admin/test_branding.py",
        ],
    ),
    # Partner websites: the rules of the provider and of what websites hold.
    "embed/authorize.py": ("full", ["tests/embed/test_rules.py", "tests/embed/test_provider.py"]),
    "embed/requests.py": ("full", ["tests/embed/test_rules.py", "tests/embed/test_provider.py"]),
    "embed/clients.py": (
        "full",
        ["tests/embed/test_rules.py", "tests/embed/test_cli.py", "tests/embed/test_provider.py"],
    ),
    "embed/tokens.py": (
        "full",
        [
            "tests/embed/test_provider.py",
            "tests/embed/test_cli.py",
            "tests/embed/test_connections.py",
            "tests/embed/test_frame.py",
        ],
    ),
    # The service modules, refusing branches only: the passkey use cases with the user rules
    # and the freshness check they apply, and the recovery ones with the throttle checks.
    "webauthn/signin.py": ("refusing", _PASSKEY_TESTS),
    "webauthn/assertions.py": ("refusing", _PASSKEY_TESTS),
    "webauthn/devices.py": ("refusing", _PASSKEY_TESTS),
    "webauthn/settings.py": ("refusing", _PASSKEY_TESTS),
    "core/users.py": ("refusing", _PASSKEY_TESTS),
    "recovery/backup.py": ("refusing", _RECOVERY_TESTS),
    "recovery/restore.py": ("refusing", _RECOVERY_TESTS),
    "recovery/email_codes.py": ("refusing", _RECOVERY_TESTS),
    "recovery/throttling.py": ("refusing", _RECOVERY_TESTS),
    "recovery/pairing.py": (
        "refusing",
        [
            "tests/recovery/test_pairing_rules.py",
            "tests/recovery/test_pairing_confirm.py",
            "tests/recovery/test_page_states.py",
            *_RULES,
            *_BOUNDARIES,
            "tests/notify/test_devices_told.py",
            "tests/recovery/test_pairing.py",
        ],
    ),
}

PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header"]
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "instance", "node_modules", "*.db", ".ruff_cache"
)


def test_files(patterns: list[str], root: Path = ROOT) -> list[str]:
    files: list[str] = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            rel = str(path.relative_to(root))
            if rel not in files:
                files.append(rel)
    return files


def load_equivalent() -> dict[str, str]:
    if not EQUIVALENT_FILE.exists():
        return {}
    data = tomllib.loads(EQUIVALENT_FILE.read_text())
    out = {}
    for entry in data.get("equivalent", []):
        key = f"{entry['module']}::{entry['function']}::{entry['original']} → {entry['mutated']}"
        out[key] = entry["reason"]
    return out


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a same-size mutant must never meet a stale .pyc
    env["TMPDIR"] = str(workdir / "tmp")
    return env


class Worker:
    """One temporary copy of the tree, and a fork server that runs pytest in it; mutants are
    written into the copy one at a time."""

    def __init__(self, index: int, base: Path) -> None:
        self.dir = base / f"w{index}"
        self.tree = self.dir / "tree"
        shutil.copytree(ROOT, self.tree, ignore=_IGNORE)
        (self.dir / "tmp").mkdir()
        self.env = _env(self.dir)
        # One SQLite file per worker: migrated by the first run, every later run finds it at
        # the head revision (migrating again per mutant would cost more than most tests),
        # and each test empties the tables first anyway.
        self.env["KEYSTEAD_TEST_DATABASE_URL"] = f"sqlite:///{self.dir / 'test.db'}"
        probe = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _PROBE, str(self.tree)],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not probe[0].startswith(str(self.tree)):
            raise SystemExit(f"the copy does not shadow the installed package: {probe[0]}")
        self.server = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tools.mutation.forkserver", "--preload", *probe[1:]],
            cwd=self.tree,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        _SERVERS.append(self.server)
        assert self.server.stdout is not None
        json.loads(self.server.stdout.readline())  # {"ready": true}

    def pytest(
        self, args: list[str], timeout: float, env: dict[str, str] | None = None
    ) -> tuple[str, float, str]:
        """("passed" | "failed" | "timeout" | "error(n)", seconds, output tail)."""
        out = self.dir / "pytest.out"
        request = {
            "args": [*PYTEST, f"--basetemp={self.dir / 'pytest'}", *args],
            "timeout": timeout,
            "env": env or {},
            "out": str(out),
        }
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        answer = json.loads(self.server.stdout.readline())
        text = out.read_text(errors="replace") if out.exists() else ""
        tail = "\n".join(text.strip().splitlines()[-15:])
        return answer["status"], answer["seconds"], tail

    def trace(self, file: str, modules: list[str]) -> tuple[str, float, str, dict]:
        """Runs one test file unmutated, recording which lines of ``modules`` each test ran."""
        out = self.dir / "trace.json"
        env = {
            "MUTATION_TRACE_FILES": os.pathsep.join(str(self.tree / m) for m in modules),
            "MUTATION_TRACE_OUT": str(out),
        }
        status, seconds, tail = self.pytest(
            ["-p", "tools.mutation.trace_plugin", file], timeout=1800, env=env
        )
        data = json.loads(out.read_text()) if out.exists() else {"tests": []}
        prefix = str(self.tree) + os.sep
        for test in data["tests"]:
            test["lines"] = {f.removeprefix(prefix): v for f, v in test["lines"].items()}
        return status, seconds, tail, data

    def run_mutant(
        self, mutant: Mutant, tests: list[str], timeout: float
    ) -> tuple[str, float, str]:
        target = self.tree / mutant.module
        original = (ROOT / mutant.module).read_text()
        target.write_text(mutant.source)
        try:
            return self.pytest(tests, timeout)
        finally:
            target.write_text(original)


# Prints where ``core`` is imported from, then every loaded module that is not the project's
# own (those the fork server may import once for all runs).
_PROBE = """
import sys
import core.sessions, app, tests.conftest, tools.softauthn, pytest
tree = sys.argv[1]
print(core.sessions.__file__)
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if name != "__main__" and not path.startswith(tree) and "." not in name:
        print(name)
"""

_SERVERS: list[subprocess.Popen] = []
_TEMP: list[Path] = []


def _stop_children() -> None:
    """Each fork server kills the pytest it is running when told to stop."""
    for server in _SERVERS:
        if server.poll() is None:
            server.terminate()
    for server in _SERVERS:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


class Coverage:
    """Which tests run which lines: per module, line → test node ids, and each test's time."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.seconds: dict[str, float] = {}
        self.lines: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.files: dict[str, str] = {}  # node id → test file

    def add(self, file: str, data: dict) -> None:
        for test in data["tests"]:
            nodeid = test["nodeid"]
            self.order.append(nodeid)
            self.files[nodeid] = file
            self.seconds[nodeid] = test["seconds"]
            for module, lines in test["lines"].items():
                for line in lines:
                    self.lines[module][line].add(nodeid)

    def tests_for(self, mutant: Mutant, files: list[str]) -> list[str]:
        """The tests of ``files`` that run the mutated lines (any line of the module for a
        module-level constant), in ``files`` order, the quickest first within a file."""
        by_line = self.lines.get(mutant.module, {})
        if mutant.function == "<module>":
            wanted = set().union(*by_line.values()) if by_line else set()
        else:
            wanted = set()
            for line in range(mutant.line, mutant.end_line + 1):
                wanted |= by_line.get(line, set())
        rank = {f: i for i, f in enumerate(files)}
        chosen = [t for t in self.order if t in wanted and self.files[t] in rank]
        # With -x a killed mutant stops at its first failing test: the files written to pin
        # these rules come first in TARGETS, and within a file the quickest tests first.
        return sorted(chosen, key=lambda t: (rank[self.files[t]], self.seconds[t]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--module", action="append", help="only this module (repeatable)")
    parser.add_argument("--match", help="only mutants whose key contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--include-equivalent", action="store_true", help="run those too")
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument(
        "--tests",
        action="append",
        help="run every mutant against these test files instead of the traced selection "
        "(quick check that a new test kills what it should; no baseline)",
    )
    args = parser.parse_args(argv)

    equivalent = load_equivalent()
    modules = args.module or list(TARGETS)
    mutants: list[Mutant] = []
    for module in modules:
        scope, _patterns = TARGETS[module]
        mutants += generate(module, (ROOT / module).read_text(), scope)
    if args.match:
        mutants = [m for m in mutants if args.match in m.key]
    keys = {m.key for m in mutants}
    stale = [k for k in equivalent if k not in keys and k.split("::")[0] in modules]
    if args.list:
        for m in mutants:
            flag = "  [equivalent]" if m.key in equivalent else ""
            print(f"{m.describe()}{flag}\n    key: {m.key}")
        # Checked here too, so a rename is caught without a full run.
        for key in stale:
            print(f"note: equivalent.toml entry matches no mutant (code changed?): {key}")
        print(f"{len(mutants)} mutants")
        return 0
    to_run = [m for m in mutants if args.include_equivalent or m.key not in equivalent]

    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="keystead-mutation-"))
    _TEMP.append(base)
    atexit.register(_stop_children)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        workers = [Worker(i, base) for i in range(max(1, args.jobs))]
        # Baseline: every test file once, unmutated and traced, spread over the workers. It
        # must pass; it says which tests reach each mutated line, and how long they take.
        all_files = sorted({f for m in modules for f in test_files(TARGETS[m][1])})
        coverage = Coverage()
        failures: list[str] = []
        lock = threading.Lock()
        if args.tests:
            all_files = []

        def baseline(worker: Worker, file: str) -> None:
            status, _seconds, tail, data = worker.trace(file, modules)
            with lock:
                coverage.add(file, data)
                if status != "passed":
                    failures.append(f"{file}: {status}\n{tail}")

        _parallel(workers, sorted(all_files, key=lambda f: -(ROOT / f).stat().st_size), baseline)
        if failures:
            print("baseline failed (the unmutated tests must pass):", *failures, sep="\n")
            return 2
        print(
            f"baseline: {len(coverage.order)} tests in {len(all_files)} files pass "
            f"({time.monotonic() - started:.0f}s)",
            flush=True,
        )

        results: dict[str, tuple[str, float, str]] = {}
        total = len(to_run)
        done = [0]

        def work(worker: Worker, mutant: Mutant) -> None:
            if args.tests:
                tests = test_files(args.tests)
                result = worker.run_mutant(mutant, tests, 900)
            elif not (tests := coverage.tests_for(mutant, test_files(TARGETS[mutant.module][1]))):
                result = ("passed", 0.0, "no test runs this line")
            else:
                budget = sum(coverage.seconds[t] for t in tests)
                result = worker.run_mutant(mutant, tests, args.timeout_factor * budget + 30)
            with lock:
                results[mutant.key] = result
                done[0] += 1
                mark = {"failed": "killed", "timeout": "killed (timeout)", "passed": "SURVIVED"}
                print(
                    f"[{done[0]}/{total}] {mark.get(result[0], result[0]):16} "
                    f"{result[1]:5.1f}s {len(tests):4} tests  {mutant.describe()}",
                    flush=True,
                )
                if result[0].startswith("error"):
                    print(result[2], flush=True)

        # The slowest first, so the two workers finish together.
        _parallel(workers, to_run, work)
    finally:
        _stop_children()
        shutil.rmtree(base, ignore_errors=True)

    return _report(mutants, equivalent, results, stale, time.monotonic() - started)


def _terminate(*_: object) -> None:
    _stop_children()
    for path in _TEMP:
        shutil.rmtree(path, ignore_errors=True)
    os._exit(143)


def _parallel(workers: list[Worker], items: list, fn) -> None:
    jobs: queue.Queue = queue.Queue()
    for item in items:
        jobs.put(item)

    def loop(worker: Worker) -> None:
        while True:
            try:
                item = jobs.get_nowait()
            except queue.Empty:
                return
            fn(worker, item)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _report(mutants, equivalent, results, stale, elapsed) -> int:
    per_module: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    survivors, errors = [], []
    for m in mutants:
        row = per_module[m.module]
        row["total"] += 1
        if m.key in equivalent and m.key not in results:
            row["equivalent"] += 1
            continue
        status = results.get(m.key, ("not run",))[0]
        if m.key in equivalent:
            row["equivalent"] += 1
            if status == "passed":
                continue
            print(f"note: listed as equivalent but killed: {m.key}")
            continue
        if status in ("failed", "timeout"):
            row["killed"] += 1
        elif status == "passed":
            row["survived"] += 1
            survivors.append(m)
        else:
            row["error"] += 1
            errors.append((m, status))

    print("\nSurvivors (no test noticed the change):")
    for m in survivors:
        print(f"  {m.describe()}\n      key: {m.key}")
    for m, status in errors:
        print(f"  {status}: {m.describe()}")
    for key in stale:
        print(f"note: equivalent.toml entry matches no mutant (code changed?): {key}")

    print(f"\n{'module':26} {'mutants':>7} {'equiv':>6} {'killed':>7} {'survived':>8} {'score':>7}")
    totals: dict[str, int] = defaultdict(int)
    for module, row in per_module.items():
        for k, v in row.items():
            totals[k] += v
        print(_row(module, row))
    print(_row("overall", totals))
    print(f"\n{elapsed / 60:.1f} min. Score = killed / (mutants - equivalent).")
    return 0


def _row(name: str, row: dict[str, int]) -> str:
    scored = row["total"] - row["equivalent"]
    score = f"{100 * row['killed'] / scored:.1f}%" if scored else "-"
    survived = row["survived"] + row["error"]
    return (
        f"{name:26} {row['total']:>7} {row['equivalent']:>6} {row['killed']:>7} "
        f"{survived:>8} {score:>7}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
