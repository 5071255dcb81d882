"""Trend tables built through the real code path, for the trends suites."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pytest

from trendscope.tables.schemas import TRENDS_DAILY, conform
from trendscope.trends.compare import TrendParams, trends_for_day
from trendscope.trends.synthetic import synthetic_history

START = date(2026, 9, 28)  # a Monday: five weeks of history before the step
STEP_DAY = date(2026, 11, 2)  # Monday of ISO week 45


@pytest.fixture(scope="session")
def trend_history() -> tuple[pa.Table, pa.Table]:
    """``(images, detections)`` of ``shibuya``, 50 images a day for six weeks, with steps on
    :data:`STEP_DAY`: cats rise (10% to 45%), dogs fall (20% to 2%), birds appear (none to
    30%); people and the food scene stay."""
    step = (STEP_DAY - START).days
    return synthetic_history(
        42,
        ["shibuya"],
        50,
        {"cat": 0.1, "dog": 0.2, "person": 0.5, "bird": 0.0},
        steps={
            ("shibuya", "cat"): (step, 0.45),
            ("shibuya", "dog"): (step, 0.02),
            ("shibuya", "bird"): (step, 0.3),
        },
        seed=7,
        start=START,
        fine_labels={"cat": {"tabby": 0.6}},
        scene_shares={"food": 0.3},
    )


@pytest.fixture(scope="session")
def daily_trends(
    trend_history: tuple[pa.Table, pa.Table],
) -> Callable[[TrendParams | None], pa.Table]:
    """The ``trends_daily`` partition of the step day under some thresholds, as the trends
    step computes it."""

    def build(params: TrendParams | None = None) -> pa.Table:
        images, detections = trend_history
        return conform(TRENDS_DAILY, trends_for_day(images, detections, STEP_DAY, params))

    return build


@pytest.fixture(scope="session")
def trends_table(daily_trends: Callable[[TrendParams | None], pa.Table]) -> pa.Table:
    """The step day's ``trends_daily`` with the default thresholds: a cat rise (and its fine
    labels), new birds, falling dogs, stable people and food scenes."""
    return daily_trends(None)
