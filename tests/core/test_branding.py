"""Branding below the edge: the logo is only ever a PNG or JPEG this server wrote itself (the
upload's metadata gone, a disguised or oversized file and a decompression bomb refused before
anything is decoded), the name and accent colour rules, the default accent kept equal to the
style sheet's, and the cache that reads the row once per policy stamp."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from core import branding, logo
from core.branding import Brand, BrandingCache
from core.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]


# ---- images the tests make -----------------------------------------------------------------


def png(size: tuple[int, int] = (40, 20), *, text: str | None = None, mode: str = "RGBA") -> bytes:
    image = Image.new(mode, size, (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    info = None
    if text is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (30, 30), *, comment: bytes | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "exif-description-marker"  # ImageDescription
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(
        out, "JPEG", exif=exif.tobytes(), comment=comment or b""
    )
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes that claim to be a ``width`` × ``height`` RGB image."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + _chunk(b"IEND", b"")
    )


def apng() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 0, 255)).save(out, "GIF")
    return out.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


# ---- the logo ------------------------------------------------------------------------------


def test_a_png_is_re_encoded_without_its_text_chunks() -> None:
    upload = png(text="uploader-secret-marker")
    assert b"uploader-secret-marker" in upload
    cleaned = logo.clean(upload, "image/png")
    assert cleaned.data != upload and cleaned.data.startswith(b"\x89PNG")
    assert b"uploader-secret-marker" not in cleaned.data and b"tEXt" not in cleaned.data
    with Image.open(io.BytesIO(cleaned.data)) as reread:
        assert reread.format == "PNG" and reread.size == (40, 20) and reread.mode == "RGBA"
        assert not {k for k in reread.info if k not in ("dpi",)}


def test_a_jpeg_is_re_encoded_without_exif_or_comment() -> None:
    upload = jpeg(comment=b"jpeg-comment-marker")
    assert b"jpeg-comment-marker" in upload and b"exif-description-marker" in upload
    cleaned = logo.clean(upload, "image/jpeg")
    assert cleaned.data != upload and cleaned.content_type == "image/jpeg"
    assert b"jpeg-comment-marker" not in cleaned.data
    assert b"exif-description-marker" not in cleaned.data and b"Exif" not in cleaned.data
    with Image.open(io.BytesIO(cleaned.data)) as reread:
        assert reread.format == "JPEG" and reread.size == (30, 30)


def test_a_large_logo_is_scaled_down_to_fit() -> None:
    cleaned = logo.clean(png((2000, 500), mode="RGB"), "image/png")
    assert (cleaned.width, cleaned.height) == (logo.STORED_MAX_SIDE, logo.STORED_MAX_SIDE // 4)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (SVG, "image/svg+xml"),
        (SVG, "image/png"),  # an SVG sent as a PNG
        (gif(), "image/gif"),
        (gif(), "image/png"),
        (HTML, "image/png"),  # HTML disguised as a PNG
        (HTML, "image/jpeg"),
        (png(), "image/jpeg"),  # the bytes of one type, the label of the other
        (jpeg(), "image/png"),
        (png()[:40], "image/png"),  # truncated: the header is there, the pixels are not
        (b"", "image/png"),
        (apng(), "image/png"),  # animated
        (png_declaring(50_000, 50_000), "image/png"),  # decompression bomb
        (png_declaring(logo.MAX_SIDE + 1, 1), "image/png"),
        (png_declaring(2100, 2100), "image/png"),  # each side allowed, the area not
        (png_declaring(0, 10), "image/png"),
    ],
    # Named: ids made of the bytes would change with logo's constants (mutation testing).
    ids=[
        "svg",
        "svg-as-png",
        "gif",
        "gif-as-png",
        "html-as-png",
        "html-as-jpeg",
        "png-as-jpeg",
        "jpeg-as-png",
        "truncated",
        "empty",
        "animated",
        "bomb",
        "side-over",
        "area-over",
        "zero-width",
    ],
)
def test_anything_else_is_refused(data: bytes, content_type: str) -> None:
    with pytest.raises(logo.LogoRefused):
        logo.clean(data, content_type)


def test_a_bomb_is_refused_from_its_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(Image, "open", never)
    with pytest.raises(logo.LogoRefused, match="at most"):
        logo.clean(png_declaring(50_000, 50_000), "image/png")


def test_an_upload_over_the_size_limit_is_refused() -> None:
    with pytest.raises(logo.LogoRefused, match="256 KiB"):
        logo.clean(png() + b"\0" * logo.MAX_BYTES, "image/png")


def test_jpeg_size_is_read_past_other_segments() -> None:
    assert logo.declared_size(jpeg((37, 21)), "JPEG") == (37, 21)


# ---- name and colour -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("  Acme   Corp ", "Acme Corp"), ("Ünïcødé ☃", "Ünïcødé ☃")]
)
def test_names_are_tidied(raw: str, expected: str) -> None:
    assert branding.normalise_name(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "x" * 65, "Acme\nCorp", "Acme\x00", "Acme\u202egnp.exe", "a\u200bb"]
)
def test_bad_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="'name'"):
        branding.normalise_name(raw)


def test_colours_are_rrggbb_only() -> None:
    assert branding.normalise_accent("#A1B2C3") == "#a1b2c3"
    for bad in ("red", "#fff", "#12345g", "#1234567", "rgb(1,2,3)", "#123456;}", " #123456"):
        with pytest.raises(InvalidInput, match="'accent_color'"):
            branding.normalise_accent(bad)


def test_text_on_the_accent_contrasts() -> None:
    assert branding.accent_ink("#000080") == "#ffffff"
    assert branding.accent_ink("#ffee00") == "#0d0f13"


def test_the_default_accent_is_the_style_sheets() -> None:
    css = (ROOT / "static/css/keystead.css").read_text()
    assert f"--accent: {branding.DEFAULT_ACCENT};" in css


def test_the_stylesheet_overrides_only_a_custom_accent() -> None:
    default = branding.read_defaults("Org")
    assert not default.custom_accent and "--accent" not in default.stylesheet
    custom = Brand("Org", "#0a7f3c", None, None, None, "#0a7f3c", None, None)
    assert "--accent: #0a7f3c;" in custom.stylesheet
    assert custom.version != default.version


# ---- the cache -----------------------------------------------------------------------------


def test_the_cache_reads_again_only_when_the_stamp_moves(app: object) -> None:
    from flask import Flask

    from core import db as database

    assert isinstance(app, Flask)
    cache = BrandingCache({"RP_NAME": "Org"})
    with app.app_context():
        db = database.session()
        assert cache.current(db, "one").name == "Org"
        cache.current(db, "one")
        assert cache.reads == 1
        cache.current(db, "two")
        assert cache.reads == 2
