"""Decode a file into the upright RGB pixels every model sees."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps


class DecodeError(ValueError):
    """The pixel data of a file that passed the header check is broken."""


def _rgb_array(img: Image.Image) -> np.ndarray:
    """The pixels as RGB ``uint8``, converting (a full copy) only when not RGB already."""
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


_NOMINAL_RANGES = {"I": (255.0, 65535.0), "F": (1.0, 255.0, 65535.0)}


def is_wide_gray(img: Image.Image) -> bool:
    """A single band wider than 8 bits: 16-bit, 32-bit integer or float."""
    return img.mode.startswith("I;16") or img.mode in _NOMINAL_RANGES


def wide_gray8(img: Image.Image) -> np.ndarray:
    """``uint8`` samples of a 16-bit, 32-bit integer or float single-band image.

    Each is scaled by the smallest conventional range that holds its samples (0..255 or
    0..65535, and 0..1 for floats), because such files are 8- or 16-bit photos widened or
    normalised (a 16-bit PNG written from 8-bit data keeps 0..255); only samples outside those
    ranges (negative or
    beyond 16 bits, e.g. raw sensor or scientific data) are stretched from min(0, minimum) to
    maximum. Pillow's ``convert("L")`` would clip them instead (a 16-bit photo turns white).
    """
    values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, top = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    nominal = _NOMINAL_RANGES["I" if img.mode.startswith("I;16") else img.mode]
    ranges = [r for r in nominal if low >= 0.0 and top <= r]
    low, high = (0.0, ranges[0]) if ranges else (low, max(top, low + 1.0))
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode to an upright (EXIF-rotated) RGB ``uint8`` array; the first frame of animations.

    Transparent pixels are composited on white; CMYK, palette, grayscale, 16-bit, 32-bit and
    float images are converted (wide samples scaled by :func:`wide_gray8`). Raises :class:`DecodeError` with a readable reason for truncated or corrupt data.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size[0] * img.size[1] > max_pixels:
                raise DecodeError(f"too many pixels ({img.size[0]}x{img.size[1]})")
            img.seek(0)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no copy when upright
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(canvas, rgba)
            elif is_wide_gray(img):  # scaled as the perceptual hash scales it
                img = Image.fromarray(wide_gray8(img), mode="L")
            return _rgb_array(img)
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"cannot decode image data: {exc}") from exc
    except Exception as exc:  # a decoder plugin failing is bad input too, never a crashed run
        raise DecodeError(f"cannot decode image data ({type(exc).__name__}: {exc})") from exc


def decode_for_models(
    data: bytes, max_pixels: int, max_side: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode for the models: JPEGs at a reduced DCT scale when much larger than ``max_side``.

    Returns the upright RGB pixels and the upright size ``(width, height)`` of the full image, so
    boxes found on the smaller pixels can be mapped back to the original's pixels. Only JPEG
    supports draft decoding; other formats decode in full.
    """
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            fmt = probe.format
    except Exception as exc:
        raise DecodeError(f"cannot decode image data ({type(exc).__name__}: {exc})") from exc
    if fmt != "JPEG" or max(w, h) <= 2 * max_side:
        # decoded in full and upright; no EXIF probe first (a PNG's loads the whole image)
        pixels = decode_rgb(data, max_pixels)
        return pixels, (pixels.shape[1], pixels.shape[0])
    try:
        with Image.open(io.BytesIO(data)) as img:
            if w * h > max_pixels:
                raise DecodeError(f"too many pixels ({w}x{h})")
            orientation = int(img.getexif().get(0x0112, 1) or 1)
            full = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            img.draft("RGB", (max_side, max_side))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no copy when upright
            return _rgb_array(img), full
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"cannot decode image data ({type(exc).__name__}: {exc})") from exc
