"""`trendscope explain`: the evidence behind a trends_daily row, on a published planted rise."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from published_history import LOCATIONS, STEP_DAY, published_history
from row_builders import det_row, image_row
from trendscope.cli import main
from trendscope.config import TrendscopeConfig, load_config
from trendscope.pipeline.trends import trends_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, TRENDS_DAILY, to_table
from trendscope.trends.calendar import window_days
from trendscope.trends.explain import (
    MAX_EXAMPLES,
    NotPublished,
    decide,
    example_images,
    explain,
)
from trendscope.trends.stats import Rules

EARLY_DAY = date(2026, 10, 1)  # the history's 4th day: 3 window days


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[TrendscopeConfig, pa.Table, pa.Table]:
    """The published history with trends of the step day (both locations) and of an early day."""
    root = tmp_path_factory.mktemp("explain")
    config = load_config(
        environ={},
        overrides={"data_dir": str(root / "data"), "source.path": str(root / "dropzone")},
    )
    images, detections = published_history(config, trend_days=[STEP_DAY])
    trends_day(config, LOCATIONS[0], EARLY_DAY)
    return config, images, detections


def _row(config: TrendscopeConfig, day: date, label: str, kind: str = "object") -> dict:
    path = partition_path(config.data_root, TRENDS_DAILY.name, "shibuya", day)
    rows = storage.read_table(path, TRENDS_DAILY).to_pylist()
    (row,) = [r for r in rows if (r["kind"], r["label"], r["fine_label"]) == (kind, label, None)]
    return row


def _on(table: pa.Table, day: date) -> pa.Table:
    mask = pc.and_(
        pc.equal(table.column("location"), "shibuya"), pc.equal(table.column("date"), day)
    )
    return table.filter(mask)


def _raw_day(images: pa.Table, detections: pa.Table, day: date, label: str) -> tuple[int, set]:
    """Ok images and the ok images showing ``label`` that day, straight from the raw rows."""
    img = _on(images, day)
    ok = set(img.filter(pc.equal(img.column("status"), "ok")).column("image_id").to_pylist())
    det = _on(detections, day)
    showing = set(det.filter(pc.equal(det.column("label"), label)).column("image_id").to_pylist())
    return len(ok), showing & ok


def test_series_and_baseline_match_the_published_row(history) -> None:
    config, images, detections = history
    e = explain(config, "shibuya", STEP_DAY, "cat")
    row = _row(config, STEP_DAY, "cat")

    assert e.trend == row["trend"] == "rising"
    assert e.row == row and e.mismatches == []
    # the day, recounted, is the published row (no authors in this history: one per image)
    assert (e.today.images, e.today.ok_images) == (row["images"], row["ok_images"])
    assert (e.today.authors, e.today.ok_authors) == (row["authors"], row["ok_authors"])
    assert e.today.share == pytest.approx(row["share"])
    # the window pooled is the row's baseline
    window = window_days(STEP_DAY, config.trends.window_days)
    assert [d.date for d in e.series] == window
    assert e.baseline.share == pytest.approx(row["baseline_share"])
    assert (e.baseline.images, e.baseline.ok_images, e.baseline.days) == (
        row["baseline_images"],
        row["baseline_ok_images"],
        row["baseline_days"],
    )
    assert e.baseline.expected_share == row["expected_share"]
    assert e.baseline.p_adjusted == row["p_adjusted"]
    # and each day equals a plain count of the raw rows
    for d in [*e.series[-5:], e.today]:
        ok, showing = _raw_day(images, detections, d.date, "cat")
        assert (d.ok_images, d.images, d.published) == (ok, len(showing), True)
    # the rule names the thresholds that made it rising
    assert e.rule.startswith("rising: p_adjusted ")
    assert "< alpha 0.05" in e.rule and ">= min_authors 5" in e.rule
    assert e.baseline.dispersion_estimated and e.baseline.weekday_effect is not None
    assert e.baseline.weekday_note.startswith("4 Mon days in the window")


def test_examples_really_show_the_label(history) -> None:
    config, images, detections = history
    e = explain(config, "shibuya", STEP_DAY, "cat")
    _, showing = _raw_day(images, detections, STEP_DAY, "cat")
    assert 0 < len(e.examples) == MAX_EXAMPLES < len(showing)
    assert {x.image_id for x in e.examples} <= showing
    det = _on(detections, STEP_DAY)
    best = {
        r["image_id"]: r["confidence_max"]
        for r in det.filter(pc.equal(det.column("label"), "cat"))
        .group_by("image_id")
        .aggregate([("confidence", "max")])
        .to_pylist()
    }
    confidences = [x.confidence for x in e.examples]
    assert confidences == sorted(confidences, reverse=True)
    assert confidences == pytest.approx([best[x.image_id] for x in e.examples])
    # the top confidences of the day (every image has its own author here)
    assert confidences[0] == pytest.approx(max(best.values()))
    uris = dict(
        zip(
            images.column("image_id").to_pylist(),
            images.column("source_uri").to_pylist(),
            strict=True,
        )
    )
    assert all(x.source_uri == uris[x.image_id] for x in e.examples)

    scene = explain(config, "shibuya", STEP_DAY, "food", kind="scene")
    img = _on(images, STEP_DAY)
    food = set(img.filter(pc.equal(img.column("scene"), "food")).column("image_id").to_pylist())
    assert scene.examples and {x.image_id for x in scene.examples} <= food


def test_a_stable_label_and_a_short_window(history) -> None:
    config, _, _ = history
    e = explain(config, "shibuya", STEP_DAY, "person")
    assert e.trend == "stable"
    p = _row(config, STEP_DAY, "person")["p_adjusted"]
    assert e.rule == f"stable: p_adjusted {p:.2g} >= alpha 0.05" and p >= 0.05

    early = explain(config, "shibuya", EARLY_DAY, "dog")
    assert [d.published for d in early.series].count(True) == 3  # the history starts 09-28
    assert early.baseline.days == 3 and early.mismatches == []
    assert not early.baseline.dispersion_estimated
    assert "fewer than min_dispersion_units 7" in early.baseline.dispersion_note
    assert early.baseline.weekday_effect is None
    assert early.baseline.weekday_note == (
        "none: 0 same-weekday (Thu) days in the window, fewer than weekly_min_weeks 3"
    )


_ROW = {
    "ok_images": 300,
    "baseline_ok_images": 5000,
    "images": 60,
    "baseline_images": 500,
    "authors": 40,
    "top_author_share": 0.1,
    "delta": 0.1,
    "p_adjusted": 0.001,
}


@pytest.mark.parametrize(
    ("change", "trend", "reason"),
    [
        (
            {},
            "rising",
            "p_adjusted 0.001 < alpha 0.05, delta +0.100 >= min_delta 0.02, 40 authors >= "
            "min_authors 5, top_author_share 0.10 <= 0.5",
        ),
        (
            {"authors": 1, "top_author_share": 1.0},
            "stable",
            "p_adjusted 0.001 < alpha 0.05 and delta +0.100, but rising needs >= 5 authors: "
            "1 author; rising needs top_author_share <= 0.5: 1.00",
        ),
        (
            {"top_author_share": 0.6},
            "stable",
            "p_adjusted 0.001 < alpha 0.05 and delta +0.100, but rising needs "
            "top_author_share <= 0.5: 0.60",
        ),
        ({"p_adjusted": 0.21}, "stable", "p_adjusted 0.21 >= alpha 0.05"),
        ({"delta": 0.01}, "stable", "|delta| 0.010 < min_delta 0.02"),
        (
            {"delta": -0.1},
            "falling",
            "p_adjusted 0.001 < alpha 0.05, delta -0.100 <= -min_delta 0.02",
        ),
        ({"ok_images": 12}, "insufficient", "12 ok images that day < min_images 20"),
        (
            {"baseline_ok_images": 30},
            "insufficient",
            "30 ok images in the window < min_baseline_images 50",
        ),
        (
            {"baseline_images": 0, "images": 2, "authors": 2},
            "insufficient",
            "not seen in the window, and new needs >= 5 images: 2, >= 3 authors: 2",
        ),
        (
            {"baseline_images": 0, "images": 9, "authors": 4},
            "new",
            "not seen in the window; 9 images >= new_min_images 5, 4 authors >= "
            "new_min_authors 3, p_adjusted 0.001 < alpha 0.05 against the detector's "
            "false-positive floor",
        ),
        (
            {"p_adjusted": None, "delta": None},
            "stable",
            "not tested: no baseline share or no authors posting ok images that day",
        ),
    ],
)
def test_decide_names_the_rule_classify_trend_applied(change, trend, reason) -> None:
    assert decide(_ROW | change, Rules()) == (trend, reason)


def test_examples_prefer_distinct_authors_then_confidence() -> None:
    images = to_table(
        IMAGES,
        [
            image_row("a1", author="ann"),
            image_row("a2", author="ann"),
            image_row("b1", author="bob"),
            image_row("n1"),  # unknown author: an author of its own
            image_row("n2"),
            image_row("q1", status="quarantined", author="cat"),
        ],
    )
    detections = to_table(
        DETECTIONS,
        [
            det_row("a1", 0, "cat", "tabby", confidence=0.9, fine_confidence=0.4),
            det_row("a1", 1, "cat", "other", confidence=0.5, fine_confidence=0.9),
            det_row("a2", 0, "cat", "tabby", confidence=0.8, fine_confidence=0.8),
            det_row("b1", 0, "cat", confidence=0.5),
            det_row("n1", 0, "cat", confidence=0.3),
            det_row("n2", 0, "cat", confidence=0.2),
            det_row("n2", 1, "dog", confidence=0.99),
            det_row("q1", 0, "cat", confidence=0.99),  # not an ok image
        ],
    )

    def ids(*args, **kw) -> list[str]:
        return [x.image_id for x in example_images(images, detections, *args, **kw)]

    assert ids("object", "cat") == ["a1", "b1", "n1", "n2", "a2"]
    assert ids("object", "cat", limit=2) == ["a1", "b1"]
    assert ids("object", "cat", "tabby") == ["a2", "a1"]  # same author: by fine confidence
    assert ids("object", "dog") == ["n2"]
    assert ids("object", "bird") == []
    best = example_images(images, detections, "object", "cat")[0]
    assert (best.author, best.source_uri) == ("ann", "/drop/a1.jpg")
    assert best.confidence == pytest.approx(0.9)


def test_cli_prints_the_explanation(history, capsys) -> None:
    config, images, detections = history
    args = ["explain", "--location", "shibuya", "--date", STEP_DAY.isoformat()]
    args += ["--data-dir", config.data_root]
    assert main([*args, "--label", "cat"]) == 0
    out = capsys.readouterr().out
    e = explain(config, "shibuya", STEP_DAY, "cat")
    assert "cat at shibuya on 2026-11-02 (Mon): rising" in out
    assert f"  rule: {e.rule}\n" in out
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("date "))
    assert lines[header].split() == [
        "date",
        "day",
        "ok_images",
        "images",
        "share",
        "ok_authors",
        "authors",
        "author_share",
        "note",
    ]
    day = STEP_DAY - timedelta(days=1)
    ok, showing = _raw_day(images, detections, day, "cat")
    line = next(ln for ln in lines if ln.startswith(day.isoformat())).split()
    assert line[:4] == [day.isoformat(), "Sun", str(ok), str(len(showing))]
    judged = next(ln for ln in lines if ln.startswith(STEP_DAY.isoformat())).split()
    assert judged[3] == str(e.row["images"]) and judged[-2:] == ["<-", "judged"]
    assert "baseline_share  " in out and "expected_share  " in out and "p_adjusted  " in out
    for x in e.examples:
        assert x.source_uri in out

    assert main([*args, "--label", "cat", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trend"] == "rising" and data["row"]["images"] == e.row["images"]
    assert len(data["series"]) == config.trends.window_days and len(data["examples"]) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--label", "kat"],
            "error: --label: no object label 'kat' at shibuya on 2026-11-02; closest: cat",
        ),
        (["--label", "food"], "('food' is a scene: use --kind scene)"),
        (
            ["--label", "cat", "--fine-label", "siamese"],
            "fine labels of cat that day: tabby, other",
        ),
        (
            ["--label", "cat", "--date", "2026-12-01"],
            "error: --date: no trends_daily for shibuya on 2026-12-01",
        ),
        (["--label", "cat", "--location", "nowhere"], "location 'nowhere' is not configured"),
    ],
)
def test_cli_unknown_label_date_or_location_exit_2(history, capsys, args, message) -> None:
    config, _, _ = history
    base = {"--location": "shibuya", "--date": STEP_DAY.isoformat(), "--data-dir": config.data_root}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    assert main(["explain", *(x for kv in base.items() for x in kv)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_label_raises_naming_the_field(history) -> None:
    config, _, _ = history
    with pytest.raises(NotPublished) as caught:
        explain(config, "shibuya", STEP_DAY, "dgo")
    assert caught.value.field == "label" and "closest: dog" in str(caught.value)
