"""The same photo hashes alike in every pixel format the decoder accepts (16-bit, float, CMYK...).

Each variant is encoded to bytes and hashed by ``inspect_bytes``, the function the ingest step
calls, then compared with the hash of the 8-bit RGB PNG original.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import imagehash
import numpy as np
import pytest
from PIL import Image

from trendscope.config import DedupConfig, SourceConfig
from trendscope.ingest.inspect import hamming, inspect_bytes, luminance8, perceptual_hash
from trendscope.photos import sample_photo

MAX_DISTANCE = DedupConfig().max_distance
LIMITS = SourceConfig(max_pixels=4_000_000, min_side=32)
PHOTOS = ("chelsea", "grace_hopper")


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma in 0..255 as floats (the weights of Pillow's ``convert("L")``)."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, RGB or RGBA by the channel count), which Pillow cannot write."""
    height, width, channels = samples.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _gray16(rgb: np.ndarray) -> np.ndarray:
    return np.rint(_luma(rgb) * 257).astype(np.uint16)  # 255 * 257 = 65535


def _palette_with_trns(rgb: np.ndarray) -> bytes:
    img = Image.fromarray(rgb).quantize(colors=255)  # index 255 is unused: declare it transparent
    return _encode(img, "PNG", transparency=255)


VARIANTS: dict[str, tuple[str, Callable[[np.ndarray], bytes]]] = {
    # name: (the mode Pillow decodes it to, builder from the RGB uint8 photo)
    "L png": ("L", lambda rgb: _encode(Image.fromarray(rgb).convert("L"), "PNG")),
    "I;16 png": ("I;16", lambda rgb: _encode(Image.fromarray(_gray16(rgb)), "PNG")),
    "I;16 png raw": ("I;16", lambda rgb: _png16(_gray16(rgb)[..., None])),
    "I;16B tiff": (
        "I;16B",
        lambda rgb: _encode(Image.fromarray(_gray16(rgb).astype(">u2")), "TIFF"),
    ),
    "RGB 16-bit png": ("RGB", lambda rgb: _png16(rgb.astype(np.uint16) * 257)),
    "I tiff 16-bit values": (
        "I",
        lambda rgb: _encode(Image.fromarray(_gray16(rgb).astype(np.int32)), "TIFF"),
    ),
    "I tiff 8-bit values": (
        "I",
        lambda rgb: _encode(Image.fromarray(np.rint(_luma(rgb)).astype(np.int32)), "TIFF"),
    ),
    "F tiff 0..1": (
        "F",
        lambda rgb: _encode(Image.fromarray((_luma(rgb) / 255).astype(np.float32)), "TIFF"),
    ),
    "F tiff 0..255": (
        "F",
        lambda rgb: _encode(Image.fromarray(_luma(rgb).astype(np.float32)), "TIFF"),
    ),
    "P png": ("P", lambda rgb: _encode(Image.fromarray(rgb).quantize(colors=256), "PNG")),
    "P png with tRNS": ("P", _palette_with_trns),
    "LA png": ("LA", lambda rgb: _encode(Image.fromarray(rgb).convert("LA"), "PNG")),
    "RGBA png": ("RGBA", lambda rgb: _encode(Image.fromarray(rgb).convert("RGBA"), "PNG")),
    "CMYK jpeg": (
        "CMYK",
        lambda rgb: _encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95),
    ),
    "CMYK tiff": ("CMYK", lambda rgb: _encode(Image.fromarray(rgb).convert("CMYK"), "TIFF")),
}


def _ingest_hash(data: bytes) -> str:
    """The hash the ingest step stores for ``data`` (it must also pass inspection)."""
    inspection = inspect_bytes(data, LIMITS)
    assert inspection.ok, inspection.reason
    assert inspection.phash is not None
    return inspection.phash


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request: pytest.FixtureRequest) -> tuple[str, np.ndarray, str]:
    """``(name, RGB uint8 pixels, hash of the 8-bit RGB PNG original)``."""
    rgb = sample_photo(request.param)
    return request.param, rgb, _ingest_hash(_encode(Image.fromarray(rgb), "PNG"))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_format_is_a_near_duplicate_of_the_8bit_original(
    photo: tuple[str, np.ndarray, str], variant: str
) -> None:
    name, rgb, original = photo
    mode, build = VARIANTS[variant]
    data = build(rgb)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == mode  # the variant really exercises that mode
    distance = hamming(original, _ingest_hash(data))
    assert distance <= MAX_DISTANCE, (
        f"{name} as {variant}: {distance} bits from the 8-bit RGB original (max {MAX_DISTANCE})"
    )


@pytest.mark.parametrize("variant", ["I;16 png", "F tiff 0..1", "CMYK jpeg", "LA png"])
def test_a_different_photo_in_that_format_stays_far(variant: str) -> None:
    """The check above can fail: another photo in the same format is not a near-duplicate."""
    first, second = (sample_photo(name) for name in PHOTOS)
    build = VARIANTS[variant][1]
    for rgb, other in ((first, second), (second, first)):
        original = _ingest_hash(_encode(Image.fromarray(rgb), "PNG"))
        distance = hamming(original, _ingest_hash(build(other)))
        assert distance > MAX_DISTANCE, f"{variant}: distinct photos only {distance} bits apart"


def test_palette_with_alpha_is_a_near_duplicate() -> None:
    """PA has no file format Pillow writes, so its conversion is checked on the decoded image."""
    rgb = sample_photo(PHOTOS[0])
    original = _ingest_hash(_encode(Image.fromarray(rgb), "PNG"))
    pa = Image.fromarray(rgb).quantize(colors=256).convert("PA")
    distance = hamming(original, str(imagehash.phash(luminance8(pa))))
    assert distance <= MAX_DISTANCE, f"PA: {distance} bits from the 8-bit RGB original"


@pytest.mark.parametrize("hidden", [(0, 0, 0), (255, 0, 255)], ids=["black", "magenta"])
def test_transparent_pixels_hash_as_white_whatever_colour_they_hide(
    hidden: tuple[int, int, int],
) -> None:
    rgb = sample_photo(PHOTOS[0])
    margin = rgb.shape[0] // 5
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:margin, :, :3] = hidden
    rgba[:margin, :, 3] = 0
    on_white = rgb.copy()
    on_white[:margin] = 255
    expected = perceptual_hash(_encode(Image.fromarray(on_white), "PNG"))
    distance = hamming(expected, _ingest_hash(_encode(Image.fromarray(rgba), "PNG")))
    assert distance == 0, f"transparent band over {hidden}: {distance} bits from it on white"


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("I;16", np.array([[0, 32896, 65535]], np.uint16), [0, 128, 255]),
        ("I", np.array([[0, 128, 255]], np.int32), [0, 128, 255]),  # 8-bit samples widened
        ("I", np.array([[0, 32896, 65535]], np.int32), [0, 128, 255]),  # 16-bit samples
        ("I", np.array([[-50, 0, 205]], np.int32), [0, 50, 255]),  # no convention: stretched
        ("F", np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),
        ("F", np.array([[0.0, 128.0, 255.0]], np.float32), [0, 128, 255]),
        ("F", np.array([[0.0, np.nan, 1.0]], np.float32), [0, 0, 255]),
    ],
    ids=["I;16", "I-8bit", "I-16bit", "I-signed", "F-unit", "F-8bit", "F-nan"],
)
def test_wide_samples_are_scaled_not_clipped(
    mode: str, values: np.ndarray, expected: list[int]
) -> None:
    img = Image.fromarray(values)
    assert img.mode == mode
    gray = luminance8(img)
    assert gray.mode == "L"
    assert np.asarray(gray).ravel().tolist() == expected


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_the_models_see_wide_samples_as_the_hash_does(mode: str) -> None:
    """decode_rgb scales 16-bit, 32-bit and float photos like the hash: as the 8-bit original."""
    from trendscope.ingest.decode import decode_rgb

    gray = np.asarray(Image.fromarray(sample_photo("chelsea")).convert("L"), dtype=np.float64)
    wide = {"I;16": gray * 257.0, "I": gray * 257.0, "F": gray / 255.0}[mode]
    img = Image.fromarray(wide.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    buf = io.BytesIO()
    img.save(buf, format="TIFF")
    rgb = decode_rgb(buf.getvalue(), max_pixels=10**8)
    assert rgb.shape[:2] == gray.shape
    assert np.abs(rgb[..., 0].astype(np.float64) - gray).max() <= 1.0
