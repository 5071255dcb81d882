"""A small published history (images/detections partitions) with a planted weekly trend.

Two locations, 50 images a day from Monday 2026-09-28 (ISO week 40) to Sunday 2026-11-08
(week 45). In ``shibuya`` cats step from 10% to 45% of ok images on Monday 2026-11-02, the
first day of week 45; ``brooklyn`` stays flat.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.trends import trends_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.trends.synthetic import synthetic_history

START = date(2026, 9, 28)
DAYS = 42
STEP_DAY = date(2026, 11, 2)
LOCATIONS = ("shibuya", "brooklyn")
WEEK45 = [STEP_DAY + timedelta(days=k) for k in range(7)]


def publish(config: TrendscopeConfig, images: pa.Table, detections: pa.Table) -> None:
    """Write one ``images`` and one ``detections`` partition per location-day."""
    for name, data in (("images", images), ("detections", detections)):
        keys = set(
            zip(data.column("location").to_pylist(), data.column("date").to_pylist(), strict=True)
        )
        for location, day in sorted(keys):
            part = data.filter(
                pc.and_(
                    pc.equal(data.column("location"), location), pc.equal(data.column("date"), day)
                )
            )
            storage.write_table_atomic(part, partition_path(config.data_root, name, location, day))


def published_history(
    config: TrendscopeConfig, trend_days: Iterable[date] = ()
) -> tuple[pa.Table, pa.Table]:
    """Publish the history under ``config.data_root``; compute ``trends_daily`` of ``trend_days``.

    Returns:
        The raw ``(images, detections)`` tables that were published.
    """
    images, detections = synthetic_history(
        DAYS,
        LOCATIONS,
        50,
        {"cat": 0.1, "dog": 0.2, "person": 0.5},
        steps={("shibuya", "cat"): ((STEP_DAY - START).days, 0.45)},
        seed=7,
        start=START,
        fine_labels={"cat": {"tabby": 0.6}},
        scene_shares={"food": 0.3},  # a scene category of the default config
    )
    publish(config, images, detections)
    for day in trend_days:
        for location in LOCATIONS:
            trends_day(config, location, day)
    return images, detections
