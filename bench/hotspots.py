"""Summarise py-spy profiles of ``bench.run --profile DIR``: where the workers spend their time.

    .venv/bin/python -m bench.hotspots DIR/keystead-worker-*.txt [--top 25] [--match webauthn/]

Reads py-spy's ``raw`` format (collapsed stacks, ``frame;frame;... count``) and prints the
functions with the largest inclusive share (time in the function and everything it calls) and
self share (time in the function's own code), as a percentage of all samples, after the self
time summed by top-level package (gunicorn, flask, sqlalchemy, fido2, the project's own...).
``--match`` keeps only frames whose file contains one of the given strings, e.g. ``"(webauthn/"``
for the project's package (the parenthesis leaves out ``fido2/webauthn.py``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_key(frame: str) -> str:
    """``func (file:line)`` without the line, so one function is one key."""
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['func']} ({match['file']})"


def package(key: str) -> str:
    """The top-level package (or module) of a frame key: ``sqlalchemy``, ``webauthn``, ..."""
    if "<sqlalchemy generated" in key:  # SQLAlchemy's generated wrappers name no file
        return "sqlalchemy"
    match = FRAME.match(key)
    path = match["file"] if match else key
    return path.split("/", 1)[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")


def load(paths: list[Path]) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [frame_key(f) for f in stack.split(";")]
            total += count
            for key in set(frames):
                inclusive[key] += count
            own[frames[-1]] += count
            packages[package(frames[-1])] += count
    return inclusive, own, packages, total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy raw files")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", action="append", default=[], help="file substring to keep")
    args = parser.parse_args(argv)
    inclusive, own, packages, total = load(args.profiles)
    if not total:
        print("no samples")
        return

    def keep(key: str) -> bool:
        return not args.match or any(m in key for m in args.match)

    print(f"self time by package (% of {total} samples)")
    for name, count in packages.most_common(args.top):
        print(f"{100 * count / total:6.1f}%  {name}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (% of {total} samples)")
        shown = [(k, v) for k, v in counter.most_common() if keep(k)][: args.top]
        for key, count in shown:
            print(f"{100 * count / total:6.1f}%  {key}")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # piped into head: not an error
        sys.stderr.close()
