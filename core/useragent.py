"""A short, human label for a User-Agent string ("Chrome on Linux"), for the sessions list.

Deliberately small: the label helps a person recognise their own browsers, it is never used to
decide anything, so a handful of ordered patterns (the same order as ``describeUserAgent`` in
``static/js/webauthn.js``) beats a parser dependency with its own update cycle. Order matters:
Edge and Opera also say "Chrome", Chrome also says "Safari"."""

from __future__ import annotations

import re

_BROWSERS = (
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"SamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chromium/"), "Chromium"),
    (re.compile(r"Chrome/|CriOS/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
)
_PLATFORMS = (
    (re.compile(r"iPhone|iPod"), "iPhone"),
    (re.compile(r"iPad"), "iPad"),
    (re.compile(r"Macintosh"), "Mac"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Linux"), "Linux"),
)


def _first(patterns: tuple[tuple[re.Pattern[str], str], ...], user_agent: str) -> str:
    return next((label for pattern, label in patterns if pattern.search(user_agent)), "")


def describe(user_agent: str | None) -> str | None:
    """ "Chrome on Linux", "Safari on iPhone", "Firefox"; None when nothing is recognised."""
    if not user_agent:
        return None
    browser = _first(_BROWSERS, user_agent)
    platform = _first(_PLATFORMS, user_agent)
    if browser and platform:
        return f"{browser} on {platform}"
    return browser or platform or None
