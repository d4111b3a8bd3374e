"""A pytest plugin for the mutation baseline: which test runs which lines of the mutated
modules, and how long each test takes. Loaded with ``-p tools.mutation.trace_plugin``;
``MUTATION_TRACE_FILES`` names the files to watch (absolute, ``os.pathsep``-separated) and
``MUTATION_TRACE_OUT`` where the JSON goes. Lines run by fixtures count for the test that
used them; threads started during a test are traced too."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import pytest

_WATCHED = frozenset(filter(None, os.environ.get("MUTATION_TRACE_FILES", "").split(os.pathsep)))
_hits: dict[str, dict[str, set[int]]] = {}
_durations: dict[str, float] = {}
_order: list[str] = []
_current: dict[str, set[int]] | None = None


def _local(frame: Any, event: str, arg: Any) -> Any:
    if event == "line" and _current is not None:
        _current.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
    return _local


def _global(frame: Any, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename in _WATCHED:
        if _current is not None:
            _current.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
        return _local
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    global _current
    _current = _hits.setdefault(item.nodeid, {})
    _order.append(item.nodeid)
    started = time.monotonic()
    sys.settrace(_global)
    threading.settrace(_global)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        _durations[item.nodeid] = time.monotonic() - started
        _current = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("MUTATION_TRACE_OUT")
    if not out:
        return
    data = {
        "exitstatus": int(exitstatus),
        "tests": [
            {
                "nodeid": nodeid,
                "seconds": _durations.get(nodeid, 0.0),
                "lines": {f: sorted(lines) for f, lines in _hits.get(nodeid, {}).items()},
            }
            for nodeid in _order
        ],
    }
    with open(out, "w") as fh:
        json.dump(data, fh)
