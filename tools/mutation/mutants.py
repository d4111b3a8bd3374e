"""Mutant generation: one small change each, made on the AST and spliced into the source text
at the changed node's position (the rest of the file stays byte for byte).

Two scopes:

* ``full``: every function of the module. Comparison operators (``<`` ↔ ``<=``, ``>`` ↔
  ``>=``, ``==`` ↔ ``!=``, ``in``/``is`` negated), ``and`` ↔ ``or``, ``not`` removed, integer
  constants in a comparison or a module constant (n → n + 1), ``+`` ↔ ``-`` in time
  arithmetic, ``True`` ↔
  ``False``, a guard clause's condition made ``False``, a ``raise`` or a guard call deleted.
* ``refusing``: only what refuses in a service module: guard clauses (an ``if`` whose body
  ends in ``raise`` or ``return``) get the condition made ``False`` and every operator
  mutation inside their condition; comparisons with ``now``/``since`` (expiry filters in SQL);
  guard calls (``require_*``, ``_check_*``, recording a failure, voiding, expiring, revoking)
  deleted; other ``raise`` statements deleted; module integer constants.

Each mutant is keyed by what survives line shifts: module, enclosing function, the original
snippet and the mutated snippet (plus ``#n`` when the same change occurs n times in one
function).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections import Counter
from dataclasses import dataclass

GUARD_CALL = re.compile(
    r"^_?(require|check|record_failure|wrong_email_code|void_open_flows|expire_due|revoke)"
)
TIME_NAMES = {"now", "since"}

_CMP_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    module: str  # path relative to the project root
    function: str  # qualified name of the enclosing function ("<module>" at top level)
    operator: str
    original: str  # snippet
    mutated: str  # snippet
    line: int  # for display and test selection only, never in the key
    end_line: int
    source: str  # the whole mutated module

    key: str = ""

    def describe(self) -> str:
        return f"{self.module}:{self.line} {self.function}: {self.original}  →  {self.mutated}"


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _offsets(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line.encode("utf-8"))
        starts.append(pos)
    return starts


class _Splicer:
    """Replaces a node's text (AST positions are UTF-8 byte columns)."""

    def __init__(self, source: str) -> None:
        self.raw = source.encode("utf-8")
        self.starts = _offsets(source)

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.starts[node.lineno - 1] + node.col_offset
        end = self.starts[node.end_lineno - 1] + node.end_col_offset
        return start, end

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.raw[start:end].decode("utf-8")

    def replace(self, node: ast.AST, new: str) -> str:
        start, end = self.span(node)
        return (self.raw[:start] + new.encode("utf-8") + self.raw[end:]).decode("utf-8")


def _is_guard_if(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and bool(node.body)
        and isinstance(node.body[-1], ast.Raise | ast.Return)
    )


def _call_name(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _mentions_time(node: ast.AST) -> bool:
    """Expiry arithmetic and comparisons: ``now``, ``since`` or a ``timedelta``."""
    return any(
        isinstance(n, ast.Name) and (n.id in TIME_NAMES or n.id == "timedelta")
        for n in ast.walk(node)
    )


class _Collector(ast.NodeVisitor):
    """Walks the module, remembering the enclosing function and what may be mutated."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.stack: list[str] = []
        self.in_guard_test = 0
        self.in_compare = 0
        self.found: list[tuple[str, str, ast.AST, str]] = []  # (function, operator, node, new)

    # -- bookkeeping --
    @property
    def function(self) -> str:
        return ".".join(self.stack) or "<module>"

    def add(self, operator: str, node: ast.AST, new: str) -> None:
        self.found.append((self.function, operator, node, new))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802
        self.stack.append(node.name)
        for stmt in node.body:
            self.visit(stmt)  # not the decorators, arguments' defaults or annotations
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802
        self.stack.append(node.name)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.visit(stmt)  # dataclass fields and their defaults are declarations
        self.stack.pop()

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:  # noqa: N802
        return  # messages, and f-string positions are unreliable

    def visit_Assign(self, node: ast.Assign) -> None:  # noqa: N802
        if not self.stack and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            value = node.value
            if name.lstrip("_").isupper() and _is_int(value):
                self.add("constant", value, repr(value.value + 1))
            return
        if self.stack:
            self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:  # noqa: N802
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring
        name = _call_name(node)
        if self.stack and name and GUARD_CALL.match(name):
            self.add("delete-guard-call", node, "pass")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:  # noqa: N802
        if self.stack:
            self.add("delete-raise", node, "pass")
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:  # noqa: N802
        guard = _is_guard_if(node)
        if guard and self.stack:
            self.add("guard-never", node.test, "False")
        if guard or self.scope == "full":
            self.in_guard_test += guard
            self.visit(node.test)
            self.in_guard_test -= guard
        else:
            self.visit(node.test)  # only comparisons with time are mutated here
        for stmt in node.body:
            if (
                guard
                and stmt is node.body[-1]
                and isinstance(stmt, ast.Raise)
                and len(node.body) == 1
            ):
                if self.scope == "full":
                    self.generic_visit(stmt)  # "guard-never" already removes this raise
                continue
            self.visit(stmt)
        for stmt in node.orelse:
            self.visit(stmt)

    # -- expressions --
    def _operators_here(self) -> bool:
        return self.scope == "full" or self.in_guard_test > 0

    def visit_Compare(self, node: ast.Compare) -> None:  # noqa: N802
        if self.stack and (self._operators_here() or _mentions_time(node)):
            for i, op in enumerate(node.ops):
                swap = _CMP_SWAP.get(type(op))
                if swap is None:
                    continue
                ops = list(node.ops)
                ops[i] = swap()
                new = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                self.add("comparison", node, "(" + ast.unparse(new) + ")")
            self.in_compare += 1
            self.generic_visit(node)
            self.in_compare -= 1
        else:
            self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:  # noqa: N802
        if self.stack and self._operators_here():
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add(
                "boolean", node, "(" + ast.unparse(ast.BoolOp(op=other, values=node.values)) + ")"
            )
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:  # noqa: N802
        if self.stack and self._operators_here() and isinstance(node.op, ast.Not):
            self.add("not-removed", node, "(" + ast.unparse(node.operand) + ")")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:  # noqa: N802
        if (
            self.stack
            and self.scope == "full"
            and isinstance(node.op, ast.Add | ast.Sub)
            and _mentions_time(node)
        ):
            other = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            new = ast.BinOp(left=node.left, op=other, right=node.right)
            self.add("arithmetic", node, "(" + ast.unparse(new) + ")")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:  # noqa: N802
        if not self.stack:
            return
        if isinstance(node.value, bool):
            if self.scope == "full" or self.in_guard_test:
                self.add("boolean-constant", node, repr(not node.value))
        elif _is_int(node) and self.in_compare and self._operators_here():
            self.add("constant", node, repr(node.value + 1))


def _is_int(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    )


def generate(module: str, source: str, scope: str) -> list[Mutant]:
    tree = ast.parse(source)
    original_dump = ast.dump(tree)
    collector = _Collector(scope)
    collector.visit(tree)
    splicer = _Splicer(source)
    mutants: list[Mutant] = []
    seen_sources: set[str] = set()
    for function, operator, node, new in collector.found:
        mutated_source = splicer.replace(node, new)
        try:
            mutated_tree = ast.parse(mutated_source)
        except SyntaxError:
            continue
        if ast.dump(mutated_tree) == original_dump or mutated_source in seen_sources:
            continue
        seen_sources.add(mutated_source)
        original = _one_line(splicer.text(node))
        shown = _one_line(new.removeprefix("(").removesuffix(")") if new.startswith("(") else new)
        if operator == "guard-never":
            original = "if " + original
            shown = "if False"
        mutants.append(
            Mutant(
                module=module,
                function=function,
                operator=operator,
                original=original,
                mutated=shown,
                line=node.lineno,
                end_line=node.end_lineno or node.lineno,
                source=mutated_source,
            )
        )
    counts: Counter[tuple[str, str, str]] = Counter()
    keyed = []
    for m in mutants:
        base = (m.function, m.original, m.mutated)
        counts[base] += 1
        n = counts[base]
        key = f"{m.module}::{m.function}::{m.original} → {m.mutated}" + (f" #{n}" if n > 1 else "")
        keyed.append(dataclasses.replace(m, key=key))
    return keyed
