"""Synthetic detection histories with known trends, for tests and benchmarks.

Each ok image shows each label independently with that label's share (so a label's expected
daily share is exactly its configured share), with one or two objects when shown. Steps change a
label's share at one location from a given day on. Tables follow the ``images``/``detections``
contracts. They are built column-wise with numpy (not row by row with ``to_table``) and checked
with :func:`~trendscope.tables.schemas.conform`, so a year of 2,000 images a day stays fast.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from trendscope.tables.schemas import (
    DETECTIONS,
    IMAGES,
    OTHER,
    STATUS_DUPLICATE,
    STATUS_OK,
    STATUS_QUARANTINED,
    TableContract,
    conform,
)

DETECTOR_SHA = "d" * 64
CLASSIFIER_SHA = "c" * 64
_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")


def _hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 64-character hex ids (they stand in for sha256 digests)."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    chars = np.empty((n, 64), dtype="S1")
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    return pa.array(chars.view("S64").reshape(n), pa.binary()).cast(pa.string())


def _table(contract: TableContract, n: int, columns: Mapping[str, object]) -> pa.Table:
    arrays = []
    for field in contract.schema:
        value = columns.get(field.name)
        if value is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(field.type))
        elif isinstance(value, np.ndarray):
            arrays.append(pa.array(value, field.type))
        else:
            arrays.append(pa.array(np.full(n, value, dtype=object), field.type))
    return conform(contract, pa.Table.from_arrays(arrays, names=contract.columns))


def _choose(
    rng: np.random.Generator, n: int, shares: Mapping[str, float], rest: str | None
) -> np.ndarray:
    """``n`` names drawn with ``shares``; the remaining probability goes to ``rest``."""
    names = [*shares, rest]
    p = np.array([*shares.values(), max(0.0, 1.0 - sum(shares.values()))])
    return np.array(names, dtype=object)[rng.choice(len(names), size=n, p=p / p.sum())]


def synthetic_day(
    location: str,
    day: date,
    n_images: int,
    label_shares: Mapping[str, float],
    rng: np.random.Generator,
    fine_labels: Mapping[str, Mapping[str, float]] | None = None,
    scene_shares: Mapping[str, float] | None = None,
    bad_fraction: float = 0.05,
    extra_object_p: float = 0.3,
) -> tuple[pa.Table, pa.Table]:
    """One location-day of ``images`` and ``detections`` rows.

    Args:
        location: Location slug.
        day: The day.
        n_images: Images seen (``bad_fraction`` of them are duplicates or quarantined).
        label_shares: Probability that an ok image shows each label.
        rng: Random generator.
        fine_labels: Per target label, the fine-label probabilities of each object (the rest is
            ``other``).
        scene_shares: Probability of each scene per ok image (the rest has no scene).
        bad_fraction: Share of images that are not ok.
        extra_object_p: Probability that a shown label has two objects instead of one.
    """
    fine_labels = fine_labels or {}
    ids = _hex_ids(rng, n_images)
    u = rng.random(n_images)
    status = np.where(
        u < bad_fraction / 2,
        STATUS_QUARANTINED,
        np.where(u < bad_fraction, STATUS_DUPLICATE, STATUS_OK),
    ).astype(object)
    ok_idx = np.flatnonzero(status == STATUS_OK)
    scenes = None
    if scene_shares:
        scenes = np.full(n_images, None, dtype=object)
        scenes[ok_idx] = _choose(rng, ok_idx.size, scene_shares, None)
    images = _table(
        IMAGES,
        n_images,
        {
            "image_id": ids,
            "location": location,
            "date": day,
            "source_uri": np.array(
                [f"/drop/{location}/{day}/{i}.jpg" for i in range(n_images)], dtype=object
            ),
            "format": "jpeg",
            "width": np.full(n_images, 1080, dtype=np.int32),
            "height": np.full(n_images, 1350, dtype=np.int32),
            "status": status,
            "scene": scenes,
            "model": "efficientnet_lite0" if scene_shares else None,
            "model_sha256": CLASSIFIER_SHA if scene_shares else None,
        },
    )

    labels = np.array(list(label_shares), dtype=object)
    shares = np.array(list(label_shares.values()), dtype=np.float64)
    shown = rng.random((ok_idx.size, labels.size)) < shares
    img_i, lab_i = np.nonzero(shown)  # row-major: sorted by image
    k = 1 + (rng.random(img_i.size) < extra_object_p)
    det_img, det_lab = np.repeat(ok_idx[img_i], k), np.repeat(lab_i, k)
    m = det_img.size
    detection = (np.arange(m) - np.searchsorted(det_img, det_img)).astype(np.int32)
    det_labels = labels[det_lab] if m else np.array([], dtype=object)
    fine = np.full(m, None, dtype=object)
    has_fine = np.zeros(m, dtype=bool)
    for label, fine_shares in fine_labels.items():
        sel = np.flatnonzero(det_labels == label)
        fine[sel] = _choose(rng, sel.size, fine_shares, OTHER)
        has_fine[sel] = True
    x1 = rng.random(m).astype(np.float32) * 500
    y1 = rng.random(m).astype(np.float32) * 500
    detections = _table(
        DETECTIONS,
        m,
        {
            "image_id": ids.take(pa.array(det_img, pa.int64())),
            "location": location,
            "date": day,
            "detection": detection,
            "label": det_labels,
            "confidence": (0.3 + 0.7 * rng.random(m)).astype(np.float32),
            "x1": x1,
            "y1": y1,
            "x2": x1 + 50,
            "y2": y1 + 50,
            "fine_label": fine,
            "fine_confidence": pa.array(np.full(m, 0.6), pa.float32(), mask=~has_fine),
            "model": "yolox_nano",
            "model_sha256": DETECTOR_SHA,
            "fine_model": np.where(has_fine, "efficientnet_lite0", None),
            "fine_model_sha256": np.where(has_fine, CLASSIFIER_SHA, None),
        },
    )
    return images, detections


def synthetic_history(
    days: int,
    locations: Collection[str],
    images_per_day: int,
    label_shares: Mapping[str, float],
    steps: Mapping[tuple[str, str], tuple[int, float]] | None = None,
    seed: int = 0,
    *,
    start: date = date(2026, 1, 1),
    fine_labels: Mapping[str, Mapping[str, float]] | None = None,
    scene_shares: Mapping[str, float] | None = None,
    empty_days: Collection[int] = (),
    bad_fraction: float = 0.05,
) -> tuple[pa.Table, pa.Table]:
    """A multi-day, multi-location history with known share steps.

    Args:
        days: Number of days from ``start``.
        locations: Location slugs.
        images_per_day: Images per location-day.
        label_shares: Base probability that an ok image shows each label.
        steps: ``{(location, label): (day_index, new_share)}``: from that day on the label's
            share at that location is ``new_share``.
        seed: Seed; each location-day has its own stream, so partitions do not depend on order.
        start: Date of day index 0.
        fine_labels: See :func:`synthetic_day`.
        scene_shares: See :func:`synthetic_day`.
        empty_days: Day indexes with no images at all (no rows).
        bad_fraction: Share of images that are not ok.

    Returns:
        ``(images, detections)`` tables with the contracts' schemas.
    """
    steps = steps or {}
    parts_i, parts_d = [], []
    for li, location in enumerate(locations):
        for di in range(days):
            if di in empty_days:
                continue
            shares = dict(label_shares)
            for (loc, label), (step_day, new_share) in steps.items():
                if loc == location and di >= step_day:
                    shares[label] = new_share
            rng = np.random.default_rng([seed, li, di])
            img, det = synthetic_day(
                location,
                start + timedelta(days=di),
                images_per_day,
                shares,
                rng,
                fine_labels=fine_labels,
                scene_shares=scene_shares,
                bad_fraction=bad_fraction,
            )
            parts_i.append(img)
            parts_d.append(det)
    if not parts_i:
        return _table(IMAGES, 0, {}), _table(DETECTIONS, 0, {})
    return pa.concat_tables(parts_i), pa.concat_tables(parts_d)
