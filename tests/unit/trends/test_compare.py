from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from trendscope.tables.schemas import DAILY_COUNTS, to_table
from trendscope.trends.calendar import previous_periods
from trendscope.trends.compare import (
    COMPARED_DAILY_SCHEMA,
    COMPARED_LOCATIONS_SCHEMA,
    COMPARED_PERIOD_SCHEMA,
    TrendParams,
    compare_locations,
    compare_periods,
    compare_with_baseline,
    trends_for_day,
)
from trendscope.trends.counting import ROLLUP_SCHEMA, ok_counts, rollup
from trendscope.trends.stats import (
    FALLING,
    HIGHER,
    INSUFFICIENT,
    NEW,
    RISING,
    STABLE,
    TRENDS,
    benjamini_hochberg,
)
from trendscope.trends.synthetic import synthetic_history

DAY = date(2026, 11, 30)
LOC = "shibuya"


def _day_rows(day: date, counts: dict[str, int], ok: int, location: str = LOC) -> list[dict]:
    """``trends_daily`` rows of label totals, ranked by images."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        {
            "location": location,
            "date": day,
            "kind": "object",
            "label": label,
            "images": n,
            "objects": n,
            "ok_images": ok,
            "share": n / ok,
            "rank": rank,
            "detector_sha256": "d" * 64,
        }
        for rank, (label, n) in enumerate(ordered, start=1)
    ]


def _history(days: dict[int, tuple[dict[str, int], int]]) -> pa.Table:
    """Rows of ``DAY - k`` for each ``k: (counts, ok_images)``."""
    rows = [r for k, (c, ok) in days.items() for r in _day_rows(DAY - timedelta(days=k), c, ok)]
    return to_table(DAILY_COUNTS, rows)


def _by_label(table: pa.Table) -> dict[str, dict]:
    return {r["label"]: r for r in table.to_pylist() if r["fine_label"] is None}


def _compare(today: dict[str, int], ok: int, history: pa.Table, ok_by_day=None, **kw) -> pa.Table:
    result = compare_with_baseline(
        to_table(DAILY_COUNTS, _day_rows(DAY, today, ok)),
        history,
        ok_by_day,
        DAY,
        TrendParams(**kw),
    )
    assert result.schema.equals(COMPARED_DAILY_SCHEMA)
    return result


# --- acceptance: a 10% -> 30% step on a known day ------------------------------------------

STEP_DAY = 30
SHARES = {"cat": 0.10, "dog": 0.20, "person": 0.50, "car": 0.30, "bicycle": 0.05}


@pytest.fixture(scope="module")
def stepped_trends() -> dict[int, pa.Table]:
    """60 days x 200 images; cat steps from 10% to 30% on day 30; compared day by day."""
    images, dets = synthetic_history(
        60,
        [LOC],
        200,
        SHARES,
        steps={(LOC, "cat"): (STEP_DAY, 0.30)},
        seed=7,
        fine_labels={"cat": {"tabby": 0.6}},
        scene_shares={"street": 0.4, "food": 0.2},
    )
    daily = rollup(images, dets, "day")
    daily = daily.append_column("date", daily.column("period_start"))
    start = date(2026, 1, 1)
    out = {}
    for i in range(1, 60):
        day = start + timedelta(days=i)
        today = daily.filter(pc.equal(daily.column("date"), pa.scalar(day, pa.date32())))
        history = daily.filter(pc.less(daily.column("date"), pa.scalar(day, pa.date32())))
        out[i] = compare_with_baseline(today, history, None, day, TrendParams())
    return out


def test_step_is_flagged_rising_within_three_days(stepped_trends: dict[int, pa.Table]) -> None:
    cat = {i: _by_label(t)["cat"]["trend"] for i, t in stepped_trends.items()}
    flagged = [i for i, trend in cat.items() if trend == RISING and i >= STEP_DAY]
    assert flagged and flagged[0] <= STEP_DAY + 3
    before = [cat[i] for i in range(1, STEP_DAY)]
    assert before.count(STABLE) / len(before) >= 0.95


def test_stable_labels_stay_stable(stepped_trends: dict[int, pa.Table]) -> None:
    for label in ("dog", "person", "car", "bicycle"):
        trends = [_by_label(t)[label]["trend"] for t in stepped_trends.values()]
        assert trends.count(STABLE) / len(trends) >= 0.95, (label, trends)
    for t in stepped_trends.values():
        scenes = [r["trend"] for r in t.to_pylist() if r["kind"] == "scene"]
        assert len(scenes) == 2


def test_results_are_sorted_and_adjusted_per_day(stepped_trends: dict[int, pa.Table]) -> None:
    t = stepped_trends[STEP_DAY]
    rows = t.to_pylist()
    order = [TRENDS.index(r["trend"]) for r in rows]
    assert order == sorted(order) and rows[0]["trend"] == RISING
    rising = [r["p_adjusted"] for r in rows if r["trend"] == RISING]
    assert rising == sorted(rising)
    p = np.array([np.nan if v is None else v for v in t.column("p_value").to_pylist()])
    np.testing.assert_allclose(t.column("p_adjusted").to_numpy(), benjamini_hochberg(p))
    assert set(t.column("baseline_days").to_pylist()) == {28}


def test_trends_for_day_from_image_rows() -> None:
    images, dets = synthetic_history(
        34, [LOC], 200, SHARES, steps={(LOC, "cat"): (STEP_DAY, 0.30)}, seed=7, empty_days={20}
    )
    day = date(2026, 1, 1) + timedelta(days=33)
    result = trends_for_day(images, dets, day)
    assert result.schema.equals(COMPARED_DAILY_SCHEMA)
    cat = _by_label(result)["cat"]
    assert cat["trend"] == RISING and cat["baseline_days"] == 27  # day 20 had no images


# --- hand-built cases -------------------------------------------------------------------------


def test_baseline_columns_by_hand() -> None:
    history = _history({k: ({"cat": 10, "dog": 20}, 100) for k in range(1, 29)})
    r = _by_label(_compare({"cat": 30, "dog": 20}, 100, history))
    cat = r["cat"]
    assert (cat["baseline_images"], cat["baseline_ok_images"], cat["baseline_days"]) == (
        280,
        2800,
        28,
    )
    assert cat["baseline_share"] == pytest.approx(0.1)
    assert cat["delta"] == pytest.approx(0.2)
    assert cat["lift"] == pytest.approx(3.0)
    assert cat["trend"] == RISING and r["dog"]["trend"] == STABLE
    assert cat["detector_sha256"] == "d" * 64


def test_rows_outside_the_window_are_ignored() -> None:
    history = _history(
        {
            **{k: ({"cat": 10}, 100) for k in range(1, 29)},
            29: ({"cat": 90}, 100),  # one day too old
            0: ({"cat": 90}, 100),  # the day itself is not its own baseline
        }
    )
    cat = _by_label(_compare({"cat": 10}, 100, history))["cat"]
    assert (cat["baseline_images"], cat["baseline_days"]) == (280, 28)
    short = _by_label(_compare({"cat": 10}, 100, history, window_days=7))["cat"]
    assert (short["baseline_images"], short["baseline_ok_images"]) == (70, 700)


@pytest.mark.parametrize(
    "ok_by_day",
    [
        None,  # gap days simply absent
        {DAY - timedelta(days=k): 0 for k in range(6, 29)},  # gap days reported with 0 images
        pa.table(
            {
                "location": [LOC] * 23,
                "date": pa.array([DAY - timedelta(days=k) for k in range(6, 29)], pa.date32()),
                "ok_images": [0] * 23,
            }
        ),
    ],
)
def test_days_without_images_do_not_pull_the_baseline_down(ok_by_day: object) -> None:
    history = _history({k: ({"cat": 10}, 100) for k in range(1, 6)})
    cat = _by_label(_compare({"cat": 10}, 100, history, ok_by_day))["cat"]
    assert cat["baseline_share"] == pytest.approx(0.1)
    assert (cat["baseline_ok_images"], cat["baseline_days"]) == (500, 5)
    assert cat["trend"] == STABLE


def test_day_with_images_but_no_label_counts_as_zero() -> None:
    history = _history({k: ({"cat": 10}, 100) for k in range(1, 6)})
    ok_by_day = {DAY - timedelta(days=6): 100}  # ok images, none showing anything
    cat = _by_label(_compare({"cat": 10}, 100, history, ok_by_day))["cat"]
    assert cat["baseline_share"] == pytest.approx(50 / 600)
    assert cat["baseline_days"] == 6


@pytest.mark.parametrize(
    ("llama", "expected"),
    [
        (1, INSUFFICIENT),  # one false-positive detection is not a new label
        (3, INSUFFICIENT),  # below new_min_images (5)
        (8, NEW),  # 8 images from 8 authors, far above the 0.5% false-positive floor
    ],
)
def test_new_label_needs_support(llama: int, expected: str) -> None:
    history = _history({k: ({"cat": 10}, 100) for k in range(1, 29)})
    r = _by_label(_compare({"cat": 10, "llama": llama}, 100, history))
    row = r["llama"]
    assert row["trend"] == expected
    assert (row["baseline_images"], row["baseline_share"], row["lift"]) == (0, 0.0, None)
    assert row["p_value"] is not None
    # a lone false positive never sorts above the labels that really moved or held
    if expected == INSUFFICIENT:
        assert r["cat"]["rank"] == 1 and row["trend"] != NEW


def test_new_label_below_the_false_positive_floor_is_insufficient() -> None:
    """6 images of 2,000 (0.3%) is within the detector's 0.5% false-positive floor."""
    history = _history({k: ({"cat": 200}, 2000) for k in range(1, 29)})
    row = _by_label(_compare({"cat": 200, "llama": 6}, 2000, history))["llama"]
    assert row["p_value"] > 0.05 and row["trend"] == INSUFFICIENT


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (5, RISING),  # 3% -> 5%: delta is exactly +min_delta
        (1, FALLING),  # 3% -> 1%: 0.01 - 0.03 = -0.019999999999999997, exactly -min_delta
    ],
)
def test_min_delta_boundary_is_symmetric(today: int, expected: str) -> None:
    """A change of exactly ``min_delta`` counts in both directions (no float asymmetry)."""
    history = _history({k: ({"cup": 30, "dog": 100}, 1000) for k in range(1, 29)})
    params = {"min_delta": 0.02, "weekly_rhythm": False}
    row = _by_label(_compare({"cup": today * 10, "dog": 100}, 1000, history, **params))["cup"]
    assert abs(row["delta"]) == pytest.approx(0.02)
    assert row["p_adjusted"] < 0.05 and row["trend"] == expected
    just_under = {"min_delta": 0.0201, "weekly_rhythm": False}
    under = _by_label(_compare({"cup": today * 10, "dog": 100}, 1000, history, **just_under))
    assert under["cup"]["trend"] == STABLE


def test_disappearing_label_is_reported_falling() -> None:
    history = _history({k: ({"cat": 30, "dog": 10, "cup": 1}, 100) for k in range(1, 29)})
    r = _by_label(_compare({"dog": 10}, 100, history))
    cat = r["cat"]
    assert (cat["images"], cat["objects"], cat["share"], cat["ok_images"]) == (0, 0, 0.0, 100)
    assert cat["trend"] == FALLING
    assert r["cup"]["trend"] == STABLE  # 1% -> 0% is no evidence
    # absent labels rank after the present ones, by name
    assert (r["dog"]["rank"], r["cat"]["rank"], r["cup"]["rank"]) == (1, 2, 3)
    assert cat["detector_sha256"] == "d" * 64


@pytest.mark.parametrize(
    ("today_ok", "history_days", "history_ok"),
    [
        (19, range(1, 29), 100),  # too few images today
        (100, range(1, 2), 49),  # too little baseline
        (100, range(0), 0),  # no baseline at all
    ],
)
def test_insufficient(today_ok: int, history_days: range, history_ok: int) -> None:
    history = _history({k: ({"cat": 5}, history_ok) for k in history_days})
    result = _compare({"cat": 15}, today_ok, history)
    assert set(result.column("trend").to_pylist()) == {INSUFFICIENT}


def test_day_without_ok_images_has_no_rows() -> None:
    history = _history({k: ({"cat": 10}, 100) for k in range(1, 29)})
    today = to_table(DAILY_COUNTS, [])
    result = compare_with_baseline(today, history, {DAY: 0}, DAY, TrendParams())
    assert result.num_rows == 0 and result.schema.equals(COMPARED_DAILY_SCHEMA)


def test_today_with_ok_images_but_no_labels() -> None:
    history = _history({k: ({"cat": 30}, 100) for k in range(1, 29)})
    result = compare_with_baseline(to_table(DAILY_COUNTS, []), history, {DAY: 100}, DAY)
    assert _by_label(result)["cat"]["trend"] == FALLING


def test_params_from_config() -> None:
    class Cfg:
        include_scenes = True
        window_days = 14
        alpha = 0.01

    assert TrendParams.from_config(Cfg()) == TrendParams(window_days=14, alpha=0.01)


# --- periods and locations ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "n", "expected"),
    [
        ("2027-W01", 2, ["2026-W53", "2026-W52"]),
        ("2026-W02", 2, ["2026-W01", "2025-W52"]),
        ("2026-01", 3, ["2025-12", "2025-11", "2025-10"]),
        ("2026-03-01", 2, ["2026-02-28", "2026-02-27"]),
    ],
)
def test_previous_periods(key: str, n: int, expected: list[str]) -> None:
    assert previous_periods(key, n) == expected


@pytest.fixture(scope="module")
def four_locations() -> tuple[pa.Table, pa.Table]:
    return synthetic_history(
        42,
        ["a", "b", "c", "d"],
        60,
        {"cat": 0.1, "dog": 0.2},
        steps={("a", "cat"): (28, 0.3)},
        seed=3,
        start=date(2026, 1, 5),  # Monday of 2026-W02: weeks W02..W07, cat steps in W06
    )


def test_compare_weeks(four_locations: tuple[pa.Table, pa.Table]) -> None:
    images, dets = four_locations
    weeks = rollup(images, dets, "week")
    current = weeks.filter(pc.equal(weeks.column("period"), "2026-W07"))
    previous = weeks.filter(pc.not_equal(weeks.column("period"), "2026-W07"))
    result = compare_periods(current, previous, TrendParams(), ok_counts(images, "week"))
    assert result.schema.equals(COMPARED_PERIOD_SCHEMA)
    rows = {(r["location"], r["label"]): r for r in result.to_pylist()}
    assert rows[("a", "cat")]["trend"] == RISING
    assert {rows[(loc, "dog")]["trend"] for loc in "abcd"} == {STABLE}
    # the baseline is the 4 weeks before W07 (W03..W06), not W02
    a_ok = {
        r["period"]: r["ok_images"]
        for r in ok_counts(images, "week").to_pylist()
        if r["location"] == "a"
    }
    cat = rows[("a", "cat")]
    assert cat["baseline_periods"] == 4
    assert cat["baseline_ok_images"] == sum(a_ok[f"2026-W0{w}"] for w in range(3, 7))
    assert (cat["period_start"], cat["days"]) == (date(2026, 2, 9), 7)


def test_compare_locations(four_locations: tuple[pa.Table, pa.Table]) -> None:
    images, dets = four_locations
    weeks = rollup(images, dets, "week")
    w6 = weeks.filter(pc.equal(weeks.column("period"), "2026-W06"))
    result = compare_locations(w6, TrendParams())
    assert result.schema.equals(COMPARED_LOCATIONS_SCHEMA)
    rows = {(r["location"], r["label"]): r for r in result.to_pylist() if r["fine_label"] is None}
    a = rows[("a", "cat")]
    assert a["comparison"] == HIGHER
    others = [r for r in w6.to_pylist() if r["location"] != "a" and r["label"] == "cat"]
    assert a["others_images"] == sum(r["images"] for r in others)
    assert a["others_ok_images"] == sum(r["ok_images"] for r in others)
    assert a["other_locations"] == 3
    assert a["others_share"] == pytest.approx(a["others_images"] / a["others_ok_images"])
    assert rows[("b", "dog")]["comparison"] != HIGHER


def test_compare_locations_adds_labels_missing_at_a_location() -> None:
    rows = [
        {
            "location": loc,
            "period": "2026-W06",
            "period_start": date(2026, 2, 9),
            "kind": "object",
            "label": "cat",
            "fine_label": None,
            "images": n,
            "objects": n,
            "ok_images": 100,
            "share": n / 100,
            "rank": 1,
            "days": 7,
        }
        for loc, n in (("a", 40), ("b", 10), ("c", 10))
    ]
    rows.append({**rows[1], "location": "d", "label": "dog", "images": 5, "share": 0.05})
    table = pa.Table.from_pylist(rows, schema=ROLLUP_SCHEMA)
    result = {(r["location"], r["label"]): r for r in compare_locations(table).to_pylist()}
    d_cat = result[("d", "cat")]
    assert (d_cat["images"], d_cat["others_images"], d_cat["others_ok_images"]) == (0, 60, 300)
    assert d_cat["comparison"] == "lower"
    assert result[("a", "cat")]["comparison"] == HIGHER
    assert result[("a", "dog")]["images"] == 0
