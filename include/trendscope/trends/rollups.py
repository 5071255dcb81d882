"""Weekly and monthly trend tables, and locations compared, from image-level rows.

A rollup counts distinct images and authors over the whole period with
:func:`~trendscope.trends.counting.rollup` and compares the period with the previous ones with
:func:`~trendscope.trends.compare.compare_periods`. Each (location, period) is one partition:
``<root>/tables/trends_weekly/location=<slug>/period=<YYYY-Www>/data.parquet``; the step that
reads, validates and publishes it is :mod:`trendscope.pipeline.rollup`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.paths import PARTITION_FILE, join
from trendscope.tables.published import read_days
from trendscope.tables.schemas import TRENDS_MONTHLY, TRENDS_WEEKLY, TableContract, conform
from trendscope.trends.calendar import period_days, period_kind, previous_periods
from trendscope.trends.compare import (
    TrendParams,
    compare_locations,
    compare_periods,
    compare_periods_per_model,
)
from trendscope.trends.counting import ok_counts, rollup
from trendscope.trends.series import fine_series, model_changes, period_series

ROLLUP_TABLES: dict[str, TableContract] = {"week": TRENDS_WEEKLY, "month": TRENDS_MONTHLY}
"""The published table of each rollup period kind."""


def period_table_glob(root: str, table: str) -> str:
    """A glob over every partition of a rollup table (for DuckDB ``read_parquet``)."""
    return join(root, "tables", table, "location=*", "period=*", PARTITION_FILE)


def rollup_contract(key: str) -> TableContract:
    """``TRENDS_WEEKLY`` for a week key, ``TRENDS_MONTHLY`` for a month key."""
    kind = period_kind(key)
    if kind not in ROLLUP_TABLES:
        raise ValueError(f"not a week (YYYY-Www) or month (YYYY-MM) period: {key!r}")
    return ROLLUP_TABLES[kind]


def compute_period(
    images: pa.Table,
    detections: pa.Table,
    key: str,
    params: TrendParams | None = None,
    include_scenes: bool = True,
) -> pa.Table:
    """The rollup table of period ``key`` from image-level rows of it and its baseline periods.

    Args:
        images: ``images`` rows of the period and the periods before it (any locations).
        detections: The matching ``detections`` rows.
        key: ``YYYY-Www`` or ``YYYY-MM``.
        params: Windows and thresholds.
        include_scenes: Whether to add the scene rows.

    Returns:
        The rows of period ``key`` with the contract of ``trends_weekly``/``trends_monthly``.
    """
    params = params or TrendParams()
    contract_ = rollup_contract(key)
    kind = period_kind(key)
    counts = rollup(images, detections, kind, include_scenes)
    ok = ok_counts(images, kind)
    current = pc.equal(counts.column("period"), key)
    this, earlier = counts.filter(current), counts.filter(pc.invert(current))
    # a target whose fine model changed: its fine rows start a new series (trends.series)
    series = period_series(fine_series(detections), kind)
    changes = model_changes(series, key, previous_periods(key, params.window(kind)))
    if changes:
        table = compare_periods_per_model(this, earlier, ok, key, params, changes)
    else:
        table = compare_periods(this, earlier, params, ok)
    table = table.filter(pc.equal(table.column("period"), key))
    return conform(contract_, table)


def compare_locations_for_period(
    config: TrendscopeConfig, key: str, locations: Sequence[str] | None = None
) -> pa.Table:
    """Each location's shares in period ``key`` (a day, week or month) against all the others.

    Computed on demand from the period's published partitions only.

    Returns:
        A table with :data:`~trendscope.trends.compare.COMPARED_LOCATIONS_SCHEMA`.
    """
    storage.use(config.storage)
    locations = list(locations or config.location_slugs)
    days = period_days(key)
    parts = [read_days(config.data_root, loc, days) for loc in locations]
    images = pa.concat_tables([p[0] for p in parts])
    detections = pa.concat_tables([p[1] for p in parts])
    kind = period_kind(key)
    params = TrendParams.from_config(config.trends)
    counts = rollup(images, detections, kind, config.trends.include_scenes)
    return compare_locations(counts, params, ok_counts(images, kind))
