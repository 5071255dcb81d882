"""The weekly/monthly rollup step on a published history: values, pruning, and what the DAG plans."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest

from published_history import LOCATIONS, START, WEEK45, published_history
from trendscope.orchestration.dag_settings import TRENDS_DAILY_ASSET
from trendscope.orchestration.tasks import record_trends_event
from trendscope.pipeline.rollup import plan_rollups, rollup_period
from trendscope.tables import storage
from trendscope.tables.paths import partition_path, period_partition_path
from trendscope.tables.schemas import TRENDS_MONTHLY, TRENDS_WEEKLY
from trendscope.trends.calendar import next_periods, period_days, periods_touched
from trendscope.trends.rollups import compare_locations_for_period


def _direct_counts(
    images: pa.Table, detections: pa.Table, location: str, days: list[date]
) -> tuple[int, dict]:
    """Distinct ok images per label (and per fine label) over ``days``, straight from raw rows."""
    img = images.to_pandas()
    det = detections.to_pandas()
    ok = img[(img.location == location) & (img.status == "ok") & img.date.isin(days)]
    d = det.merge(ok[["image_id", "date", "location"]], on=["image_id", "date", "location"])
    per_label = d.groupby("label").image_id.nunique().to_dict()
    per_fine = d.dropna(subset=["fine_label"]).groupby(["label", "fine_label"]).image_id.nunique()
    counts = {(label, None): n for label, n in per_label.items()}
    counts |= {key: n for key, n in per_fine.to_dict().items()}
    return ok.image_id.nunique(), counts


@pytest.mark.parametrize(
    ("period", "contract", "days"),
    [("2026-W45", TRENDS_WEEKLY, WEEK45), ("2026-11", TRENDS_MONTHLY, period_days("2026-11"))],
)
def test_rollup_partition_matches_a_direct_count(config, period, contract, days) -> None:
    images, detections = published_history(config)
    result = rollup_period(config, "shibuya", period)
    path = period_partition_path(config.data_root, contract.name, "shibuya", period)
    assert result.outputs[0] == path
    assert result.outputs[1].endswith(".json") and "/quality/results/" in result.outputs[1]
    table = storage.read_table(path, contract)
    rows = {(r["label"], r["fine_label"]): r for r in table.to_pylist() if r["kind"] == "object"}
    ok, expected = _direct_counts(images, detections, "shibuya", days)
    assert {k: r["images"] for k, r in rows.items() if r["images"]} == expected
    assert {r["ok_images"] for r in table.to_pylist()} == {ok}
    assert {r["period"] for r in table.to_pylist()} == {period}
    published = {d for d in days if d <= WEEK45[-1]}
    assert {r["days"] for r in table.to_pylist()} == {len(published)}
    assert rows[("cat", None)]["trend"] == "rising"
    assert rows[("cat", None)]["share"] == pytest.approx(expected[("cat", None)] / ok)
    assert rows[("person", None)]["trend"] == "stable"


def test_weekly_baseline_is_the_four_weeks_before(config) -> None:
    images, detections = published_history(config)
    table = storage.read_table(rollup_period(config, "shibuya", "2026-W45").outputs[0])
    cat = next(r for r in table.to_pylist() if r["label"] == "cat" and r["fine_label"] is None)
    window = [d for w in ("2026-W41", "2026-W42", "2026-W43", "2026-W44") for d in period_days(w)]
    # distinct images are summed per week, so summing days (no image spans two days) is exact
    ok, expected = _direct_counts(images, detections, "shibuya", window)
    assert cat["baseline_periods"] == 4
    assert cat["baseline_ok_images"] == ok
    assert cat["baseline_images"] == expected[("cat", None)]
    assert 0.05 < cat["baseline_share"] < 0.15 and cat["share"] > 0.35


def test_rollup_reads_only_the_period_and_its_baseline(config, monkeypatch) -> None:
    published_history(config)
    before = storage.read_table(rollup_period(config, "shibuya", "2026-W45").outputs[0])
    # week 40 is outside week 45's baseline (weeks 41-44); brooklyn is another location
    for path in (
        partition_path(config.data_root, "images", "shibuya", START),
        partition_path(config.data_root, "detections", "shibuya", START),
        partition_path(config.data_root, "images", "brooklyn", WEEK45[0]),
    ):
        storage.write_bytes_atomic(b"not parquet", path)
    read: list[str] = []
    real_read = storage.read_table
    monkeypatch.setattr(
        storage, "read_table", lambda path, *a, **k: read.append(path) or real_read(path, *a, **k)
    )
    after = storage.read_table(rollup_period(config, "shibuya", "2026-W45").outputs[0])
    assert after.equals(before)
    expected_days = [
        d for w in ("2026-W41", "2026-W42", "2026-W43", "2026-W44") for d in period_days(w)
    ]
    expected = {
        partition_path(config.data_root, table, "shibuya", d)
        for d in expected_days + WEEK45
        for table in ("images", "detections", "colors")  # colors: for the colour rows
    }
    assert {p for p in read if "trends_weekly" not in p} == expected
    # the monthly baseline (Aug-Oct) does include the corrupt day: it is read, and fails
    with pytest.raises(pa.ArrowInvalid, match=r"(?i)parquet"):
        rollup_period(config, "shibuya", "2026-11")


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([date(2026, 11, 1)], {"week": {"2026-W44"}, "month": {"2026-11"}}),
        ([date(2026, 11, 2), date(2026, 11, 8)], {"week": {"2026-W45"}, "month": {"2026-11"}}),
        (
            [date(2026, 12, 31), date(2027, 1, 3)],
            {"week": {"2026-W53"}, "month": {"2026-12", "2027-01"}},
        ),
        ([], {"week": set(), "month": set()}),
    ],
)
def test_periods_touched(days, expected) -> None:
    assert periods_touched(days) == expected


def test_period_paths_and_neighbours() -> None:
    assert period_partition_path("/d", "trends_weekly", "shibuya", "2026-W45") == (
        "/d/tables/trends_weekly/location=shibuya/period=2026-W45/data.parquet"
    )
    assert next_periods("2026-W52", 2) == ["2026-W53", "2027-W01"]
    assert next_periods("2026-11", 3) == ["2026-12", "2027-01", "2027-02"]
    assert period_days("2026-02")[-1] == date(2026, 2, 28) and len(period_days("2026-W45")) == 7


def test_plan_from_asset_events_refreshes_touched_and_published_later_periods(config) -> None:
    published_history(config)
    rollup_period(config, "shibuya", "2026-W45")  # published: its baseline includes week 44
    events = {
        "trends_daily": [
            SimpleNamespace(extra={"location": "shibuya", "date": "2026-10-28"}),
            SimpleNamespace(extra={"location": "brooklyn", "date": "2026-11-03"}),
            SimpleNamespace(extra={}),  # an event from elsewhere: skipped
        ]
    }
    plan = plan_rollups(config, events, {})
    assert plan == [
        {"location": "brooklyn", "period": "2026-11"},
        {"location": "brooklyn", "period": "2026-W45"},
        {"location": "shibuya", "period": "2026-10"},
        {"location": "shibuya", "period": "2026-W44"},
        {"location": "shibuya", "period": "2026-W45"},
    ]
    manual = plan_rollups(config, {}, {"date": "2026-11-05", "locations": None})
    assert {(p["location"], p["period"]) for p in manual} == {
        (loc, p) for loc in LOCATIONS for p in ("2026-W45", "2026-11")
    }


def test_record_trends_event_names_the_location_day() -> None:
    from airflow.sdk import Asset

    outlet_events: defaultdict = defaultdict(SimpleNamespace)
    context = {"outlet_events": outlet_events, "params": {"date": "2026-11-03"}}
    extra = record_trends_event(context, "shibuya")
    assert extra == {"location": "shibuya", "date": "2026-11-03"}
    assert outlet_events[Asset(TRENDS_DAILY_ASSET)].extra == extra


def test_compare_locations_for_a_period(config) -> None:
    published_history(config)
    table = compare_locations_for_period(config, "2026-W45")
    cat = {
        r["location"]: r
        for r in table.to_pylist()
        if r["kind"] == "object" and r["label"] == "cat" and r["fine_label"] is None
    }
    assert cat["shibuya"]["comparison"] == "higher" and cat["brooklyn"]["comparison"] == "lower"
    assert cat["shibuya"]["others_ok_images"] == cat["brooklyn"]["ok_images"]
    df = pd.DataFrame(table.to_pylist())
    assert set(df.period) == {"2026-W45"} and set(df.location) == set(LOCATIONS)
