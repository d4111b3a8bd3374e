"""Branding: the organisation's name, accent colour and logo, shown on every page and mail.

One row (``core.models.Branding``) over the defaults: the name is RP_NAME, the accent colour
is the one static/css/keystead.css declares (``DEFAULT_ACCENT``), no logo. The WebAuthn
relying party's name and id stay the configured ones: branding is what people read, not what
authenticators store.

Reading is cheap: every change (``events.BrandingChanged``) also renews the policy stamp
(``core.policy`` listens), which each request reads anyway, and ``BrandingCache`` rereads the
row only when that stamp moved. So a page costs no statement of its own for branding, a change
applies everywhere from the next request, and a JSON API request never reads it. The logo's
bytes are never cached or loaded with the row: ``logo_image`` reads them to serve the image.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core import logo as logos
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import Branding

ROW_ID = 1
# static/css/keystead.css's --accent (light scheme); tests/core/test_branding.py keeps the two
# the same.
DEFAULT_ACCENT = "#4f46e5"
NAME_MAX = 64
_ACCENT = re.compile(r"#[0-9a-f]{6}")
FIELDS = ("name", "accent_color")


class InvalidBranding(InvalidInput):
    message = "That branding is not valid."


def normalise_name(value: str) -> str:
    """The organisation's name as shown: 1 to ``NAME_MAX`` printable characters (no control,
    format or line-separator characters, which could reorder or hide text), runs of spaces
    made one."""
    if not value.isprintable():
        raise InvalidBranding("'name' must not contain control or invisible characters.")
    name = " ".join(value.split())
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidBranding(f"'name' must have 1 to {NAME_MAX} characters.")
    return name


def normalise_accent(value: str) -> str:
    """An accent colour as ``#rrggbb`` (lower case); nothing else (no names, no ``rgb()``, no
    way to end the style sheet it is written into)."""
    colour = value.lower()
    if not _ACCENT.fullmatch(colour):
        raise InvalidBranding("'accent_color' must be a colour written #rrggbb.")
    return colour


@dataclass(frozen=True)
class Brand:
    """The branding in force: stored values over the defaults."""

    name: str
    accent_color: str
    logo_hash: str | None
    logo_content_type: str | None
    stored_name: str | None  # None: the default (RP_NAME)
    stored_accent_color: str | None  # None: the default
    updated_at: datetime | None
    updated_by: int | None

    @property
    def logo_path(self) -> str | None:
        """Where the logo is served; the hash in the path lets browsers keep it for good."""
        return f"/branding/logo/{self.logo_hash}" if self.logo_hash else None

    @property
    def custom_accent(self) -> bool:
        return self.accent_color != DEFAULT_ACCENT

    @property
    def version(self) -> str:
        """Changes when the style sheet does (``/branding.css?v=…``)."""
        return hashlib.sha256(self.stylesheet.encode()).hexdigest()[:16]

    @property
    def stylesheet(self) -> str:
        """The accent colour as the CSS custom properties static/css/keystead.css reads (for
        ``/branding.css``): derived shades for both colour schemes, and the text colour on it
        chosen for contrast."""
        if not self.custom_accent:
            return "/* The default accent colour: nothing to override. */\n"
        accent, ink = self.accent_color, accent_ink(self.accent_color)
        return (
            ":root {\n"
            f"  --accent: {accent};\n"
            f"  --accent-hover: color-mix(in srgb, {accent} 82%, #000000);\n"
            f"  --accent-ink: {ink};\n"
            f"  --accent-soft: color-mix(in srgb, {accent} 10%, #ffffff);\n"
            f"  --accent-text: color-mix(in srgb, {accent} 80%, #000000);\n"
            f"  --focus: {accent};\n"
            f"  --brand-ink: {ink};\n"
            "}\n"
            "@media (prefers-color-scheme: dark) {\n"
            "  :root {\n"
            f"    --accent: {accent};\n"
            f"    --accent-hover: color-mix(in srgb, {accent} 80%, #ffffff);\n"
            f"    --accent-ink: {ink};\n"
            f"    --accent-soft: color-mix(in srgb, {accent} 16%, transparent);\n"
            f"    --accent-text: color-mix(in srgb, {accent} 55%, #ffffff);\n"
            f"    --focus: color-mix(in srgb, {accent} 55%, #ffffff);\n"
            f"    --brand-ink: {ink};\n"
            "  }\n"
            "}\n"
        )


def accent_ink(accent: str) -> str:
    """White or near-black, whichever contrasts more with ``accent`` (WCAG relative
    luminance)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return "#ffffff" if (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / 0.05) else "#0d0f13"


def _brand(row: Any, configured_name: str) -> Brand:
    """``row``: the ``Branding`` row or a result row with its columns; None: no row."""
    if row is None:
        return Brand(configured_name, DEFAULT_ACCENT, None, None, None, None, None, None)
    return Brand(
        name=row.name or configured_name,
        accent_color=row.accent_color or DEFAULT_ACCENT,
        logo_hash=row.logo_hash,
        logo_content_type=row.logo_content_type,
        stored_name=row.name,
        stored_accent_color=row.accent_color,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def read_defaults(configured_name: str) -> Brand:
    """The branding with nothing stored."""
    return _brand(None, configured_name)


def read(db: Session, configured_name: str) -> Brand:
    """The branding now, without a cache (the admin API's answers)."""
    return _brand(db.get(Branding, ROW_ID), configured_name)


class BrandingCache:
    """One per app: the ``Brand`` last read, and the policy stamp (and configured name) it was
    read under. ``configured``: the app's configuration (RP_NAME is read from it each time)."""

    def __init__(self, configured: Mapping[str, Any]) -> None:
        self._configured = configured
        self._cached: tuple[tuple[str | None, str], Brand] | None = None
        self.reads = 0

    def current(self, db: Session, stamp: str | None) -> Brand:
        key = (stamp, str(self._configured["RP_NAME"]))
        cached = self._cached
        if cached is None or cached[0] != key:
            # Read by columns: the identity map may hold a row another request changed.
            cached = self._cached = (key, _select(db, key[1]))
            self.reads += 1
        return cached[1]


def _select(db: Session, configured_name: str) -> Brand:
    row = db.execute(
        sa.select(
            Branding.name,
            Branding.accent_color,
            Branding.logo_hash,
            Branding.logo_content_type,
            Branding.updated_at,
            Branding.updated_by,
        ).where(Branding.id == ROW_ID)
    ).first()
    return _brand(row, configured_name)


# ---- changing it ---------------------------------------------------------------------------


def _row(db: Session, now: datetime) -> Branding:
    row = db.get(Branding, ROW_ID, with_for_update=True)
    if row is None:
        row = Branding(id=ROW_ID, updated_at=now)
        db.add(row)
    return row


def _changed(
    db: Session,
    ctx: RequestContext,
    row: Branding,
    field: str,
    value: Any,
    previous: Any,
    actor_user_id: int,
) -> None:
    row.updated_at, row.updated_by = ctx.now, actor_user_id
    events.emit(
        db,
        events.BrandingChanged(
            ctx=ctx,
            user_id=None,
            field=field,
            value=value,
            previous=previous,
            actor_user_id=actor_user_id,
        ),
    )


def update(
    db: Session,
    ctx: RequestContext,
    changes: Mapping[str, str | None],
    *,
    configured_name: str,
    actor_user_id: int,
) -> Brand:
    """Sets the name and/or accent colour (``None``: back to the default), checked
    (``InvalidBranding``, nothing changed); each change audited with its old and new value."""
    checked: dict[str, str | None] = {}
    for field, value in changes.items():
        if field not in FIELDS:
            raise InvalidBranding(f"'{field}' is not part of the branding.")
        if value is None:
            checked[field] = None
        elif field == "name":
            checked[field] = normalise_name(value)
        else:
            checked[field] = normalise_accent(value)
    current = db.get(Branding, ROW_ID, with_for_update=True)
    changed = {f: v for f, v in checked.items() if v != getattr(current, f, None)}
    if not changed:  # nothing to write (and no row made for it)
        return _brand(current, configured_name)
    row = current or _row(db, ctx.now)
    for field, value in changed.items():
        previous = getattr(row, field)
        setattr(row, field, value)
        _changed(db, ctx, row, field, value, previous, actor_user_id)
    db.flush()
    return _brand(row, configured_name)


def _logo_facts(content_type: str | None, digest: str | None, size: int | None) -> Any:
    if digest is None:
        return None
    return {"content_type": content_type, "sha256": digest, "bytes": size}


def set_logo(
    db: Session,
    ctx: RequestContext,
    data: bytes,
    content_type: str,
    *,
    configured_name: str,
    actor_user_id: int,
) -> Brand:
    """Stores the image ``data`` (sent as ``content_type``) as the logo once ``core.logo``
    checked and re-encoded it (``LogoRefused``, nothing changed, otherwise); audited by its
    type, hash and size, never its bytes."""
    logo = logos.clean(data, content_type)
    row = _row(db, ctx.now)
    previous = _logo_facts(row.logo_content_type, row.logo_hash, _stored_size(db))
    row.logo, row.logo_content_type, row.logo_hash = logo.data, logo.content_type, logo.sha256
    value = _logo_facts(logo.content_type, logo.sha256, len(logo.data))
    _changed(db, ctx, row, "logo", value, previous, actor_user_id)
    db.flush()
    return _brand(row, configured_name)


def remove_logo(
    db: Session, ctx: RequestContext, *, configured_name: str, actor_user_id: int
) -> Brand:
    """No logo any more (nothing recorded when there was none)."""
    row = db.get(Branding, ROW_ID, with_for_update=True)
    if row is None or row.logo_hash is None:
        return _brand(row, configured_name)
    previous = _logo_facts(row.logo_content_type, row.logo_hash, _stored_size(db))
    row.logo, row.logo_content_type, row.logo_hash = None, None, None
    _changed(db, ctx, row, "logo", None, previous, actor_user_id)
    db.flush()
    return _brand(row, configured_name)


def _stored_size(db: Session) -> int | None:
    return db.scalar(sa.select(sa.func.length(Branding.logo)).where(Branding.id == ROW_ID))


@dataclass(frozen=True)
class LogoImage:
    data: bytes
    content_type: str
    sha256: str


def logo_image(db: Session, digest: str | None = None) -> LogoImage | None:
    """The stored logo (only if its hash is ``digest``, when given); None when there is none."""
    query = sa.select(Branding.logo, Branding.logo_content_type, Branding.logo_hash).where(
        Branding.id == ROW_ID, Branding.logo_hash.is_not(None)
    )
    if digest is not None:
        query = query.where(Branding.logo_hash == digest)
    row = db.execute(query).first()
    if row is None or row.logo is None or row.logo_content_type is None:
        return None
    return LogoImage(bytes(row.logo), row.logo_content_type, row.logo_hash)
