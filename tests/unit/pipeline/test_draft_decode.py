"""Large JPEGs decode at a reduced DCT scale, and boxes still come out in full-size pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trendscope.config import load_config
from trendscope.ingest.decode import decode_for_models, decode_rgb
from trendscope.photos import sample_photo

REPO = Path(__file__).resolve().parents[3]


def _jpeg(arr: np.ndarray, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).resize(size, Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("size", "max_side", "decoded_long_side"),
    [
        ((4000, 2660), 1280, 2000),  # 1/2 scale still covers 1280 on both sides
        ((6000, 4000), 1000, 1500),  # 1/4
        ((1200, 800), 1280, 1200),  # small enough: full decode
    ],
)
def test_draft_decode_sizes(size, max_side, decoded_long_side) -> None:
    data = _jpeg(sample_photo("chelsea"), size)
    pixels, full = decode_for_models(data, 10**9, max_side)
    assert full == size
    assert max(pixels.shape[:2]) == decoded_long_side
    assert pixels.shape[1] / pixels.shape[0] == pytest.approx(size[0] / size[1], rel=0.01)


def test_boxes_are_reported_in_full_size_pixels() -> None:
    from trendscope.models.fetch import fetch_models
    from trendscope.pipeline.analyze import Analyzer

    fetch_models(REPO / "models")
    config = load_config(environ={}, overrides={"models_dir": str(REPO / "models")})
    analyzer = Analyzer(config)
    data = _jpeg(sample_photo("coffee"), (4800, 3200))  # 15 MP
    small, full = decode_for_models(data, 10**9, 1280)
    whole = decode_rgb(data, 10**9)
    rows_small = analyzer.analyze([small], [full])[1][0]
    rows_whole = analyzer.analyze([whole])[1][0]
    cup_small = next(r for r in rows_small if r["label"] == "cup")
    cup_whole = next(r for r in rows_whole if r["label"] == "cup")
    for k in ("x1", "y1", "x2", "y2"):
        assert cup_small[k] == pytest.approx(cup_whole[k], abs=0.02 * 4800)
    assert cup_small["x2"] > 2000  # full-size coordinates, not the 2400-wide decoded ones
