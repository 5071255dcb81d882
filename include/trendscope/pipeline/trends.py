"""Trends step: compute a location-day's ``trends_daily`` from its published partitions, validate
it and publish it; and refresh the later days whose baseline a republished day belongs to.

The same step computes the day's ``engagement`` table (:mod:`trendscope.trends.engagement`,
from the rows already read plus the images' likes and followers) and publishes it, validated,
just before ``trends_daily``: each is its own atomic partition (the day's commit intent belongs
to the publish step's ``images`` and ``detections``, and the refresh runs without the day's lease).

Reads only the partitions it needs (the days and the ``window_days`` before them, for one
location), so a day's trends cost the same on a history of one week or of years.

Order independence: day D's trends depend on D and the ``window_days`` before it. A backfill
may compute D before D-1 is published, and re-running D changes the baseline of D+1..D+window.
:func:`refresh_trends` recomputes, after D is (re)published, D and every later published day
whose window holds D; ``trendscope_rollup`` runs it for the location-days named by each
``trends_daily`` asset event, one run at a time, so the last write of every partition reads
every day published before it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.quality.context import suite_context
from trendscope.quality.gate import audit_and_publish
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.published import published_days, read_published, read_tags
from trendscope.tables.schemas import ENGAGEMENT, TRENDS_DAILY, conform
from trendscope.trends.calendar import window_days
from trendscope.trends.compare import TrendParams, trends_for_days
from trendscope.trends.counting import with_models, with_weighted_share
from trendscope.trends.engagement import (
    engagement_for_days,
    posts_from_tables,
    read_engagement_columns,
    with_engagement_columns,
)

log = logging.getLogger(__name__)


def _on(table: pa.Table, day: date) -> pa.Table:
    return table.filter(pc.equal(table.column("date"), pa.scalar(day, pa.date32())))


def _publish_days(config: TrendscopeConfig, location: str, days: list[date]) -> list[StepResult]:
    """Compute, validate and publish ``trends_daily`` of ``days`` in one read of their windows.

    Raises:
        FileNotFoundError: One of ``days`` has no published ``images``/``detections``.
    """
    params = TrendParams.from_config(config.trends)
    first = min(days) - timedelta(days=max(params.window_days, config.engagement.window_days - 1))
    span = [first + timedelta(days=k) for k in range((max(days) - first).days + 1)]
    images, detections, read = read_published(config.data_root, location, span)
    published = set(read)
    missing = [d for d in days if d not in published]
    if missing:
        raise FileNotFoundError(f"no published images/detections for {location} {missing[0]}")
    tables = trends_for_days(images, detections, days, params, config.trends.include_scenes)
    engagement = _engagement(config, location, days, images, detections)
    results = []
    for day in days:
        unpublished = [d for d in window_days(day, params.window_days) if d not in published]
        if unpublished:
            log.info(
                "trends %s %s: %d window day(s) not published (yet): %s .. %s",
                location,
                day,
                len(unpublished),
                unpublished[0],
                unpublished[-1],
            )
        table = with_models(tables[day], _on(images, day), _on(detections, day))
        if config.trends.importance_weighted:  # published with the day, so read after it
            tags = read_tags(config.data_root, location, day)
            table = with_weighted_share(table, _on(images, day), _on(detections, day), tags)
        table = conform(TRENDS_DAILY, table)
        path = partition_path(config.data_root, TRENDS_DAILY.name, location, day)
        ctx = suite_context(config, TRENDS_DAILY.name, location, day.isoformat())
        extra = []
        if day in engagement:  # its own atomic partition, validated and published first
            e_ctx = suite_context(config, ENGAGEMENT.name, location, day.isoformat())
            (e_report,) = audit_and_publish(config, [(ENGAGEMENT, engagement[day], e_ctx)])
            e_path = partition_path(config.data_root, ENGAGEMENT.name, location, day)
            extra = [e_path, e_report.result_json]
        (report,) = audit_and_publish(config, [(TRENDS_DAILY, table, ctx)])
        trends = pc.value_counts(table.column("trend")).to_pylist() if table.num_rows else []
        counts = {"rows": table.num_rows, **{t["values"]: t["counts"] for t in trends}}
        log.info("trends %s %s: %s", location, day, counts)
        results.append(
            StepResult(
                step="trends",
                location=location,
                date=day,
                counts=counts,
                outputs=[path, report.result_json, *extra],
            )
        )
    return results


def _engagement(
    config: TrendscopeConfig,
    location: str,
    days: list[date],
    images: pa.Table,
    detections: pa.Table,
) -> dict[date, pa.Table]:
    """The ``engagement`` tables of ``days`` from the rows already read (plus the likes and
    followers of the window's images); none when ``engagement.enabled`` is off."""
    settings = config.engagement
    if not settings.enabled:
        return {}
    first = min(days) - timedelta(days=settings.window_days - 1)
    in_span = pc.greater_equal(images.column("date"), pa.scalar(first, pa.date32()))
    span_images = images.filter(in_span)
    read = sorted(set(span_images.column("date").to_pylist()))
    extra = read_engagement_columns(config.data_root, location, read)
    posts = posts_from_tables(
        with_engagement_columns(span_images, extra),
        detections,
        include_scenes=config.trends.include_scenes,
    )
    return engagement_for_days(
        posts,
        location,
        days,
        window_days=settings.window_days,
        min_posts=settings.min_posts,
        alpha=config.trends.alpha,
    )


def trends_day(config: TrendscopeConfig, location: str, day: date) -> StepResult:
    """Compute and publish ``trends_daily`` for a location-day from its published partitions.

    Raises:
        FileNotFoundError: The day's ``images``/``detections`` are not published.
    """
    config.location(location)
    storage.use(config.storage)
    (result,) = _publish_days(config, location, [day])
    return result


def refresh_targets(config: TrendscopeConfig, location: str, changed: Iterable[date]) -> list[date]:
    """The published days whose trends depend on ``changed`` days: each of them and the
    ``window_days`` after it."""
    window = TrendParams.from_config(config.trends).window_days
    candidates = {d + timedelta(days=k) for d in changed for k in range(window + 1)}
    return published_days(config.data_root, location, candidates)


def refresh_trends(
    config: TrendscopeConfig, location: str, changed: Iterable[date]
) -> list[StepResult]:
    """Recompute and publish ``trends_daily`` of every published day that ``changed`` days feed.

    Args:
        config: The config.
        location: Location slug.
        changed: Days whose ``images``/``detections`` were (re)published.

    Returns:
        One result per refreshed day (none when nothing is published yet).
    """
    config.location(location)
    storage.use(config.storage)
    days = refresh_targets(config, location, changed)
    if not days:
        return []
    return _publish_days(config, location, days)
