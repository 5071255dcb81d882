"""Importance-weighted shares and colour rows, counted from image-level rows."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from trendscope.trends.counting import daily_counts, with_weighted_share
from trendscope.vision.tags import day_tags

DAY = date(2026, 11, 5)


def _day() -> tuple[pa.Table, pa.Table, pa.Table]:
    """Four ok images and a duplicate: two show a handbag (one red, one blue, and image b two
    handbags, red and blue), one a cup; a scene on two."""
    ids = ["a", "b", "c", "d", "e"]
    images = [
        {"image_id": i, "location": "x", "date": DAY, "status": "ok" if i != "e" else "duplicate",
         "width": 100, "height": 100, "scene": s, "scene_confidence": 0.5, "author": f"u{k}",
         "model_sha256": "m"}
        for k, (i, s) in enumerate(zip(ids, ["food", None, "food", None, "food"], strict=True))
    ]  # fmt: skip
    box = {"confidence": 0.8, "x1": 10.0, "y1": 10.0, "x2": 90.0, "y2": 90.0}
    dets = [
        {"image_id": "a", "detection": 0, "label": "handbag", "fine_label": "purse",
         "fine_confidence": 0.5, "colour": "red", **box},
        {"image_id": "b", "detection": 0, "label": "handbag", "fine_label": "tote",
         "fine_confidence": 0.5, "colour": "red", **box},
        {"image_id": "b", "detection": 1, "label": "handbag", "fine_label": "tote",
         "fine_confidence": 0.5, "colour": "blue", **box},
        {"image_id": "c", "detection": 0, "label": "cup", "fine_label": None,
         "fine_confidence": None, "colour": None, **box},
        {"image_id": "e", "detection": 0, "label": "handbag", "fine_label": "purse",
         "fine_confidence": 0.5, "colour": "red", **box},
    ]  # fmt: skip
    for d in dets:
        d.update(location="x", date=DAY, model_sha256="m")
    tags = pa.Table.from_pylist(day_tags(images, dets))
    return pa.Table.from_pylist(images), pa.Table.from_pylist(dets), tags


def test_colour_rows_count_objects_by_dominant_family() -> None:
    images, dets, _ = _day()
    rows = {
        (r["kind"], r["label"]): r
        for r in daily_counts(images, dets).to_pylist()
        if r["fine_label"] is None
    }
    assert rows[("colour", "handbag/red")]["images"] == 2  # a and b; e is a duplicate
    assert rows[("colour", "handbag/red")]["objects"] == 2
    assert rows[("colour", "handbag/blue")]["images"] == 1
    assert rows[("colour", "handbag/red")]["share"] == pytest.approx(2 / 4)
    assert rows[("object", "handbag")]["images"] == 2
    assert ("colour", "cup/None") not in rows and not any(k[1].startswith("cup/") for k in rows)


def test_weighted_share_sums_importance_over_ok_images() -> None:
    images, dets, tags = _day()
    counts = daily_counts(images, dets)
    weighted = {
        (r["kind"], r["label"], r["fine_label"]): r
        for r in with_weighted_share(counts, images, dets, tags).to_pylist()
    }
    imp = {(t["image_id"], t["kind"], t["tag"]): t["importance"] for t in tags.to_pylist()}
    handbag = weighted[("object", "handbag", None)]
    expected = (imp[("a", "object", "handbag")] + imp[("b", "object", "handbag")]) / 4
    assert handbag["weighted_share"] == pytest.approx(expected)
    assert handbag["weighted_share"] <= handbag["share"]
    # the colour row weighs each image by its target's importance there
    red = weighted[("colour", "handbag/red", None)]
    assert red["weighted_share"] == pytest.approx(expected)
    tote = weighted[("object", "handbag", "tote")]
    assert tote["weighted_share"] == pytest.approx(imp[("b", "fine", "handbag/tote")] / 4)
    food = weighted[("scene", "food", None)]
    assert food["weighted_share"] == pytest.approx(
        (imp[("a", "scene", "food")] + imp[("c", "scene", "food")]) / 4
    )
    assert all(0.0 <= r["weighted_share"] <= r["share"] + 1e-12 for r in weighted.values())
