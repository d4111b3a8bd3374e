"""The server owns the messages people read: every refusal carries its ``message`` and the
pages show it as sent. No page module or template keeps a copy of a server message or a table
of its own words by error code, so a new wording (or a translation) is made once, on the
server. What the server can never say (no connection, the passkey dialog's reports) is worded
in one module, static/js/messages.js."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import AppError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/errors.py"))
# Server texts a page may also hold, and why.
ALLOWED = {
    # The sign-in and sign-up forms check for an empty username before sending anything.
    "Enter your username.",
}


def error_classes() -> set[type[AppError]]:
    for package in PACKAGES:
        importlib.import_module(f"{package}.errors")

    def below(cls: type[AppError]) -> Iterator[type[AppError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return {AppError, *below(AppError)}


def server_messages() -> set[str]:
    """Every error's own message, and every literal message a raise gives one."""
    classes = error_classes()
    names = {cls.__name__ for cls in classes}
    messages = {cls.message for cls in classes}
    for path in ROOT.glob("*/*.py"):
        if path.parent.name not in PACKAGES and path.name != "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in names
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                messages.add(node.args[0].value)
    return messages


def pages() -> Iterator[tuple[Path, str]]:
    """Each page module and template, its string concatenations joined, spaces normalised."""
    for path in [*(ROOT / "static" / "js").glob("*.js"), *(ROOT / "templates").rglob("*.html")]:
        text = re.sub(r"""["'`]\s*\+\s*["'`]""", "", path.read_text())
        yield path, " ".join(text.split())


def test_the_scan_sees_every_package_and_the_messages_it_should() -> None:
    assert {"core", "webauthn", "recovery", "notify"} <= set(PACKAGES)
    found = server_messages()
    assert "No blocked device with that id." in found  # a raise's own text
    from webauthn.errors import UsernameTaken

    assert UsernameTaken.message in found


def test_no_page_holds_a_copy_of_a_server_message() -> None:
    messages = server_messages() - ALLOWED
    copies = [
        f"{path.relative_to(ROOT)}: {message!r}"
        for path, text in pages()
        for message in messages
        if " ".join(message.split()) in text
    ]
    assert copies == [], "show the answer's message instead"


def test_no_page_words_error_codes_itself() -> None:
    """A table keyed by error code ({code: "words"}) replaced the server's message before."""
    codes = "|".join(sorted({re.escape(cls.code) for cls in error_classes()}))
    keyed = re.compile(rf"""(?m)^\s*["']?(?:{codes})["']?\s*:\s*["'`(]""")
    tables = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in (ROOT / "static" / "js").glob("*.js")
        for match in keyed.finditer(path.read_text())
    ]
    assert tables == []
