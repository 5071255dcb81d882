"""Daily trend table: a location-day's label shares, compared with its trailing baseline window.

Reads only the partitions it needs (the day and the ``window_days`` before it, for one
location), so a day's trends cost the same on a history of one week or of years.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.quality.gate import audit_and_publish, suite_context
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DAILY_COUNTS, DETECTIONS, IMAGES, TRENDS_DAILY, conform
from trendscope.trends.compare import TrendParams, rollup, trends_for_day

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ["image_id", "location", "date", "status", "scene", "model_sha256"]
DETECTION_COLUMNS = ["image_id", "location", "date", "label", "fine_label", "model_sha256"]


def _first(table: pa.Table, column: str) -> str | None:
    values = pc.drop_null(table.column(column)) if table.num_rows else []
    return values[0].as_py() if len(values) else None


def _with_models(table: pa.Table, images: pa.Table, detections: pa.Table) -> pa.Table:
    """Fill the model columns from the day's partitions (one detector/classifier per run)."""
    det_sha, cls_sha = _first(detections, "model_sha256"), _first(images, "model_sha256")
    for name, value in (("detector_sha256", det_sha), ("classifier_sha256", cls_sha)):
        i = table.schema.get_field_index(name)
        table = table.set_column(
            i, table.schema.field(i), pa.array([value] * table.num_rows, pa.string())
        )
    return table


def compute_trends_daily(
    images: pa.Table,
    detections: pa.Table,
    location: str,
    day: date,
    include_scenes: bool = True,
) -> pa.Table:
    """The counts of one location-day (``DAILY_COUNTS``) from its images and detections."""
    counts = rollup(images, detections, "day", include_scenes)
    counts = counts.append_column("date", counts.column("period_start"))
    counts = counts.append_column("detector_sha256", pa.nulls(counts.num_rows, pa.string()))
    counts = counts.append_column("classifier_sha256", pa.nulls(counts.num_rows, pa.string()))
    on_day = pc.and_(
        pc.equal(counts.column("date"), pa.scalar(day, pa.date32())),
        pc.equal(counts.column("location"), location),
    )
    table = counts.filter(on_day).select(DAILY_COUNTS.columns)
    return conform(DAILY_COUNTS, _with_models(table, images, detections))


def read_window(
    config: TrendscopeConfig, location: str, day: date, window_days: int
) -> tuple[pa.Table, pa.Table]:
    """Published images and detections of ``location`` on ``day`` and the window before it."""
    root = config.data_root
    images, detections = [], []
    for k in range(window_days, -1, -1):
        d = day - timedelta(days=k)
        img_path = partition_path(root, IMAGES.name, location, d)
        det_path = partition_path(root, DETECTIONS.name, location, d)
        if not (storage.exists(img_path) and storage.exists(det_path)):
            if k == 0:
                raise FileNotFoundError(f"no published images/detections for {location} {day}")
            continue
        images.append(storage.read_table(img_path, IMAGES).select(IMAGE_COLUMNS))
        detections.append(storage.read_table(det_path, DETECTIONS).select(DETECTION_COLUMNS))
    return pa.concat_tables(images), pa.concat_tables(detections)


def trends_day(config: TrendscopeConfig, location: str, day: date) -> StepResult:
    """Compute and publish ``trends_daily`` for a location-day from its published partitions."""
    config.location(location)
    storage.use(config.storage)
    params = TrendParams.from_config(config.trends)
    images, detections = read_window(config, location, day, params.window_days)
    table = trends_for_day(images, detections, day, params, config.trends.include_scenes)
    on_day = pc.equal(images.column("date"), pa.scalar(day, pa.date32()))
    table = _with_models(
        table,
        images.filter(on_day),
        detections.filter(pc.equal(detections.column("date"), pa.scalar(day, pa.date32()))),
    )
    table = conform(TRENDS_DAILY, table)
    path = partition_path(config.data_root, TRENDS_DAILY.name, location, day)
    ctx = suite_context(config, TRENDS_DAILY.name, location, day.isoformat())
    (report,) = audit_and_publish(config, [(TRENDS_DAILY, table, ctx)])
    trends = pc.value_counts(table.column("trend")).to_pylist() if table.num_rows else []
    counts = {"rows": table.num_rows, **{t["values"]: t["counts"] for t in trends}}
    log.info("trends %s %s: %s", location, day, counts)
    return StepResult(
        step="trends",
        location=location,
        date=day,
        counts=counts,
        outputs=[path, report.result_json],
    )
