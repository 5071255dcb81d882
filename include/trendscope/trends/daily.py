"""Daily trend table: per location-day, how many ok images show each label and fine label."""

from __future__ import annotations

import logging
from datetime import date

import duckdb
import pyarrow as pa

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, TRENDS_DAILY, conform

log = logging.getLogger(__name__)

_SQL = """
WITH ok AS (
    SELECT image_id FROM images WHERE status = 'ok'
),
n AS (SELECT count(*) AS ok_images FROM ok),
d AS (SELECT * FROM detections WHERE image_id IN (SELECT image_id FROM ok)),
counts AS (
    SELECT 'object' AS kind, label, NULL::VARCHAR AS fine_label,
           count(DISTINCT image_id) AS images, count(*) AS objects
    FROM d GROUP BY label
    UNION ALL
    SELECT 'object', label, fine_label, count(DISTINCT image_id), count(*)
    FROM d WHERE fine_label IS NOT NULL GROUP BY label, fine_label
    UNION ALL
    SELECT 'scene', scene, NULL, count(*), count(*)
    FROM images WHERE status = 'ok' AND scene IS NOT NULL AND $include_scenes GROUP BY scene
)
SELECT $location AS location, $day::DATE AS date, kind, label, fine_label,
       images, objects, n.ok_images,
       images::DOUBLE / n.ok_images AS share,
       row_number() OVER (
           PARTITION BY kind, CASE WHEN fine_label IS NULL THEN NULL ELSE label END,
                        fine_label IS NULL
           ORDER BY images DESC, objects DESC, label, fine_label
       )::INTEGER AS rank,
       $detector_sha256 AS detector_sha256,
       $classifier_sha256 AS classifier_sha256
FROM counts, n
ORDER BY kind, fine_label IS NOT NULL, label, rank
"""


def compute_trends_daily(
    images: pa.Table,
    detections: pa.Table,
    location: str,
    day: date,
    include_scenes: bool = True,
) -> pa.Table:
    """The ``trends_daily`` rows of one location-day from its published images and detections."""
    det_sha = detections.column("model_sha256").to_pylist()[:1] or [None]
    cls_sha = [s for s in images.column("model_sha256").to_pylist() if s][:1] or [None]
    con = duckdb.connect()
    try:
        con.register("images", images)
        con.register("detections", detections)
        result = con.sql(
            _SQL,
            params={
                "location": location,
                "day": day.isoformat(),
                "include_scenes": include_scenes,
                "detector_sha256": det_sha[0],
                "classifier_sha256": cls_sha[0],
            },
        ).to_arrow_table()
    finally:
        con.close()
    return conform(TRENDS_DAILY, result)


def trends_day(config: TrendscopeConfig, location: str, day: date) -> StepResult:
    """Compute and publish ``trends_daily`` for a location-day from its published partitions."""
    config.location(location)
    root = config.data_root
    images = storage.read_table(partition_path(root, IMAGES.name, location, day), IMAGES)
    detections = storage.read_table(partition_path(root, DETECTIONS.name, location, day), DETECTIONS)
    table = compute_trends_daily(images, detections, location, day, config.trends.include_scenes)
    path = partition_path(root, TRENDS_DAILY.name, location, day)
    storage.write_table_atomic(table, path)
    log.info("trends %s %s: %d rows", location, day, table.num_rows)
    return StepResult(
        step="trends", location=location, date=day, counts={"rows": table.num_rows}, outputs=[path]
    )
