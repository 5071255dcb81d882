"""Decode a file into the upright RGB pixels every model sees."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps


class DecodeError(ValueError):
    """The pixel data of a file that passed the header check is broken."""


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode to an upright (EXIF-rotated) RGB ``uint8`` array; the first frame of animations.

    Transparent pixels are composited on white; CMYK, palette, grayscale and 16-bit images are
    converted. Raises :class:`DecodeError` with a readable reason for truncated or corrupt data.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size[0] * img.size[1] > max_pixels:
                raise DecodeError(f"too many pixels ({img.size[0]}x{img.size[1]})")
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(canvas, rgba)
            elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float32)
                scale = 255.0 / max(float(arr.max()), 1.0)
                img = Image.fromarray((arr * scale).clip(0, 255).astype(np.uint8), mode="L")
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"cannot decode image data: {exc}") from exc
    except Exception as exc:  # a decoder plugin failing is bad input too, never a crashed run
        raise DecodeError(f"cannot decode image data ({type(exc).__name__}: {exc})") from exc
