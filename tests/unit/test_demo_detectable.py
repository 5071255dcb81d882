"""The demo's pasted objects are found by the real detector, so the planted trend can surface."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trendscope.config import load_config
from trendscope.demo import build_demo

REPO = Path(__file__).resolve().parents[2]
LOCATIONS = {"shibuya": "Asia/Tokyo", "brooklyn": "America/New_York"}


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def detector():
    from trendscope.models.fetch import fetch_models
    from trendscope.vision.factory import load_detector

    models_dir = REPO / "models"
    fetch_models(models_dir, names=["yolox_nano.onnx"])
    config = load_config(environ={}, overrides={"models_dir": str(models_dir)})
    return load_detector(config)


def test_pasted_cats_are_detected(tmp_path: Path, detector) -> None:
    # Days 4-5 of the trend location hold most of the cats.
    summary = build_demo(
        tmp_path / "dz",
        start=date(2026, 11, 2),
        days=5,
        posts_per_day=12,
        locations=LOCATIONS,
    )
    truth = [json.loads(line) for line in summary.ground_truth.read_text().splitlines()]
    with_cat = [
        t for t in truth if t["expect"] == "ok" and any(o["label"] == "cat" for o in t["objects"])
    ]
    assert len(with_cat) >= 15
    images = []
    for t in with_cat:
        with Image.open(summary.root / t["file"]) as im:
            images.append(np.asarray(im.convert("RGB")))
    results = detector.detect(images)

    found, missed = 0, []
    for t, det in zip(with_cat, results, strict=True):
        for obj in (o for o in t["objects"] if o["label"] == "cat"):
            hit = any(
                label == "cat" and conf >= 0.5 and _iou(list(map(float, box)), obj["box"]) >= 0.3
                for label, conf, box in zip(det.labels, det.confidence, det.xyxy, strict=True)
            )
            found += hit
            if not hit:
                missed.append(t["file"])
    total = found + len(missed)
    assert found / total >= 0.8, f"{found}/{total} cats detected; missed {missed}"
