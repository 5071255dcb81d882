"""Publish step: merge the analyze shards and move a location-day into the published tables.

The day's ``images``, ``detections``, ``colors`` and ``tags`` are published together
(:mod:`trendscope.tables.commit`): readers see the previous version of all of them or the new
one, even if the process dies half-way.
Re-running a day replaces its partitions: the same input gives the same rows, never duplicates.
Nothing is published unless every shard of the day has staged its output and the merged
partitions pass their expectation suites (write-audit-publish, :mod:`trendscope.quality.gate`).
"""

from __future__ import annotations

import logging
from datetime import date

import pyarrow as pa

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.ingest import posts_in_path, read_posts_in
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.runs import read_runs
from trendscope.pipeline.shards import analysis_dir, shards_present
from trendscope.quality.context import suite_context
from trendscope.quality.gate import audit_and_publish
from trendscope.tables import storage
from trendscope.tables.paths import join, partition_path
from trendscope.tables.schemas import (
    COLORS,
    DETECTIONS,
    IMAGES,
    RUN_FAILED,
    STATUSES,
    TAGS,
    to_table,
)
from trendscope.vision.tags import day_tags

log = logging.getLogger(__name__)


class IncompleteStagingError(RuntimeError):
    """Some output of a location-day is missing from staging; nothing was published."""


def _last_failure(root: str, location: str, day: date, step: str) -> str:
    """Why a step's output is missing, from the runs table: its last failed attempt, if any."""
    attempts = [r for r in read_runs(root, location, day) if r["step"] == step]
    if attempts and attempts[-1]["status"] == RUN_FAILED:
        last = attempts[-1]
        return f"its {step} failed ({last['ended_at']:%Y-%m-%d %H:%M:%S} UTC): {last['error']}"
    return f"run {step} first"


def merge_shards(
    config: TrendscopeConfig, location: str, day: date
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The day's ``images`` (ingest rows updated by every shard) and all shards' ``detections``
    and ``colors``."""
    root = config.data_root
    ingest_path = partition_path(root, IMAGES.name, location, day, area="staging")
    if not storage.exists(ingest_path):
        raise IncompleteStagingError(
            f"no staged images for {location} {day}: {_last_failure(root, location, day, 'ingest')}"
        )
    images = storage.read_table(ingest_path, IMAGES).to_pylist()
    found = shards_present(storage.list_files(analysis_dir(root, location, day)))
    counts = {s.count for s in found}
    ok = sum(1 for r in images if r["status"] == "ok")
    if not found and ok == 0:
        return to_table(IMAGES, images), to_table(DETECTIONS, []), to_table(COLORS, [])
    if len(counts) != 1:
        raise IncompleteStagingError(
            f"analysis of {location} {day} is missing or mixes shard counts {sorted(counts)}: "
            "run analyze for every shard of the current plan"
        )
    (n,) = counts
    # colors are written before images, so a shard with images has them (unless colours are off)
    tables = {IMAGES.name, DETECTIONS.name}
    missing = [i for i in range(n) if not any(s.index == i and tables <= found[s] for s in found)]
    if missing:
        raise IncompleteStagingError(
            f"{location} {day}: shards {missing} of {n} have not staged output"
        )
    by_uri = {r["source_uri"]: r for r in images}
    detections: list[pa.Table] = []
    colors: list[pa.Table] = []
    for shard in sorted(found, key=lambda s: s.index):
        shard_dir = join(analysis_dir(root, location, day), shard.dirname)
        for row in storage.read_table(join(shard_dir, "images.parquet"), IMAGES).to_pylist():
            by_uri[row["source_uri"]] = row
        detections.append(storage.read_table(join(shard_dir, "detections.parquet"), DETECTIONS))
        if COLORS.name in found[shard]:
            colors.append(storage.read_table(join(shard_dir, "colors.parquet"), COLORS))
    merged = pa.concat_tables(detections).sort_by(
        [("image_id", "ascending"), ("detection", "ascending")]
    )
    merged_colors = pa.concat_tables(colors or [to_table(COLORS, [])]).sort_by(
        [("image_id", "ascending"), ("detection", "ascending"), ("rank", "ascending")]
    )
    return to_table(IMAGES, [by_uri[r["source_uri"]] for r in images]), merged, merged_colors


def publish_day(config: TrendscopeConfig, location: str, day: date) -> StepResult:
    """Replace the published ``images``, ``detections`` and ``colors`` partitions with the
    staged ones, with the day's ``tags`` (computed here from images and detections)."""
    config.location(location)
    storage.use(config.storage)
    root = config.data_root
    images, detections, colors = merge_shards(config, location, day)
    tags = to_table(TAGS, day_tags(images.to_pylist(), detections.to_pylist()))
    staged_ingest = partition_path(root, IMAGES.name, location, day, area="staging")
    key = day.isoformat()
    posts_in = read_posts_in(staged_ingest)
    reports = audit_and_publish(
        config,
        [
            (DETECTIONS, detections, suite_context(config, DETECTIONS.name, location, key)),
            (COLORS, colors, suite_context(config, COLORS.name, location, key)),
            (TAGS, tags, suite_context(config, TAGS.name, location, key)),
            (IMAGES, images, suite_context(config, IMAGES.name, location, key, posts_in=posts_in)),
        ],
        images=images,
    )
    outputs = [
        partition_path(root, c.name, location, day) for c in (DETECTIONS, COLORS, TAGS, IMAGES)
    ]
    storage.remove(posts_in_path(staged_ingest))
    storage.remove_tree(analysis_dir(root, location, day))
    statuses = images.column("status").to_pylist()
    counts = {"images": images.num_rows, **{s: statuses.count(s) for s in STATUSES}}
    counts["detections"] = detections.num_rows
    counts["colors"] = colors.num_rows
    counts["tags"] = tags.num_rows
    counts["quality_warnings"] = sum(len(r.warnings) for r in reports)
    outputs += [r.result_json for r in reports]
    log.info("published %s %s: %s", location, day, counts)
    return StepResult(step="publish", location=location, date=day, counts=counts, outputs=outputs)
