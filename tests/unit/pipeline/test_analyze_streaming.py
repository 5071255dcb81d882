"""The analyze step's streaming: batches in order, a bounded number in flight, one decode."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from trendscope.ingest.decode import decode_for_models, decode_rgb
from trendscope.photos import sample_photo
from trendscope.pipeline.analyze import _in_order


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_in_order_keeps_order_and_bounds_work_in_flight(workers) -> None:
    lock = threading.Lock()
    started: list[int] = []
    seen_ahead = []

    def work(k: int) -> int:
        with lock:
            started.append(k)
        time.sleep(0.002 * (k % 3))  # later items can finish first
        return k * k

    results = []
    for r in _in_order(work, list(range(20)), workers):
        with lock:
            seen_ahead.append(len(started) - len(results))
        results.append(r)
    assert results == [k * k for k in range(20)]
    assert max(seen_ahead) <= 2 * workers


def test_in_order_raises_the_first_failure() -> None:
    def work(k: int) -> int:
        if k == 3:
            raise ValueError("bad batch")
        return k

    with pytest.raises(ValueError, match="bad batch"):
        list(_in_order(work, list(range(8)), 2))


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_png_decodes_once_with_its_upright_size(orientation) -> None:
    img = Image.fromarray(sample_photo("chelsea")).resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    pixels, full = decode_for_models(buf.getvalue(), 10**9, 64)
    assert full == ((200, 300) if orientation in (6, 8) else (300, 200))
    assert pixels.shape[:2] == (full[1], full[0])
    np.testing.assert_array_equal(pixels, decode_rgb(buf.getvalue(), 10**9))
