"""Tags with importance: what an image shows, ranked by how prominent each thing is in it.

Each ok image gets its detected labels (kind ``object``), the fine labels of its cropped
targets (``fine``, as ``label/fine``; ``other`` is not a tag) and its scene category
(``scene``; ``other`` is not a tag). No pixels are needed: the tags come from the day's
``images`` and ``detections`` rows, so the publish step computes them.

A tag's raw score multiplies four cues (``docs/methodology.md``, "Tags with importance"):

* area: ``sqrt(area_share)``, the summed box area of the label's objects over the image area
  (capped at 1; the square root because a thing at a quarter of the frame is already
  prominent, not a quarter as prominent as one filling it);
* confidence: the best detection confidence of the label;
* centrality: ``0.5 + 0.5 * c``, with ``c`` 1 for a box centred in the image and 0 for one
  centred in a corner (the best of the label's boxes): the main subject is usually central;
* count: ``1 + COUNT_WEIGHT * log2(objects)``: three people matter more than one.

A fine label scores its label's score times the best fine confidence; the scene scores
``SCENE_WEIGHT`` times the scene confidence (it spans the whole frame but says less than a
detected object). Importance is the score divided by the image's largest score, so the top
tag of every image has importance 1 and the others say how prominent they are next to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trendscope.tables.schemas import OTHER, STATUS_OK, TAG_KINDS

COUNT_WEIGHT = 0.25
"""How much each doubling of a label's objects adds to its score (relative)."""
SCENE_WEIGHT = 0.6
"""A scene's score per unit of scene confidence (an object filling the frame scores 1)."""
KINDS = TAG_KINDS


def _centrality(box: Sequence[float], width: float, height: float) -> float:
    """1 when the box is centred in the image, 0 when its centre is in a corner."""
    x1, y1, x2, y2 = box
    dx = ((x1 + x2) / 2 - width / 2) / (width / 2)
    dy = ((y1 + y2) / 2 - height / 2) / (height / 2)
    return max(0.0, 1.0 - math.hypot(dx, dy) / math.sqrt(2))


def image_tags(
    width: float,
    height: float,
    detections: Iterable[Mapping[str, Any]],
    scene: str | None = None,
    scene_confidence: float | None = None,
) -> list[dict[str, Any]]:
    """The ranked tags of one image.

    Args:
        width: Image width in the boxes' pixels.
        height: Image height.
        detections: Rows with ``label``, ``confidence``, ``x1, y1, x2, y2`` and optionally
            ``fine_label``, ``fine_confidence``.
        scene: The scene category (``other`` or None: no scene tag).
        scene_confidence: Its confidence.

    Returns:
        Rows ``rank, tag, kind, importance, score, area_share, confidence, centrality,
        objects``, most important first (ties by kind, then tag).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    area = float(width) * float(height)
    labels: dict[str, dict[str, Any]] = {}
    fines: dict[tuple[str, str], dict[str, Any]] = {}
    for d in detections:
        box = (d["x1"], d["y1"], d["x2"], d["y2"])
        g = labels.setdefault(d["label"], {"area": 0.0, "conf": 0.0, "cent": 0.0, "n": 0})
        g["area"] += max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]) / area
        g["conf"] = max(g["conf"], float(d["confidence"]))
        g["cent"] = max(g["cent"], _centrality(box, width, height))
        g["n"] += 1
        fine = d.get("fine_label")
        if fine and fine != OTHER:
            f = fines.setdefault((d["label"], fine), {"conf": 0.0, "n": 0})
            f["conf"] = max(f["conf"], float(d.get("fine_confidence") or 0.0))
            f["n"] += 1
    rows: list[dict[str, Any]] = []
    scores: dict[str, float] = {}
    for label, g in labels.items():
        share = min(1.0, g["area"])
        score = (
            math.sqrt(share)
            * g["conf"]
            * (0.5 + 0.5 * g["cent"])
            * (1 + COUNT_WEIGHT * math.log2(g["n"]))
        )
        scores[label] = score
        rows.append(_row(label, "object", score, share, g["conf"], g["cent"], g["n"]))
    for (label, fine), f in fines.items():
        g = labels[label]
        rows.append(
            _row(
                f"{label}/{fine}",
                "fine",
                scores[label] * f["conf"],
                min(1.0, g["area"]),
                f["conf"],
                g["cent"],
                f["n"],
            )
        )
    if scene and scene != OTHER and scene_confidence is not None:
        conf = float(scene_confidence)
        rows.append(_row(scene, "scene", SCENE_WEIGHT * conf, 1.0, conf, 1.0, None))
    top = max((r["score"] for r in rows), default=0.0)
    for r in rows:
        r["importance"] = r["score"] / top if top > 0 else 0.0
    rows.sort(key=lambda r: (-r["importance"], KINDS.index(r["kind"]), r["tag"]))
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    return rows


def _row(
    tag: str,
    kind: str,
    score: float,
    area_share: float,
    confidence: float,
    centrality: float,
    objects: int | None,
) -> dict[str, Any]:
    return {
        "tag": tag,
        "kind": kind,
        "score": score,
        "area_share": area_share,
        "confidence": confidence,
        "centrality": centrality,
        "objects": objects,
    }


def day_tags(
    images: Iterable[Mapping[str, Any]], detections: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``tags`` rows of a location-day from its ``images`` and ``detections`` rows.

    Only ``ok`` images with a known size get tags; rows are ordered by image, then rank.
    """
    by_image: dict[str, list[Mapping[str, Any]]] = {}
    for d in detections:
        by_image.setdefault(d["image_id"], []).append(d)
    out = []
    for img in sorted(images, key=lambda r: r["image_id"]):
        if img["status"] != STATUS_OK or not img.get("width") or not img.get("height"):
            continue
        for row in image_tags(
            img["width"],
            img["height"],
            by_image.get(img["image_id"], []),
            img.get("scene"),
            img.get("scene_confidence"),
        ):
            out.append(
                {
                    "image_id": img["image_id"],
                    "location": img["location"],
                    "date": img["date"],
                    **row,
                }
            )
    return out
