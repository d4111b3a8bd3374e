"""The layers the README's Layout section describes, checked on the source: below the HTTP edge
nothing imports Flask (or the presentation libraries), views import services and never another
feature's views, views import no fido2, and services never end a transaction. Each rule fails
with the module and the import (or call) that broke it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "webauthn", "recovery", "notify", "embed", "admin")

# Libraries of the HTTP edge: none of them may be loaded by importing a module below it.
EDGE_LIBRARIES = (
    "flask",
    "flask_limiter",
    "flask_login",
    "flask_mail",
    "jinja2",
    "qrcode",
    "werkzeug",
)
# Modules of the edge besides the views: the app's database session, the policies in force for
# the request and the rate limiter are bound to the running app; core.web is the request edge.
# embed.provider adapts our services to Authlib's Flask integration (its server reads Flask's
# request): it is the OpenID Connect edge, as views are the JSON API's.
FLASK_BOUND = {"core.db", "core.policy", "core.ratelimit", "core.web", "embed.provider"}
# notify's listeners still read the app's configuration and templates (current_app), and the
# package's __init__ wires the app: the whole package stays above the line for now.
FLASK_BOUND_PACKAGES = {"notify"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def is_views(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "views" or last.endswith("_views")


def is_schemas(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "schemas" or last.endswith("_schemas")


def is_edge(name: str) -> bool:
    """A views module, a package's share of the edge (``<package>/web.py``), its request and
    answer models (``<package>/schemas.py``, or ``<concept>_schemas.py`` beside its
    ``<concept>_views.py``: parsed from the request, turned into the answer), its command line
    (``<package>/cli.py``: Flask's CLI, committing like a view), or FLASK_BOUND."""
    return (
        is_views(name)
        or is_schemas(name)
        or name.rsplit(".", 1)[-1] in ("web", "cli")
        or name in FLASK_BOUND
        or name.split(".")[0] in FLASK_BOUND_PACKAGES
    )


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, ``from a import b`` read as ``a.b`` too (it
    may name a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


# ---- no Flask below the edge ---------------------------------------------------------------

# Run in a fresh interpreter: imports each module in turn and, after each, reports any edge
# library that came in with it, and the chain of the project's modules that imported it.
_PROBE = """
import importlib, importlib.abc, json, sys, traceback
root, names, libraries = sys.argv[1], json.loads(sys.argv[2]), tuple(json.loads(sys.argv[3]))
chains = {}

class Tracer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in libraries and top not in chains:
            frames = [
                f for f in traceback.extract_stack()
                if f.filename.startswith(root) and "site-packages" not in f.filename
            ]
            chains[top] = [f"{f.filename[len(root) + 1:]}:{f.lineno}" for f in frames]
        return None

sys.meta_path.insert(0, Tracer())
leaks = {}
for name in names:
    importlib.import_module(name)
    loaded = sorted(t for t in libraries if t in sys.modules)
    if loaded:
        leaks[name] = {top: chains.get(top, []) for top in loaded}
        break  # what came in now stays loaded: the next modules could not be judged
print(json.dumps(leaks))
"""


def test_modules_below_the_edge_import_no_flask():
    """The pure modules (ceremony, codes, OTP, throttle, security) and the services and models
    run without Flask, so they are tested, reused (the CLI, the embedding issue's provider) and
    read without an app. Fails naming the module and the import chain that pulled Flask in."""
    below = [name for name in modules() if not is_edge(name)]
    assert {"webauthn.ceremony", "recovery.codes", "core.sessions", "core.security"} <= set(below)
    probe = subprocess.run(  # noqa: S603 (a fixed argv: this interpreter, our probe)
        [sys.executable, "-c", _PROBE, str(ROOT), json.dumps(below), json.dumps(EDGE_LIBRARIES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(probe.stdout) == {}


# ---- views ---------------------------------------------------------------------------------


def test_views_import_services_not_views():
    """A view reaches another feature (or another views module of its own) through services or
    a package's ``web.py`` (its settings, the hooks that add to its answers), never through its
    views: only the wiring, ``app.py`` and a package's own ``__init__``, imports views."""
    wrong = [
        f"{name}:{line} imports {imported}"
        for name, path in modules().items()
        for line, imported in imports(path)
        if imported.split(".")[0] in PACKAGES
        and is_views(imported)
        and name != imported.split(".")[0]  # a package's __init__ wiring its own blueprints
    ]
    assert wrong == []


def test_the_edge_imports_no_fido2():
    """fido2 stays below the views (ceremony.py and the services): the edge turns bytes into
    base64url with core.encoding."""
    wrong = [
        f"{name}:{line} imports {imported}"
        for name, path in modules().items()
        if is_edge(name)
        for line, imported in imports(path)
        if imported.split(".")[0] == "fido2"
    ]
    assert wrong == []


# ---- transactions --------------------------------------------------------------------------

# The one commit below the views: consuming a challenge (webauthn/challenges.py explains why,
# and refuses to run after anything else was written).
ENDS_TRANSACTIONS = {("webauthn.challenges", "commit")}


def test_services_never_end_a_transaction():
    """Services flush; the view commits once and app.py's error handler rolls back. A service
    that must undo a write of its own uses a SAVEPOINT (``webauthn.devices.add_unique``)."""
    wrong = []
    for name, path in modules().items():
        if is_edge(name):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
                and (name, node.func.attr) not in ENDS_TRANSACTIONS
            ):
                wrong.append(f"{name}:{node.lineno} calls {node.func.attr}()")
    assert wrong == []
