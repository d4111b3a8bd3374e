"""Rewrites the configuration table in README.md from core/config.py's SETTINGS
(``make docs``); tests/core/test_config.py fails while the two differ."""

from pathlib import Path

from core.config import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"
START = "| Key (env `KEYSTEAD_<KEY>`)"
# The table ends at the first blank line after it (sections follow it: never rewrite them).
END = "\n\n"


def main() -> None:
    text = README.read_text()
    start = text.index(START)
    end = text.index(END, start)
    README.write_text(text[:start] + markdown_table() + text[end:])
    print(f"updated the configuration table in {README}")


if __name__ == "__main__":
    main()
