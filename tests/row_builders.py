"""Small builders of table rows for tests."""

from __future__ import annotations

from datetime import date
from typing import Any


def image_row(image_id: str, status: str = "ok", scene: str | None = None, **kw: Any) -> dict:
    """One ``images`` row with sensible defaults."""
    row = {
        "image_id": image_id,
        "location": "shibuya",
        "date": date(2026, 11, 2),
        "source_uri": f"/drop/{image_id}.jpg",
        "status": status,
        "scene": scene,
        "model_sha256": "c" * 64,
    }
    row.update(kw)
    return row


def det_row(image_id: str, detection: int, label: str, fine: str | None = None, **kw: Any) -> dict:
    """One ``detections`` row with sensible defaults."""
    row = {
        "image_id": image_id,
        "location": "shibuya",
        "date": date(2026, 11, 2),
        "detection": detection,
        "label": label,
        "confidence": 0.9,
        "x1": 1.0,
        "y1": 1.0,
        "x2": 10.0,
        "y2": 10.0,
        "fine_label": fine,
        "fine_confidence": 0.5 if fine else None,
        "model": "yolox_nano",
        "model_sha256": "d" * 64,
    }
    row.update(kw)
    return row
