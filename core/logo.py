"""The organisation's logo, checked and re-encoded before it is stored (pure: bytes in, bytes
out, no app).

Only PNG and JPEG, and only when the bytes are what the declared type says (an HTML page or
an SVG sent as ``image/png`` is refused). The dimensions are read from the file's header and
capped before anything is decoded, so a small file declaring a huge image (a decompression
bomb) costs nothing. The pixels are then decoded once, turned upright (EXIF orientation),
scaled down to fit ``STORED_MAX_SIDE`` and written into a new file of the same type: nothing
of the upload but its pixels survives (no text chunks, EXIF, comments, colour profiles or
trailing bytes), and an animated image is refused.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from core.errors import InvalidInput

MAX_BYTES = 256 * 1024
MAX_SIDE = 4096  # pixels, either side, as the header declares them
MAX_PIXELS = 4_000_000  # decoded at most once: 16 MB as RGBA
STORED_MAX_SIDE = 512  # a logo is shown a few dozen pixels high
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# JPEG start-of-frame markers (the ones that carry the dimensions): C0-CF but DHT, JPG, DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class LogoRefused(InvalidInput):
    message = "The logo must be a PNG or JPEG image of at most 256 KiB."


@dataclass(frozen=True)
class Logo:
    """A re-encoded logo: what is stored and served."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def clean(data: bytes, content_type: str) -> Logo:
    """``data`` (sent as ``content_type``) decoded and written anew; ``LogoRefused`` for
    anything but a PNG or JPEG of at most ``MAX_BYTES`` whose header declares at most
    ``MAX_SIDE`` pixels a side and ``MAX_PIXELS`` in all, or that fails to decode."""
    image_format = FORMATS.get(content_type)
    if image_format is None:
        raise LogoRefused("The logo must be a PNG or JPEG image (image/png or image/jpeg).")
    if not data:
        raise LogoRefused("The logo is empty.")
    if len(data) > MAX_BYTES:
        raise LogoRefused(f"The logo must be at most {MAX_BYTES // 1024} KiB.")
    width, height = declared_size(data, image_format)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise LogoRefused(
            f"The logo may be at most {MAX_SIDE} pixels a side and {MAX_PIXELS:,} pixels in all."
        )
    try:
        return _reencode(data, image_format, content_type)
    except LogoRefused:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise LogoRefused(f"The logo could not be read as a {image_format} image.") from None


def declared_size(data: bytes, image_format: str) -> tuple[int, int]:
    """Width and height as the file's header declares them, read without decoding anything;
    ``LogoRefused`` when the bytes are not a file of ``image_format`` (an HTML page or an SVG
    with the type of a PNG)."""
    if image_format == "PNG":
        if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
            raise LogoRefused("The file is not a PNG image.")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(_JPEG_SIGNATURE):
        raise LogoRefused("The file is not a JPEG image.")
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            break
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            index += 2
            continue
        if marker in _SOF_MARKERS and index + 9 <= len(data):
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            break
        index += 2 + int.from_bytes(data[index + 2 : index + 4], "big")
    raise LogoRefused("The file is not a JPEG image.")


def _reencode(data: bytes, image_format: str, content_type: str) -> Logo:
    with Image.open(io.BytesIO(data), formats=[image_format]) as opened:
        width, height = opened.size
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise LogoRefused("The logo's header and its size disagree.")
        if getattr(opened, "n_frames", 1) != 1:
            raise LogoRefused("An animated image cannot be a logo.")
        opened.load()
        upright = ImageOps.exif_transpose(opened)
    transparent = upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in upright.info
    )
    mode = "RGBA" if image_format == "PNG" and transparent else "RGB"
    pixels = upright.convert(mode)
    pixels.thumbnail((STORED_MAX_SIDE, STORED_MAX_SIDE), Image.Resampling.LANCZOS)
    # A new image from the pixels alone: no text, EXIF, comment or profile of the upload's
    # ``info`` can reach the saved file.
    fresh = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if image_format == "PNG":
        fresh.save(out, "PNG", optimize=True)
    else:
        fresh.save(out, "JPEG", quality=90, optimize=True)
    return Logo(out.getvalue(), content_type, fresh.width, fresh.height)
