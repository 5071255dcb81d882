"""Read the published image-level partitions that trends and rollups are computed from.

Only the named days' partition files are opened (partition pruning by path), and only the
columns the counts need. Each detection comes with its ``colour``: the dominant colour family
of a cropped target (:func:`dominant_families`, from the day's ``colors``), null for other
detections and for days published before colours existed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables import storage
from trendscope.tables.commit import read_together
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import COLORS, DETECTIONS, IMAGES, TAGS

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ["image_id", "location", "date", "status", "scene", "author", "model_sha256"]
DETECTION_COLUMNS = [
    "image_id",
    "location",
    "date",
    "label",
    "fine_label",
    "model_sha256",
    "fine_model_sha256",  # the series key of fine labels (trendscope.trends.series)
]
COLOR_COLUMNS = ["image_id", "detection", "rank", "family", "fraction"]
_COLOUR = pa.field("colour", pa.string())


def empty_days() -> tuple[pa.Table, pa.Table]:
    """Empty ``images`` and ``detections`` tables with the columns :func:`read_days` returns."""
    return (
        pa.schema([IMAGES.schema.field(c) for c in IMAGE_COLUMNS]).empty_table(),
        pa.schema(
            [*(DETECTIONS.schema.field(c) for c in DETECTION_COLUMNS), _COLOUR]
        ).empty_table(),
    )


def dominant_families(colors: pa.Table) -> pa.Table:
    """``image_id, detection, family``: each object's dominant colour family.

    The family of its largest colour cluster (rank 1). This is what "an image showing
    handbag/red" counts (docs/methodology.md, "Colours"): one colour per object, so the colour
    rows of a label split its objects.
    """
    first = colors.filter(pc.equal(colors.column("rank"), 1))
    return first.select(["image_id", "detection", "family"])


def colour_column(detections: pa.Table, colors: pa.Table | None) -> pa.Array:
    """Each detection's dominant colour family (:func:`dominant_families`; null: none), for the
    rows of one location-day."""
    n = detections.num_rows
    if colors is None or not colors.num_rows or not n:
        return pa.nulls(n, pa.string())
    dom = dominant_families(colors)
    keys = {
        (i, d): f
        for i, d, f in zip(*(dom.column(c).to_pylist() for c in dom.column_names), strict=True)
    }
    ids, dets = detections.column("image_id").to_pylist(), detections.column("detection")
    return pa.array(
        [keys.get((i, d)) for i, d in zip(ids, dets.to_pylist(), strict=True)], pa.string()
    )


def _with_colour(detections: pa.Table, colors: pa.Table | None) -> pa.Table:
    """One day's detections (with ``detection``) plus ``colour``, in :data:`DETECTION_COLUMNS`."""
    colour = colour_column(detections, colors)
    return detections.select(DETECTION_COLUMNS).append_column(_COLOUR, colour)


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
        det_spec = (DETECTIONS, [*DETECTION_COLUMNS, "detection"])
        try:  # reading is the existence check: one request per file on object storage
            day_images, day_detections, day_colors = read_together(
                root,
                location,
                day,
                [(IMAGES, IMAGE_COLUMNS), det_spec, (COLORS, COLOR_COLUMNS)],
                optional=(COLORS.name,),  # days published before colours existed
            )
        except FileNotFoundError:
            continue
        images.append(day_images)
        detections.append(_with_colour(day_detections, day_colors))
        read.append(day)
    if not images:
        return (*empty_days(), [])
    return pa.concat_tables(images), pa.concat_tables(detections), read


def read_days(root: str, location: str, days: Iterable[date]) -> tuple[pa.Table, pa.Table]:
    """Published ``images`` and ``detections`` of ``location`` on ``days`` (see
    :func:`read_published`); days not published are left out."""
    images, detections, _ = read_published(root, location, days)
    return images, detections


def read_tags(root: str, location: str, day: date) -> pa.Table:
    """The published ``tags`` of a location-day (empty when the day has none: published
    before tags existed, or without ok images)."""
    path = partition_path(root, TAGS.name, location, day)
    try:
        return storage.read_table(path, TAGS)
    except FileNotFoundError:
        return TAGS.schema.empty_table()
