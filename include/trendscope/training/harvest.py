"""Harvest crops to label: padded crops of one detector label from the published days.

Reads the published ``images`` and ``detections`` of each location-day together (one publish,
:func:`~trendscope.tables.commit.read_together`) and the photos from where the pipeline keeps
them (``images.source_uri``, local or S3), and writes::

    <out>/crops/<location>_<date>_<image>_<detection>.jpg   every crop, unlabelled
    <out>/manifest.csv                                      one row per crop (below)
    <out>/pre-sorted/<current fine label>/<crop>.jpg        with pre_sort: ready to correct

The manifest holds the file, image id, detection, box, location, date, detector confidence and
the current fine label and its confidence, so a labelled tree can be traced back to its posts.
Crops are padded as the daily run pads them (the target's ``crop_padding``).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.commit import read_together
from trendscope.tables.schemas import DETECTIONS, IMAGES, OTHER, STATUS_OK

MANIFEST_COLUMNS = (
    "file",
    "image_id",
    "detection",
    "location",
    "date",
    "label",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "fine_label",
    "fine_confidence",
    "fine_model",
    "source_uri",
)
_DETECTION_COLUMNS = [
    "image_id",
    "detection",
    "label",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "fine_label",
    "fine_confidence",
    "fine_model",
]
UNLABELLED = "unlabelled"  # pre-sort folder of crops without a fine label (not a target)


@dataclass(frozen=True)
class HarvestResult:
    """What a harvest wrote."""

    out: Path
    crops: int
    days: int  # published location-days read
    per_fine_label: dict[str, int]
    manifest: Path


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def harvest(
    config: TrendscopeConfig,
    label: str,
    start: date,
    end: date,
    out: Path,
    *,
    locations: list[str] | None = None,
    min_confidence: float = 0.8,
    per_class: int | None = None,
    pre_sort: bool = False,
) -> HarvestResult:
    """Write padded crops of ``label`` detections (confidence >= ``min_confidence``) of the
    published days ``start``..``end`` and their manifest to ``out``.

    Args:
        per_class: at most this many crops per current fine label (the most confident), so a
            common label does not crowd out the rare ones.
        pre_sort: also copy each crop into ``pre-sorted/<current fine label>/``.
    """
    from trendscope.ingest.decode import decode_rgb
    from trendscope.vision.fine import crop

    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"--min-confidence {min_confidence} must lie in [0, 1]")
    slugs = locations or config.location_slugs
    for slug in slugs:
        config.location(slug)  # an unknown location is an error naming it
    target = config.targets.get(label)
    padding = target.crop_padding if target is not None else 0.05
    rows: list[dict] = []
    read = 0
    for slug in slugs:
        for day in _days(start, end):
            try:
                images, detections = read_together(
                    config.data_root,
                    slug,
                    day,
                    [
                        (IMAGES, ["image_id", "source_uri", "status"]),
                        (DETECTIONS, _DETECTION_COLUMNS),
                    ],
                )
            except FileNotFoundError:
                continue
            read += 1
            uris = {
                r["image_id"]: r["source_uri"]
                for r in images.to_pylist()
                if r["status"] == STATUS_OK
            }
            for r in detections.to_pylist():
                wanted = r["label"] == label and r["confidence"] >= min_confidence
                if wanted and r["image_id"] in uris:
                    rows.append(
                        r | {"location": slug, "date": day, "source_uri": uris[r["image_id"]]}
                    )
    if per_class is not None:
        if per_class < 1:
            raise ValueError(f"--per-class {per_class} must be at least 1")
        rows.sort(key=lambda r: -r["confidence"])
        kept: dict[str, int] = {}
        capped = []
        for r in rows:
            key = r["fine_label"] or UNLABELLED
            if kept.get(key, 0) < per_class:
                kept[key] = kept.get(key, 0) + 1
                capped.append(r)
        rows = capped
    rows.sort(key=lambda r: (r["location"], r["date"], r["image_id"], r["detection"]))

    crops_dir = out / "crops"
    crops_dir.mkdir(parents=True, exist_ok=True)
    pixels: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, MANIFEST_COLUMNS)
        writer.writeheader()
        for r in rows:
            uri = r["source_uri"]
            if uri not in pixels:
                pixels = {uri: decode_rgb(storage.read_bytes(uri), config.source.max_pixels)}
            box = (r["x1"], r["y1"], r["x2"], r["y2"])
            name = f"{r['location']}_{r['date']:%Y-%m-%d}_{r['image_id'][:16]}_{r['detection']}.jpg"
            _save_jpeg(crop(pixels[uri], box, padding), crops_dir / name)
            fine = r["fine_label"] or UNLABELLED
            counts[fine] = counts.get(fine, 0) + 1
            if pre_sort:
                folder = out / "pre-sorted" / _folder_name(fine)
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(crops_dir / name, folder / name)
            writer.writerow(
                {
                    "file": f"crops/{name}",
                    **{k: r[k] for k in MANIFEST_COLUMNS if k in r and k != "date"},
                    "date": r["date"].isoformat(),
                    "confidence": round(float(r["confidence"]), 4),
                    "fine_confidence": None
                    if r["fine_confidence"] is None
                    else round(float(r["fine_confidence"]), 4),
                    **{k: round(float(r[k]), 1) for k in ("x1", "y1", "x2", "y2")},
                }
            )
    return HarvestResult(out, len(rows), read, dict(sorted(counts.items())), manifest)


def _folder_name(fine_label: str) -> str:
    """A fine label as a folder name (``/`` cannot be one); ``other`` stays ``other``."""
    return fine_label.replace("/", "_") if fine_label != OTHER else OTHER


def _save_jpeg(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, quality=95)
