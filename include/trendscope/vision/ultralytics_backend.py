"""Ultralytics YOLO detector backend: any ``.pt``, ``.onnx`` or ``.engine`` model file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from trendscope.models.fetch import file_sha256
from trendscope.vision.base import Detections, ModelInfo


def from_ultralytics(result: Any, vocabulary: Sequence[str] | None = None) -> Detections:
    """Convert one ``ultralytics.engine.results.Results`` into :class:`Detections`.

    Args:
        result: One image's result from ``YOLO.predict``.
        vocabulary: Class names in id order; default: the result's own ``names``.
    """
    if vocabulary is None:
        vocabulary = vocabulary_of(result.names)
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    cls = boxes.cls.cpu().numpy().astype(np.int32)
    return Detections(
        xyxy=boxes.xyxy.cpu().numpy().astype(np.float32),
        confidence=boxes.conf.cpu().numpy().astype(np.float32).clip(0, 1),
        class_id=cls,
        labels=tuple(vocabulary[c] for c in cls),
    )


def _offline_yolo() -> Any:
    """``ultralytics.YOLO`` with its network habits off: no pip auto-install, no telemetry.

    Ultralytics reads these switches from the environment once, when first imported, so they
    are set before the import and patched on its modules in case it was imported earlier.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO
    from ultralytics.utils import checks, events

    checks.AUTOINSTALL = False
    events.events.enabled = False
    _restore_pil_open()
    return YOLO


def _restore_pil_open() -> None:
    """Undo Ultralytics' process-wide patch of ``PIL.Image.open``.

    Its patch answers a file Pillow cannot identify by installing a HEIF plugin with pip, so
    after a YOLO model loads, ingest in the same process would quarantine garbage as a missing
    module (or try the network) instead of "unrecognised". Trendscope decodes its own inputs.
    """
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is not original:
        Image.open = original


def vocabulary_of(names: dict[int, str] | Sequence[str]) -> tuple[str, ...]:
    """Ultralytics ``names`` (a dict id -> name) as a tuple in id order."""
    if isinstance(names, dict):
        return tuple(names[i] for i in sorted(names))
    return tuple(names)


class UltralyticsDetector:
    """Wraps ``ultralytics.YOLO``; implements :class:`~.base.Detector`. Never downloads."""

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        input_size: int = 640,
        confidence: float = 0.3,
        iou: float = 0.45,
        max_detections: int = 100,
        device: str = "auto",
        name: str = "",
    ) -> None:
        yolo = _offline_yolo()
        if not os.path.isfile(weights_path):
            raise FileNotFoundError(f"Ultralytics weights not found: {weights_path}")
        self.model = yolo(str(weights_path), task="detect")
        self.vocabulary = vocabulary_of(self.model.names)
        self.kwargs = {
            "imgsz": input_size,
            "conf": confidence,
            "iou": iou,
            "max_det": max_detections,
            "verbose": False,
        }
        if device != "auto":
            self.kwargs["device"] = device
        self.info = ModelInfo(
            name=name or os.path.splitext(os.path.basename(weights_path))[0],
            sha256=sha256 or file_sha256(weights_path),
            path=str(weights_path),
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in RGB ``uint8`` images (Ultralytics expects BGR arrays)."""
        if not images:
            return []
        results = self.model.predict([img[:, :, ::-1] for img in images], **self.kwargs)
        return [from_ultralytics(r, self.vocabulary) for r in results]
