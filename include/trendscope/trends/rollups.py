"""Weekly and monthly trend tables, and locations compared, from the published image-level rows.

A rollup reads only the partitions it needs (the days of its period and of the
``weekly_window``/``monthly_window`` periods before it, for one location), counts distinct images
over the whole period with :func:`~trendscope.trends.compare.rollup` and compares the period with
the previous ones with :func:`~trendscope.trends.compare.compare_periods`. Each (location, period)
is one partition: ``<root>/tables/trends_weekly/location=<slug>/period=<YYYY-Www>/data.parquet``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.quality.gate import audit_and_publish, suite_context
from trendscope.tables import storage
from trendscope.tables.paths import PARTITION_FILE, join, partition_path, period_partition_path
from trendscope.tables.schemas import (
    DETECTIONS,
    IMAGES,
    TRENDS_MONTHLY,
    TRENDS_WEEKLY,
    TableContract,
    conform,
)
from trendscope.trends.compare import (
    Period,
    TrendParams,
    compare_locations,
    compare_periods,
    ok_counts,
    period_key,
    period_kind,
    period_start,
    previous_periods,
    rollup,
)
from trendscope.trends.daily import DETECTION_COLUMNS, IMAGE_COLUMNS

log = logging.getLogger(__name__)

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


def period_end(key: str) -> date:
    """Last day of a period key (a day, an ISO week or a month)."""
    kind, start = period_kind(key), period_start(key)
    if kind == "day":
        return start
    if kind == "week":
        return start + timedelta(days=6)
    months = start.year * 12 + start.month  # the month after, 0-based
    return date(months // 12, months % 12 + 1, 1) - timedelta(days=1)


def period_days(key: str) -> list[date]:
    """Every calendar day of a period key."""
    start = period_start(key)
    return [start + timedelta(days=k) for k in range((period_end(key) - start).days + 1)]


def next_periods(key: str, n: int) -> list[str]:
    """The ``n`` period keys after ``key``, nearest first (those whose baseline includes it)."""
    kind: Period = period_kind(key)
    out, day = [], period_end(key)
    for _ in range(n):
        day += timedelta(days=1)
        out.append(period_key(day, kind))
        day = period_end(out[-1])
    return out


def periods_touched(days: Iterable[date]) -> dict[str, set[str]]:
    """The ISO weeks and months that contain ``days``: ``{"week": {...}, "month": {...}}``."""
    days = list(days)
    return {
        "week": {period_key(d, "week") for d in days},
        "month": {period_key(d, "month") for d in days},
    }


def read_days(
    config: TrendscopeConfig, location: str, days: Iterable[date]
) -> tuple[pa.Table, pa.Table]:
    """Published images and detections of ``location`` on ``days`` (days not published skipped).

    Only those days' partition files are opened (partition pruning by path).
    """
    root = config.data_root
    images, detections = [], []
    for day in sorted(set(days)):
        img_path = partition_path(root, IMAGES.name, location, day)
        det_path = partition_path(root, DETECTIONS.name, location, day)
        if not (storage.exists(img_path) and storage.exists(det_path)):
            continue
        images.append(storage.read_table(img_path, IMAGES).select(IMAGE_COLUMNS))
        detections.append(storage.read_table(det_path, DETECTIONS).select(DETECTION_COLUMNS))
    if not images:
        empty_i = pa.schema([IMAGES.schema.field(c) for c in IMAGE_COLUMNS]).empty_table()
        empty_d = pa.schema([DETECTIONS.schema.field(c) for c in DETECTION_COLUMNS]).empty_table()
        return empty_i, empty_d
    return pa.concat_tables(images), pa.concat_tables(detections)


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
    table = compare_periods(counts.filter(current), counts.filter(pc.invert(current)), params, ok)
    table = table.filter(pc.equal(table.column("period"), key))
    return conform(contract_, table)


def rollup_period(config: TrendscopeConfig, location: str, key: str) -> StepResult:
    """Compute and publish ``trends_weekly``/``trends_monthly`` for one (location, period).

    Reads the published ``images``/``detections`` partitions of the period's days and of the
    ``weekly_window``/``monthly_window`` periods before it, nothing else.

    Raises:
        FileNotFoundError: No published day in the period.
    """
    config.location(location)
    storage.use(config.storage)
    contract_ = rollup_contract(key)
    params = TrendParams.from_config(config.trends)
    earlier = previous_periods(key, params.window(period_kind(key)))
    first = period_start(earlier[-1]) if earlier else period_start(key)
    days = [first + timedelta(days=k) for k in range((period_end(key) - first).days + 1)]
    images, detections = read_days(config, location, days)
    in_period = pc.greater_equal(images.column("date"), pa.scalar(period_start(key), pa.date32()))
    if not images.filter(in_period).num_rows:
        raise FileNotFoundError(f"no published images/detections for {location} in {key}")
    table = compute_period(images, detections, key, params, config.trends.include_scenes)
    path = period_partition_path(config.data_root, contract_.name, location, key)
    (report,) = audit_and_publish(
        config, [(contract_, table, suite_context(config, contract_.name, location, key))]
    )
    trends = pc.value_counts(table.column("trend")).to_pylist() if table.num_rows else []
    counts = {"rows": table.num_rows, **{t["values"]: t["counts"] for t in trends}}
    log.info("%s %s %s: %s", contract_.name, location, key, counts)
    return StepResult(
        step=f"rollup-{period_kind(key)}",
        location=location,
        date=period_start(key),
        counts=counts,
        outputs=[path, report.result_json],
    )


def rollup_targets(
    config: TrendscopeConfig, updated: Iterable[tuple[str, date]]
) -> list[dict[str, str]]:
    """The (location, period) rollups to refresh after ``updated`` location-days changed.

    Every week and month containing an updated day, plus the following periods (within the
    baseline window) that are already published, since their baseline changed too.

    Returns:
        ``[{"location": ..., "period": ...}]`` sorted, ready for ``expand_kwargs``.
    """
    params = TrendParams.from_config(config.trends)
    by_location: dict[str, set[date]] = {}
    for location, day in updated:
        by_location.setdefault(location, set()).add(day)
    targets: set[tuple[str, str]] = set()
    for location, days in by_location.items():
        for kind, keys in periods_touched(days).items():
            table = ROLLUP_TABLES[kind].name
            for key in keys:
                targets.add((location, key))
                for later in next_periods(key, params.window(kind)):  # type: ignore[arg-type]
                    path = period_partition_path(config.data_root, table, location, later)
                    if storage.exists(path):
                        targets.add((location, later))
    return [{"location": loc, "period": p} for loc, p in sorted(targets)]


def updated_days(
    events: Iterable[Any], params: Mapping[str, Any] | None = None
) -> list[tuple[str, date]]:
    """The location-days named by ``trends_daily`` asset events (their ``extra``) or run params.

    Args:
        events: Asset events (anything with an ``extra`` mapping holding ``location`` and
            ``date``, as written by ``record_trends_event``); events without them are skipped.
        params: A manual trigger's params: ``date`` (YYYY-MM-DD) and ``locations`` (list).

    Returns:
        Sorted, distinct ``(location, day)`` pairs.
    """
    out: set[tuple[str, date]] = set()
    for event in events:
        extra = getattr(event, "extra", None) or {}
        if extra.get("location") and extra.get("date"):
            out.add((str(extra["location"]), date.fromisoformat(str(extra["date"]))))
        else:
            log.warning("asset event without location/date in its extra, skipped: %s", extra)
    params = params or {}
    if params.get("date"):
        day = date.fromisoformat(str(params["date"]))
        out |= {(str(loc), day) for loc in params.get("locations") or []}
    return sorted(out)


def plan_rollups(
    config: TrendscopeConfig,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """What the rollup DAG maps over: the rollups touched by the triggering asset events.

    Args:
        config: The config (data root, windows).
        triggering_asset_events: Airflow's ``triggering_asset_events`` (asset -> events).
        params: The run's params (a manual trigger may name ``date`` and ``locations``).
    """
    events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
    params = dict(params or {})
    if params.get("date") and not params.get("locations"):
        params["locations"] = config.location_slugs
    days = updated_days(events, params)
    targets = rollup_targets(config, days)
    log.info("%d updated location-day(s) -> %d rollup(s)", len(days), len(targets))
    return targets


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
    parts = [read_days(config, loc, days) for loc in locations]
    images = pa.concat_tables([p[0] for p in parts])
    detections = pa.concat_tables([p[1] for p in parts])
    kind = period_kind(key)
    params = TrendParams.from_config(config.trends)
    counts = rollup(images, detections, kind, config.trends.include_scenes)
    return compare_locations(counts, params, ok_counts(images, kind))
