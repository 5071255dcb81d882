from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from trendscope.config import SourceConfig
from trendscope.ingest.decode import DecodeError, decode_rgb
from trendscope.ingest.inspect import inspect_bytes

LIMITS = SourceConfig(max_pixels=4_000_000, min_side=32)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())  # 451 x 300, a real photo


def _rotated_jpeg(photo: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    return _encode(photo, "JPEG", exif=exif.tobytes())


@pytest.mark.parametrize(
    ("make", "ok", "reason_part", "size"),
    [
        (lambda p: b"", False, "empty file", None),
        (
            lambda p: _encode(p, "JPEG")[:3000],
            False,
            "cannot decode",
            None,
        ),  # header intact, pixel data cut off
        (lambda p: b"<!DOCTYPE html><html><body>404</body></html>", False, "HTML", None),
        (lambda p: b'{"error": "rate limited"}', False, "JSON", None),
        (lambda p: b"\x00\x01garbage" * 50, False, "unrecognised", None),
        (lambda p: _encode(p.resize((1, 1)), "PNG"), False, "too small", None),
        (lambda p: _encode(Image.new("L", (3000, 3000)), "PNG"), False, "too many pixels", None),
        (lambda p: _encode(p, "PNG"), True, None, (451, 300)),
        (lambda p: _encode(p, "WEBP"), True, None, (451, 300)),
        (lambda p: _encode(p.convert("CMYK"), "JPEG"), True, None, (451, 300)),
        (_rotated_jpeg, True, None, (300, 451)),
    ],
    ids=[
        "empty",
        "truncated-jpeg",
        "html",
        "json",
        "garbage",
        "1x1",
        "pixel-bomb",
        "png",
        "webp",
        "cmyk",
        "exif-rotated",
    ],
)
def test_inspect_bytes(photo, make, ok, reason_part, size) -> None:
    data = make(photo)
    insp = inspect_bytes(data, LIMITS)
    assert insp.ok is ok
    assert len(insp.image_id) == 64
    if reason_part:
        assert reason_part in insp.reason
    if size:
        assert (insp.width, insp.height) == size


def test_decode_truncated_jpeg_raises_readable_error(photo) -> None:
    data = _encode(photo, "JPEG")
    with pytest.raises(DecodeError, match="cannot decode"):
        decode_rgb(data[: len(data) // 2], max_pixels=10**8)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "CMYK"])
def test_decode_modes_give_rgb(photo, mode) -> None:
    img = photo.convert("L").convert(mode) if mode == "I;16" else photo.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    arr = decode_rgb(_encode(img, fmt), max_pixels=10**8)
    assert arr.shape == (300, 451, 3)
    assert arr.dtype == np.uint8
    assert 40 < arr.mean() < 220  # a real picture, not a blank or saturated frame


def test_decode_applies_exif_rotation(photo) -> None:
    arr = decode_rgb(_rotated_jpeg(photo), max_pixels=10**8)
    assert arr.shape == (451, 300, 3)


def test_hostile_file_after_ultralytics_patched_pillow() -> None:
    """Ultralytics hooks Pillow to try an optional HEIF plugin; a bad file must still quarantine."""
    import ultralytics.data.utils  # noqa: F401  (installs the hook, as the ultralytics backend does)

    insp = inspect_bytes(b"<html><body>rate limited</body></html>", LIMITS)
    assert not insp.ok and insp.reason == "not an image: the file is HTML/XML text"
    insp = inspect_bytes(b"\x00\x01garbage" * 50, LIMITS)
    assert not insp.ok and insp.reason


def _animated_gif(photo: Image.Image) -> bytes:
    frames = [photo.convert("P"), photo.rotate(180).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _lying_png_header(photo: Image.Image) -> bytes:
    """A small PNG whose IHDR claims 60000 x 60000 pixels."""
    import struct
    import zlib

    data = bytearray(_encode(photo.resize((40, 40)), "PNG"))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", 60000, 60000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def _animated_webp(photo: Image.Image) -> bytes:
    buf = io.BytesIO()
    photo.save(buf, "WEBP", save_all=True, append_images=[photo.rotate(180)], duration=100)
    return buf.getvalue()


def _png16(photo: Image.Image) -> bytes:
    gray16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    return _encode(Image.fromarray(gray16), "PNG")  # a 16-bit grayscale PNG


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (_animated_gif, "ok"),
        (_animated_webp, "ok"),
        (_png16, "ok"),
        (lambda p: _encode(p.convert("RGBA"), "PNG"), "ok"),
        (lambda p: _encode(p, "TIFF"), "ok"),
        (lambda p: _encode(p.convert("L"), "JPEG"), "ok"),
        (lambda p: _encode(p.convert("P"), "PNG"), "ok"),
        (lambda p: _encode(p.convert("LA"), "PNG"), "ok"),
        (_lying_png_header, "refused before decoding"),
    ],
    ids=[
        "animated-gif",
        "animated-webp",
        "png-16bit",
        "png-alpha",
        "tiff",
        "grayscale",
        "palette-png",
        "gray-alpha-png",
        "lying-header",
    ],
)
def test_more_hostile_and_unusual_files(photo, make, expect) -> None:
    data = make(photo)
    insp = inspect_bytes(data, LIMITS)
    if expect == "ok":
        assert insp.ok, insp.reason
        arr = decode_rgb(data, max_pixels=10**8)  # first frame, upright RGB
        assert arr.shape == (300, 451, 3) and arr.dtype == np.uint8
    else:
        assert not insp.ok and expect in insp.reason
