"""Rollup step: publish a (location, week or month) trend table, and plan what to refresh.

``trendscope_rollup`` runs on the ``trends_daily`` asset: each event names the location-day a
daily run (re)published. :func:`plan_rollups` turns the events into the weeks and months to
recompute, and :func:`plan_refresh` into the later days whose daily trends must be recomputed
because their baseline window holds a day that changed (see :mod:`trendscope.pipeline.trends`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.quality.context import suite_context
from trendscope.quality.gate import audit_and_publish
from trendscope.tables import storage
from trendscope.tables.paths import period_partition_path
from trendscope.tables.published import published_days, read_days
from trendscope.trends.calendar import (
    next_periods,
    period_days,
    period_end,
    period_kind,
    period_start,
    periods_touched,
    previous_periods,
)
from trendscope.trends.compare import TrendParams
from trendscope.trends.rollups import ROLLUP_TABLES, compute_period, rollup_contract

log = logging.getLogger(__name__)


def rollup_period(config: TrendscopeConfig, location: str, key: str) -> StepResult:
    """Compute and publish ``trends_weekly``/``trends_monthly`` for one (location, period).

    Reads the published ``images``/``detections`` partitions of the period's days and of the
    ``weekly_window``/``monthly_window`` periods before it, nothing else. A period whose
    published days hold no posts is a valid, empty rollup (no rows), not an error.

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
    if not _has_published_day(config, location, key):
        raise FileNotFoundError(f"no published images/detections for {location} in {key}")
    images, detections = read_days(config.data_root, location, days)
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
    baseline window) that are already published, since their baseline changed too. A period
    with no published day (a manual trigger for a location with no data then) is skipped and
    logged: there is nothing to roll up, and a failed mapped task would fail the whole run.

    Returns:
        ``[{"location": ..., "period": ...}]`` sorted, ready for ``expand_kwargs``.
    """
    storage.use(config.storage)
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
    empty = {(loc, p) for loc, p in targets if not _has_published_day(config, loc, p)}
    for location, key in sorted(empty):
        log.info("rollup %s %s skipped: no published day in the period", location, key)
    return [{"location": loc, "period": p} for loc, p in sorted(targets - empty)]


def _has_published_day(config: TrendscopeConfig, location: str, key: str) -> bool:
    """Whether any day of period ``key`` has published ``images`` and ``detections``."""
    return any(published_days(config.data_root, location, [day]) for day in period_days(key))


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


def _changed_days(
    config: TrendscopeConfig,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    params: Mapping[str, Any] | None,
) -> list[tuple[str, date]]:
    """The location-days a rollup-DAG run is about: its asset events, or a manual trigger's
    ``date`` (all locations unless it names ``locations``)."""
    events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
    params = dict(params or {})
    if params.get("date") and not params.get("locations"):
        params["locations"] = config.location_slugs
    return updated_days(events, params)


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
    days = _changed_days(config, triggering_asset_events, params)
    targets = rollup_targets(config, days)
    log.info("%d updated location-day(s) -> %d rollup(s)", len(days), len(targets))
    return targets


def plan_refresh(
    config: TrendscopeConfig,
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """What the rollup DAG's ``refresh`` maps over: per location, the days that changed.

    Returns:
        ``[{"location": ..., "days": ["YYYY-MM-DD", ...]}]`` sorted, ready for
        ``expand_kwargs``; :func:`trendscope.pipeline.trends.refresh_trends` recomputes each
        day and the published days after it within the window.
    """
    days = _changed_days(config, triggering_asset_events, params)
    by_location: dict[str, list[str]] = {}
    for location, day in days:
        by_location.setdefault(location, []).append(day.isoformat())
    log.info("%d updated location-day(s) -> %d location(s) to refresh", len(days), len(by_location))
    return [{"location": loc, "days": days} for loc, days in sorted(by_location.items())]
