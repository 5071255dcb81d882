"""The ``colors`` and ``tags`` suites: a computed day passes, each tampered value is caught with
its column named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date

import cv2
import numpy as np
import pyarrow as pa
import pytest

from row_builders import det_row, image_row
from trendscope.quality.context import suite_context
from trendscope.quality.gate import validate_partition
from trendscope.tables.schemas import COLORS, IMAGES, TAGS, relaxed, to_table
from trendscope.vision.colours import dominant_colours
from trendscope.vision.tags import day_tags

DAY = date(2026, 11, 2)
IDS = [f"{i:064x}" for i in range(1, 4)]


def _bag(colour: tuple[int, int, int]) -> np.ndarray:
    img = np.full((480, 640, 3), (30, 60, 200), np.uint8)
    cv2.ellipse(img, (320, 260), (140, 110), 0, 0, 360, colour, -1)
    cv2.ellipse(img, (320, 260), (140, 110), 0, 30, 150, tuple(c * 3 // 4 for c in colour), -1)
    return img


def _day() -> tuple[pa.Table, list[dict], list[dict], list[dict]]:
    """Images, detections, colours and tags of a small day, computed by the real functions."""
    images = [
        image_row(i, date=DAY, width=640, height=480, scene="food", scene_confidence=0.6)
        for i in IDS
    ]
    box = {"x1": 170.0, "y1": 140.0, "x2": 470.0, "y2": 380.0}
    dets = [
        det_row(IDS[0], 0, "handbag", "purse", date=DAY, **box),
        det_row(IDS[1], 0, "handbag", "tote", date=DAY, **box),
        det_row(IDS[1], 1, "person", date=DAY, x1=0.0, y1=0.0, x2=100.0, y2=400.0),
    ]
    colors = []
    for det, colour in zip(dets[:2], [(200, 20, 30), (240, 210, 30)], strict=True):
        for c in dominant_colours(_bag(colour), (box["x1"], box["y1"], box["x2"], box["y2"])):
            colors.append(
                {
                    "image_id": det["image_id"],
                    "location": "shibuya",
                    "date": DAY,
                    "detection": det["detection"],
                    "label": det["label"],
                    **asdict(c),
                }
            )
    return to_table(IMAGES, images), dets, colors, day_tags(images, dets)


def _validate(config, contract, rows, images):
    ctx = suite_context(config, contract.name, "shibuya", DAY.isoformat())
    table = relaxed(to_table(contract, rows))
    return validate_partition(config, contract, table, ctx, area="staging", images=images)


def test_computed_colors_and_tags_pass(config) -> None:
    images, _, colors, tags = _day()
    assert {c["family"] for c in colors if c["rank"] == 1} == {"red", "yellow"}
    assert {(t["tag"], t["kind"]) for t in tags} >= {("handbag", "object"), ("food", "scene")}
    for contract, rows in ((COLORS, colors), (TAGS, tags)):
        report = _validate(config, contract, rows, images)
        assert report.success, report.summary()
        assert report.evaluated >= 12


def _first(rows: list[dict], **where) -> dict:
    return next(r for r in rows if all(r[k] == v for k, v in where.items()))


COLOR_TAMPERS: list[tuple[str, Callable[[list[dict]], None], str]] = [
    ("fraction > 1", lambda rows: _first(rows, rank=1).update(fraction=1.3), "fraction"),
    ("L out of range", lambda rows: _first(rows, rank=1).update(L=130.0), "L"),
    ("a out of range", lambda rows: _first(rows, rank=2).update(a=-300.0), "a"),
    ("unknown family", lambda rows: _first(rows, rank=1).update(family="teal"), "family"),
    ("rank gap", lambda rows: _first(rows, rank=2).update(rank=7), "rank_gap"),
    ("duplicate rank", lambda rows: rows.append(dict(_first(rows, rank=1))), "rank"),
    (
        "fractions do not sum to 1",
        lambda rows: _first(rows, rank=2).update(fraction=_first(rows, rank=2)["fraction"] / 2),
        "fraction_sum_gap",
    ),
    (
        "rank order against fraction",
        lambda rows: [
            r.update(rank=3 - r["rank"])
            for r in rows
            if r["rank"] in (1, 2) and r["image_id"] == IDS[0]
        ],
        "fraction_rise",
    ),
    ("bad hex", lambda rows: _first(rows, rank=1).update(hex="red"), "hex"),
    ("not a target", lambda rows: _first(rows, rank=1).update(label="person"), "label"),
    ("unknown image", lambda rows: _first(rows, rank=1).update(image_id="e" * 64), "image_width"),
]


@pytest.mark.parametrize(
    ("what", "tamper", "column"), COLOR_TAMPERS, ids=[t[0] for t in COLOR_TAMPERS]
)
def test_tampered_colors_are_caught(config, what, tamper, column) -> None:
    images, _, colors, _ = _day()
    tamper(colors)
    report = _validate(config, COLORS, colors, images)
    assert not report.success, what
    assert column in {f.column for f in report.failures} or any(
        column in (f.description or "") or column in f.expectation for f in report.failures
    ), report.summary()


TAG_TAMPERS: list[tuple[str, Callable[[list[dict]], None], str]] = [
    ("importance > 1", lambda rows: _first(rows, rank=1).update(importance=1.5), "importance"),
    ("negative area", lambda rows: _first(rows, rank=1).update(area_share=-0.1), "area_share"),
    ("unknown kind", lambda rows: _first(rows, rank=1).update(kind="colour"), "kind"),
    (
        "top tag below 1",
        lambda rows: [
            r.update(importance=r["importance"] * 0.5) for r in rows if r["image_id"] == IDS[0]
        ],
        "top_importance_gap",
    ),
    ("rank gap", lambda rows: _first(rows, rank=2).update(rank=5), "rank_gap"),
    ("unknown object tag", lambda rows: _first(rows, kind="object").update(tag="unicorn"), "tag"),
    (
        "unknown fine tag",
        lambda rows: _first(rows, kind="fine").update(tag="handbag/clutch"),
        "tag",
    ),
    ("scene other", lambda rows: _first(rows, kind="scene").update(tag="other"), "tag"),
    ("not an ok image", lambda rows: _first(rows, rank=1).update(image_id="e" * 64), "image_width"),
]


@pytest.mark.parametrize(("what", "tamper", "column"), TAG_TAMPERS, ids=[t[0] for t in TAG_TAMPERS])
def test_tampered_tags_are_caught(config, what, tamper, column) -> None:
    images, _, _, tags = _day()
    tamper(tags)
    report = _validate(config, TAGS, tags, images)
    assert not report.success, what
    assert column in {f.column for f in report.failures}, report.summary()
