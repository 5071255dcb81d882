"""A target's fine-label series never mixes two fine models (trendscope.trends.series)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from row_builders import det_row, image_row
from trendscope.tables.schemas import DETECTIONS, IMAGES, to_table
from trendscope.trends.compare import TrendParams, trends_for_day
from trendscope.trends.series import fine_series, model_changes

DAY = date(2026, 11, 30)
OLD, NEW = "a" * 64, "b" * 64


def _history(models: dict[date, str], tabby: dict[date, int], images: int = 100):
    """``images`` ok cat photos a day, ``tabby[d]`` of them labelled tabby, the rest siamese,
    by the fine model ``models[d]``."""
    img_rows, det_rows = [], []
    for day, model in models.items():
        for i in range(images):
            image_id = f"{day}-{i}"
            img_rows.append(image_row(image_id, date=day, author=f"author-{i}"))
            fine = "tabby" if i < tabby[day] else "siamese"
            det_rows.append(
                det_row(image_id, 0, "cat", fine, date=day, fine_model="m", fine_model_sha256=model)
            )
    return to_table(IMAGES, img_rows), to_table(DETECTIONS, det_rows)


def _row(result, fine_label):
    rows = [
        r
        for r in result.to_pylist()
        if r["kind"] == "object" and r["label"] == "cat" and r["fine_label"] == fine_label
    ]
    assert len(rows) == 1, rows
    return rows[0]


DAYS = [DAY - timedelta(days=k) for k in range(14, -1, -1)]  # 14 window days, then DAY


@pytest.mark.parametrize(
    ("switch_day", "expected_trend", "same_model_days"),
    [
        (None, "rising", 14),  # one model throughout: 30% -> 80% tabby is a real rise
        (DAY - timedelta(days=1), "stable", 1),  # switched yesterday: judged on that day only
        (DAY, "insufficient", 0),  # switched today: the new model has no baseline yet
    ],
)
def test_a_model_change_starts_a_new_series(switch_day, expected_trend, same_model_days) -> None:
    # the new model calls 80% of cats tabby where the old called 30%: not a trend of cats
    models = {d: NEW if switch_day and d >= switch_day else OLD for d in DAYS}
    if switch_day is None:
        tabby = {d: 80 if d == DAY else 30 for d in DAYS}
    else:
        tabby = {d: 80 if d >= switch_day else 30 for d in DAYS}
    images, detections = _history(models, tabby)
    params = TrendParams(window_days=14, min_baseline_images=50)

    result = trends_for_day(images, detections, DAY, params, include_scenes=False)

    tabby_row = _row(result, "tabby")
    assert tabby_row["share"] == pytest.approx(0.8)
    assert tabby_row["trend"] == expected_trend
    assert tabby_row["baseline_days"] == same_model_days
    assert tabby_row["baseline_images"] == 80 * same_model_days if switch_day else 30 * 14
    # the total of cats counts detections, which no classifier changes: its whole window
    total = _row(result, None)
    assert (total["baseline_days"], total["share"], total["trend"]) == (14, 1.0, "stable")
    # the old model's labels do not show up as falling today either
    assert _row(result, "siamese")["baseline_days"] == same_model_days


def test_model_changes_names_the_days_of_the_current_model() -> None:
    days = DAYS[-4:]
    models = {days[0]: OLD, days[1]: NEW, days[2]: NEW, days[3]: NEW}
    _, detections = _history(models, dict.fromkeys(days, 1), images=2)
    series = fine_series(detections)
    assert series[("shibuya", "cat")][days[0]] == {OLD}
    assert model_changes(series, days[3], days[:3]) == {("shibuya", "cat"): days[1:3]}
    # one model in the window: nothing to split
    assert model_changes(series, days[3], days[1:3]) == {}


WEEK45 = [date(2026, 11, 2) + timedelta(days=k) for k in range(7)]  # 2026-W45, Mon-Sun
WEEKS = [WEEK45[0] + timedelta(days=k) for k in range(-28, 7)]  # W41..W45, 100 cats a day


@pytest.mark.parametrize(
    ("switch_day", "expected_trend", "baseline_tabby"),
    [
        (None, "rising", 30 * 28),  # one model: 30% -> 80% tabby over four weeks is a rise
        (date(2026, 10, 26), "stable", 80 * 7),  # switched with W44: judged on W44 only
        (date(2026, 11, 2), "insufficient", 0),  # switched with W45: no baseline yet
        (date(2026, 11, 5), "insufficient", 0),  # switched within W45: two models, no series
    ],
)
def test_a_weekly_rollup_over_a_model_change_starts_a_new_series(
    switch_day, expected_trend, baseline_tabby
) -> None:
    from trendscope.trends.rollups import compute_period

    models = {d: NEW if switch_day and d >= switch_day else OLD for d in WEEKS}
    first_80 = switch_day or WEEK45[0]
    images, detections = _history(models, {d: 80 if d >= first_80 else 30 for d in WEEKS})

    result = compute_period(
        images, detections, "2026-W45", TrendParams(min_baseline_images=50), include_scenes=False
    )

    tabby = _row(result, "tabby")
    assert (tabby["trend"], tabby["baseline_images"]) == (expected_trend, baseline_tabby)
    # the cats' total counts detections: its whole four-week baseline, whatever the models
    total = _row(result, None)
    assert (total["baseline_images"], total["trend"]) == (100 * 28, "stable")
