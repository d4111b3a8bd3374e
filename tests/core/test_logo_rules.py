"""core/logo.py's rules, each at its boundary, without the app: the declared type, the byte
cap, the header's sides and pixels, the PNG header and the JPEG marker walk (read by hand-built
headers, so Pillow is not involved), then what the re-encoding keeps and changes."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from PIL import Image

from core.logo import Logo, LogoRefused, clean, declared_size

SIZE_MESSAGE = "The logo may be at most 4096 pixels a side and 4,000,000 pixels in all."
NOT_PNG = "The file is not a PNG image."
NOT_JPEG = "The file is not a JPEG image."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOI = b"\xff\xd8"


def png_header(width: int, height: int) -> bytes:
    """The signature and the IHDR chunk up to the height (24 bytes): enough for the header."""
    return PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", width, height)


def sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    """A start-of-frame segment's first 9 bytes: marker, length, precision, height, width."""
    return struct.pack(">BBHBHH", 0xFF, marker, 17, 8, height, width)


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def image(width: int, height: int, fmt: str = "PNG", mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, fmt, **save)
    return out.getvalue()


def refused(data: bytes, content_type: str) -> str:
    with pytest.raises(LogoRefused) as caught:
        clean(data, content_type)
    return caught.value.message


def stored(logo: Logo) -> Image.Image:
    opened = Image.open(io.BytesIO(logo.data))
    opened.load()
    return opened


# ---- what clean refuses before reading the header ------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["image/gif", "image/svg+xml", "text/html", "IMAGE/PNG", "image/jpg", ""]
)
def test_only_png_and_jpeg_may_be_declared(content_type: str) -> None:
    assert refused(image(4, 4), content_type) == (
        "The logo must be a PNG or JPEG image (image/png or image/jpeg)."
    )


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_empty_data_is_refused_as_empty(content_type: str) -> None:
    assert refused(b"", content_type) == "The logo is empty."


def test_exactly_max_bytes_is_accepted_and_one_more_refused() -> None:
    real = image(4, 4)
    # Bytes after IEND are ignored by the decoder and never reach the stored file.
    assert clean(real.ljust(256 * 1024, b"\0"), "image/png").width == 4
    assert refused(real.ljust(256 * 1024 + 1, b"\0"), "image/png") == (
        "The logo must be at most 256 KiB."
    )


# ---- the sides and pixels the header declares ----------------------------------------------


@pytest.mark.parametrize("size", [(0, 1), (1, 0), (0, 0), (4097, 1), (1, 4097), (2000, 2001)])
def test_a_header_out_of_bounds_is_refused_before_decoding(size: tuple[int, int]) -> None:
    # Only a header: past the size check Pillow would refuse it with another message.
    assert refused(png_header(*size) + b"\0" * 9, "image/png") == SIZE_MESSAGE
    assert refused(SOI + sof(*size) + b"\0" * 12, "image/jpeg") == SIZE_MESSAGE


@pytest.mark.parametrize("size", [(4096, 1), (1, 4096), (2000, 2000), (1, 1)])
def test_a_header_at_the_bounds_is_accepted(size: tuple[int, int]) -> None:
    logo = clean(image(*size, mode="L"), "image/png")
    assert (logo.width, logo.height) == tuple(
        round(side * min(1, 512 / max(size))) or 1 for side in size
    )


@pytest.mark.parametrize("size", [(4097, 1), (1, 4097), (2000, 2001)])
def test_a_jpeg_whose_header_lies_about_its_size_is_refused(size: tuple[int, int]) -> None:
    # A first frame header declaring 1x1 passes the header check; Pillow takes the last one.
    real = image(*size, "JPEG", mode="L")
    lying = SOI + segment(0xC0, struct.pack(">BHHB3s", 8, 1, 1, 1, b"\x01\x11\x00")) + real[2:]
    assert declared_size(lying, "JPEG") == (1, 1)
    assert refused(lying, "image/jpeg") == "The logo's header and its size disagree."


# ---- the PNG header -------------------------------------------------------------------------


def test_png_header_sides_are_read_big_endian() -> None:
    assert declared_size(png_header(0x01020304, 0x05060708), "PNG") == (0x01020304, 0x05060708)
    assert declared_size(png_header(600, 300), "PNG") == (600, 300)


def test_png_header_of_exactly_24_bytes_is_enough_and_23_is_not() -> None:
    assert declared_size(png_header(7, 9), "PNG") == (7, 9)
    with pytest.raises(LogoRefused) as caught:
        declared_size(png_header(7, 9)[:23], "PNG")
    assert caught.value.message == NOT_PNG


@pytest.mark.parametrize(
    "data",
    [
        b"\x88" + png_header(7, 9)[1:],  # signature
        png_header(7, 9)[:12] + b"IHDX" + png_header(7, 9)[16:],  # first chunk not IHDR
        png_header(7, 9)[:12] + b"iHDR" + png_header(7, 9)[16:],
        b"<svg xmlns='http://www.w3.org/2000/svg' width='7' height='9'/>",
        SOI + sof(7, 9),  # a JPEG
    ],
)
def test_png_header_rules(data: bytes) -> None:
    with pytest.raises(LogoRefused) as caught:
        declared_size(data, "PNG")
    assert caught.value.message == NOT_PNG
    assert refused(data, "image/png") == NOT_PNG


# ---- the JPEG marker walk -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (SOI + sof(0x0102, 0x0304), (0x0102, 0x0304)),  # the frame header ends the data
        (SOI + b"\xff" + sof(7, 9), (7, 9)),  # a fill byte
        (SOI + b"\xff\xff\xff" + sof(7, 9), (7, 9)),
        (SOI + b"\xff\x01" + sof(7, 9), (7, 9)),  # markers without a length
        (SOI + b"\xff\xd0" + sof(7, 9), (7, 9)),
        (SOI + b"\xff\xd8" + sof(7, 9), (7, 9)),
        (SOI + segment(0xE0, b"JFIF\0" + sof(1000, 1000)) + sof(7, 9), (7, 9)),  # APP0
        (SOI + segment(0xE1, b"") + sof(7, 9), (7, 9)),
        (SOI + segment(0x02, b"") + sof(7, 9), (7, 9)),  # 0x02 has a length
        (SOI + segment(0xC4, sof(1000, 1000)) + sof(7, 9), (7, 9)),  # DHT is no frame
        (SOI + segment(0xC8, sof(1000, 1000)) + sof(7, 9), (7, 9)),  # JPG
        (SOI + segment(0xCC, sof(1000, 1000)) + sof(7, 9), (7, 9)),  # DAC
        (SOI + segment(0xBF, sof(1000, 1000)) + sof(7, 9), (7, 9)),
        (SOI + segment(0xDB, b"\0" * 65) + sof(7, 9, 0xC2) + b"\0" * 8, (7, 9)),
    ],
)
def test_jpeg_marker_walk_finds_the_frame_header(data: bytes, size: tuple[int, int]) -> None:
    assert declared_size(data, "JPEG") == size


@pytest.mark.parametrize("marker", sorted(set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}))
def test_every_start_of_frame_marker_declares_the_size(marker: int) -> None:
    assert declared_size(SOI + sof(7, 9, marker), "JPEG") == (7, 9)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00" + sof(7, 9),  # no SOI
        b"\xff\xd8\x00" + sof(7, 9),  # SOI not followed by a marker
        SOI + b"\x00\xc0" + sof(7, 9)[2:],  # a byte where a marker should be
        SOI + sof(7, 9)[:8],  # a frame header cut short
        SOI + segment(0xE0, b"JFIF\0"),  # no frame header at all
        SOI + b"\xff\xe0\x00\x10JF",  # a segment cut short
        SOI + b"\xff\xe0",
        SOI + b"\xff\xda\x00\x02" + sof(7, 9),  # start of scan before the frame header
        SOI + b"\xff\xd9\x00\x02" + sof(7, 9),  # end of image before the frame header
        SOI + b"\xff\xd9" + sof(7, 9),  # end of image has no length to skip
        SOI + b"\xff\xda" + sof(7, 9),
        b"<html><body>not a jpeg</body></html>",
        png_header(7, 9),
    ],
)
def test_jpeg_marker_walk_refuses(data: bytes) -> None:
    with pytest.raises(LogoRefused) as caught:
        declared_size(data, "JPEG")
    assert caught.value.message == NOT_JPEG


# ---- decoding and re-encoding ---------------------------------------------------------------


def test_undecodable_data_after_a_good_header_is_refused() -> None:
    assert refused(png_header(5, 5) + b"\0" * 20, "image/png") == (
        "The logo could not be read as a PNG image."
    )
    assert refused(SOI + sof(5, 5) + b"\0" * 20, "image/jpeg") == (
        "The logo could not be read as a JPEG image."
    )


def test_an_animated_png_is_refused() -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (4, 4), colour) for colour in ("red", "blue")]
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    assert refused(out.getvalue(), "image/png") == "An animated image cannot be a logo."


def test_stored_png_and_jpeg_keep_their_type_and_a_single_frame() -> None:
    png = clean(image(6, 3), "image/png")
    assert png.data.startswith(PNG_SIGNATURE)
    assert (png.content_type, png.width, png.height) == ("image/png", 6, 3)
    jpeg = clean(image(6, 3, "JPEG"), "image/jpeg")
    assert jpeg.data.startswith(b"\xff\xd8\xff")
    assert (jpeg.content_type, jpeg.width, jpeg.height) == ("image/jpeg", 6, 3)
    assert stored(jpeg).mode == "RGB"
    assert jpeg.sha256 == hashlib.sha256(jpeg.data).hexdigest()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((600, 300), (512, 256)),
        ((300, 600), (256, 512)),
        ((512, 512), (512, 512)),
        ((40, 20), (40, 20)),
    ],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_images_are_scaled_to_fit_512(
    size: tuple[int, int], expected: tuple[int, int], fmt: str
) -> None:
    logo = clean(image(*size, fmt), f"image/{fmt.lower()}")
    assert (logo.width, logo.height) == expected
    assert stored(logo).size == expected


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    data = image(20, 10, "JPEG", exif=exif.tobytes())
    logo = clean(data, "image/jpeg")
    assert (logo.width, logo.height) == (10, 20)
    assert 0x0112 not in stored(logo).getexif()


def test_transparency_is_kept_for_png() -> None:
    assert stored(clean(image(4, 4, mode="RGBA"), "image/png")).mode == "RGBA"
    assert stored(clean(image(4, 4, mode="LA"), "image/png")).mode == "RGBA"
    assert stored(clean(image(4, 4, mode="P", transparency=0), "image/png")).mode == "RGBA"
    assert stored(clean(image(4, 4, mode="L", transparency=0), "image/png")).mode == "RGBA"
    # No transparency: nothing to keep.
    assert stored(clean(image(4, 4), "image/png")).mode == "RGB"
    assert stored(clean(image(4, 4, mode="L"), "image/png")).mode == "RGB"


def test_the_stored_file_is_the_pixels_encoded_once_with_the_house_settings() -> None:
    # Optimised (smallest lossless PNG, optimised JPEG Huffman tables), JPEG at quality 90.
    upload = image(40, 20, "PNG", mode="RGBA")
    expected = io.BytesIO()
    Image.open(io.BytesIO(upload)).convert("RGBA").save(expected, "PNG", optimize=True)
    assert clean(upload, "image/png").data == expected.getvalue()
    upload = image(40, 20, "JPEG")
    expected = io.BytesIO()
    Image.open(io.BytesIO(upload)).convert("RGB").save(expected, "JPEG", quality=90, optimize=True)
    assert clean(upload, "image/jpeg").data == expected.getvalue()
