from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from row_builders import det_row, image_row
from trendscope.tables.schemas import DETECTIONS, IMAGES, to_table
from trendscope.trends.calendar import period_key, period_start
from trendscope.trends.counting import ROLLUP_SCHEMA, daily_counts, ok_counts, rollup
from trendscope.trends.synthetic import synthetic_history


def _rows(table: pa.Table) -> dict[tuple, dict]:
    assert table.schema.equals(ROLLUP_SCHEMA)
    return {
        (r["location"], r["period"], r["kind"], r["label"], r["fine_label"]): r
        for r in table.to_pylist()
    }


@pytest.mark.parametrize(
    ("day", "period", "key", "start"),
    [
        (date(2026, 12, 28), "week", "2026-W53", date(2026, 12, 28)),
        (date(2027, 1, 3), "week", "2026-W53", date(2026, 12, 28)),
        (date(2027, 1, 4), "week", "2027-W01", date(2027, 1, 4)),
        (date(2026, 1, 1), "week", "2026-W01", date(2025, 12, 29)),
        (date(2027, 1, 3), "month", "2027-01", date(2027, 1, 1)),
        (date(2026, 12, 31), "month", "2026-12", date(2026, 12, 1)),
        (date(2026, 12, 31), "day", "2026-12-31", date(2026, 12, 31)),
    ],
)
def test_period_keys(day: date, period: str, key: str, start: date) -> None:
    assert period_key(day, period) == key
    assert period_start(key) == start
    images = to_table(IMAGES, [image_row("a", date=day)])
    dets = to_table(DETECTIONS, [det_row("a", 0, "cat", date=day)])
    (row,) = rollup(images, dets, period).to_pylist()  # SQL and Python agree
    assert (row["period"], row["period_start"]) == (key, start)


def _year_end() -> tuple[pa.Table, pa.Table]:
    """Images across the 2026-W53 / 2027-W01 boundary, with duplicates and quarantines."""
    d = [date(2026, 12, 28), date(2027, 1, 3), date(2027, 1, 4)]
    images = [
        image_row("a", date=d[0], scene="street"),
        image_row("b", date=d[0]),
        image_row("c", date=d[1], scene="street"),
        image_row("a", date=d[1], status="duplicate", source_uri="/drop/a2.jpg"),
        image_row("q", date=d[1], status="quarantined"),
        image_row("e", date=d[2]),
    ]
    dets = [
        det_row("a", 0, "cat", "tabby", date=d[0]),  # two cats in one image
        det_row("a", 1, "cat", "other", date=d[0]),
        det_row("b", 0, "person", date=d[0]),
        det_row("c", 0, "cat", "tabby", date=d[1]),
        det_row("q", 0, "dog", date=d[1]),  # not ok: ignored
        det_row("e", 0, "cat", "tabby", date=d[2]),
    ]
    return to_table(IMAGES, images), to_table(DETECTIONS, dets)


def test_weekly_rollup_by_hand() -> None:
    t = _rows(rollup(*_year_end(), "week"))
    cat = t[("shibuya", "2026-W53", "object", "cat", None)]
    assert (cat["images"], cat["objects"], cat["ok_images"], cat["days"]) == (2, 3, 3, 2)
    assert cat["share"] == pytest.approx(2 / 3) and cat["rank"] == 1
    tabby = t[("shibuya", "2026-W53", "object", "cat", "tabby")]
    assert (tabby["images"], tabby["objects"], tabby["rank"]) == (2, 2, 1)
    assert t[("shibuya", "2026-W53", "object", "cat", "other")]["rank"] == 2
    assert t[("shibuya", "2026-W53", "scene", "street", None)]["images"] == 2
    assert ("shibuya", "2026-W53", "object", "dog", None) not in t
    w01 = t[("shibuya", "2027-W01", "object", "cat", None)]
    assert (w01["images"], w01["ok_images"]) == (1, 1)


def test_monthly_rollup_by_hand() -> None:
    t = _rows(rollup(*_year_end(), "month"))
    assert t[("shibuya", "2026-12", "object", "cat", None)]["ok_images"] == 2
    jan = t[("shibuya", "2027-01", "object", "cat", None)]
    assert (jan["images"], jan["objects"], jan["ok_images"], jan["days"]) == (2, 2, 2, 2)


def test_scenes_can_be_left_out() -> None:
    t = _rows(rollup(*_year_end(), "week", include_scenes=False))
    assert not [k for k in t if k[2] == "scene"]


def test_ok_counts_include_periods_without_labels() -> None:
    images = to_table(
        IMAGES, [image_row("a", date=date(2026, 11, 2)), image_row("b", date=date(2026, 12, 2))]
    )
    dets = to_table(DETECTIONS, [det_row("a", 0, "cat", date=date(2026, 11, 2))])
    assert rollup(images, dets, "month").column("period").to_pylist() == ["2026-11"]
    counts = ok_counts(images, "month").to_pylist()
    assert [(r["period"], r["ok_images"]) for r in counts] == [("2026-11", 1), ("2026-12", 1)]


def test_daily_rollup_matches_the_daily_table() -> None:
    """``rollup(..., "day")`` and ``daily_counts`` of one day count alike."""
    images, dets = synthetic_history(
        3,
        ["shibuya"],
        80,
        {"cat": 0.3, "dog": 0.2},
        seed=1,
        fine_labels={"cat": {"tabby": 0.5}},
        scene_shares={"street": 0.5},
    )
    daily = rollup(images, dets, "day")
    cols = ["kind", "label", "fine_label", "images", "objects", "ok_images", "share", "rank"]
    for i in range(3):
        day = date(2026, 1, 1) + timedelta(days=i)
        on_day = pc.equal(images.column("date"), pa.scalar(day, pa.date32()))
        expected = daily_counts(
            images.filter(on_day),
            dets.filter(pc.equal(dets.column("date"), pa.scalar(day, pa.date32()))),
        ).select(cols)
        got = daily.filter(pc.equal(daily.column("period"), day.isoformat())).select(cols)
        assert got.to_pylist() == expected.to_pylist()


def _pandas_rollup(images: pa.Table, dets: pa.Table, period: str) -> dict[tuple, tuple]:
    """The same counts straight from the raw rows with pandas."""
    img = images.to_pandas()
    img = img[img["status"] == "ok"].copy()
    img["period"] = [period_key(d, period) for d in img["date"]]
    det = dets.to_pandas().merge(
        img[["location", "date", "image_id", "period"]], on=["location", "date", "image_id"]
    )
    ok = img.groupby(["location", "period"])["image_id"].nunique()
    out = {}
    for key, g in det.groupby(["location", "period", "label"]):
        out[(key[0], key[1], "object", key[2], None)] = (g["image_id"].nunique(), len(g))
    fine = det[det["fine_label"].notna()]
    for key, g in fine.groupby(["location", "period", "label", "fine_label"]):
        out[(key[0], key[1], "object", key[2], key[3])] = (g["image_id"].nunique(), len(g))
    for key, g in img[img["scene"].notna()].groupby(["location", "period", "scene"]):
        out[(key[0], key[1], "scene", key[2], None)] = (g["image_id"].nunique(), len(g))
    return {k: (*v, int(ok[(k[0], k[1])])) for k, v in out.items()}


@pytest.mark.parametrize("period", ["week", "month"])
def test_rollup_matches_pandas(period: str) -> None:
    images, dets = synthetic_history(
        40,
        ["shibuya", "shinjuku"],
        40,
        {"cat": 0.2, "dog": 0.1, "person": 0.5},
        steps={("shinjuku", "dog"): (20, 0.4)},
        seed=5,
        start=date(2026, 12, 10),
        fine_labels={"cat": {"tabby": 0.5, "siamese": 0.2}},
        scene_shares={"street": 0.5, "park": 0.2},
    )
    got = {
        k: (r["images"], r["objects"], r["ok_images"])
        for k, r in _rows(rollup(images, dets, period)).items()
    }
    assert got == _pandas_rollup(images, dets, period)
    assert any(k[1] == "2026-W53" for k in got) or period == "month"
    frame = pd.DataFrame(rollup(images, dets, period).to_pylist())
    assert (frame["share"] == frame["images"] / frame["ok_images"]).all()
