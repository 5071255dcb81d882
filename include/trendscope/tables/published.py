"""Read the published image-level partitions that trends and rollups are computed from.

Only the named days' partition files are opened (partition pruning by path), and only the
columns the counts need.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import pyarrow as pa

from trendscope.tables import storage
from trendscope.tables.commit import read_together
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ["image_id", "location", "date", "status", "scene", "author", "model_sha256"]
DETECTION_COLUMNS = ["image_id", "location", "date", "label", "fine_label", "model_sha256"]


def empty_days() -> tuple[pa.Table, pa.Table]:
    """Empty ``images`` and ``detections`` tables with the columns :func:`read_days` returns."""
    return (
        pa.schema([IMAGES.schema.field(c) for c in IMAGE_COLUMNS]).empty_table(),
        pa.schema([DETECTIONS.schema.field(c) for c in DETECTION_COLUMNS]).empty_table(),
    )


def published_days(root: str, location: str, days: Iterable[date]) -> list[date]:
    """Those of ``days`` whose ``images`` and ``detections`` partitions are both published."""
    return [
        d
        for d in sorted(set(days))
        if storage.exists(partition_path(root, IMAGES.name, location, d))
        and storage.exists(partition_path(root, DETECTIONS.name, location, d))
    ]


def read_published(
    root: str, location: str, days: Iterable[date]
) -> tuple[pa.Table, pa.Table, list[date]]:
    """Published ``images`` and ``detections`` of ``location`` on ``days``, and which of
    ``days`` were published (a day without posts has no partition).

    Each day's two tables come from the same publish (:func:`~trendscope.tables.commit.read_together`).
    """
    images, detections, read = [], [], []
    for day in sorted(set(days)):
        try:  # reading is the existence check: one request per file on object storage
            day_images, day_detections = read_together(
                root, location, day, [(IMAGES, IMAGE_COLUMNS), (DETECTIONS, DETECTION_COLUMNS)]
            )
        except FileNotFoundError:
            continue
        images.append(day_images)
        detections.append(day_detections)
        read.append(day)
    if not images:
        return (*empty_days(), [])
    return pa.concat_tables(images), pa.concat_tables(detections), read


def read_days(root: str, location: str, days: Iterable[date]) -> tuple[pa.Table, pa.Table]:
    """Published ``images`` and ``detections`` of ``location`` on ``days`` (see
    :func:`read_published`); days not published are left out."""
    images, detections, _ = read_published(root, location, days)
    return images, detections
