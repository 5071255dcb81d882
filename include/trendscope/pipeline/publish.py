"""Publish step: move a location-day's staged partitions into the published tables.

Each partition is replaced atomically, so readers see the previous day's version or the new one.
Re-running a day replaces its partitions: the same input gives the same rows, never duplicates.
"""

from __future__ import annotations

import logging
from datetime import date

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.result import StepResult
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, STATUSES

log = logging.getLogger(__name__)

PUBLISHED_BY_ANALYZE = (DETECTIONS, IMAGES)


def publish_day(config: TrendscopeConfig, location: str, day: date) -> StepResult:
    """Replace the published ``detections`` and ``images`` partitions with the staged ones."""
    config.location(location)
    root = config.data_root
    staged = {
        c.name: partition_path(root, c.name, location, day, area="staging")
        for c in PUBLISHED_BY_ANALYZE
    }
    missing = [p for p in staged.values() if not storage.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"nothing staged to publish for {location} {day}: missing {missing} "
            "(run ingest and analyze first)"
        )
    tables = {c.name: storage.read_table(staged[c.name], c) for c in PUBLISHED_BY_ANALYZE}
    images = tables[IMAGES.name]
    if images.num_rows and images.column("status").null_count:
        raise ValueError(f"staged images for {location} {day} has rows without a status")
    outputs = []
    for c in PUBLISHED_BY_ANALYZE:
        target = partition_path(root, c.name, location, day)
        storage.write_table_atomic(tables[c.name], target)
        outputs.append(target)
    for path in staged.values():
        storage.remove(path)
    statuses = images.column("status").to_pylist()
    counts = {"images": images.num_rows, **{s: statuses.count(s) for s in STATUSES}}
    counts["detections"] = tables[DETECTIONS.name].num_rows
    log.info("published %s %s: %s", location, day, counts)
    return StepResult(step="publish", location=location, date=day, counts=counts, outputs=outputs)
