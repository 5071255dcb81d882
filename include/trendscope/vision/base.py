"""The model-facing contracts: what every detector and classifier backend returns.

No module outside ``trendscope.vision`` knows a model library's output format; each backend
converts its raw output into :class:`Detections` or a probability matrix here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """Identity of a model as recorded on every output row."""

    name: str
    sha256: str
    path: str = ""


@dataclass(frozen=True)
class Detections:
    """Detections in one image, boxes in pixels of the original upright image.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2``, clipped to the image.
        confidence: ``(N,)`` float32 scores in ``[0, 1]``.
        class_id: ``(N,)`` int32 indices into the detector vocabulary.
        labels: ``(N,)`` class names (``vocabulary[class_id]``).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    labels: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.confidence)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be (N, 4) with N={n}, got {self.xyxy.shape}")
        if self.class_id.shape != (n,):
            raise ValueError(f"class_id must be (N,) with N={n}, got {self.class_id.shape}")
        if len(self.labels) != n:
            raise ValueError(f"labels must have {n} entries, got {len(self.labels)}")
        if n and (self.confidence.min() < 0 or self.confidence.max() > 1):
            raise ValueError("confidence must lie in [0, 1]")
        if n and (
            np.any(self.xyxy[:, 2] < self.xyxy[:, 0]) or np.any(self.xyxy[:, 3] < self.xyxy[:, 1])
        ):
            raise ValueError("boxes must satisfy x1 <= x2 and y1 <= y2")

    def __len__(self) -> int:
        return len(self.confidence)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            class_id=np.zeros((0,), np.int32),
            labels=(),
        )


@runtime_checkable
class Detector(Protocol):
    """Finds objects of a fixed vocabulary (COCO-80 for the defaults)."""

    info: ModelInfo
    vocabulary: tuple[str, ...]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in RGB ``uint8`` ``(H, W, 3)`` images, one result per image."""
        ...


@runtime_checkable
class Classifier(Protocol):
    """Scores an image or crop against a fixed label set (ImageNet-1k for the default)."""

    info: ModelInfo
    labels: tuple[str, ...]

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Softmax probabilities ``(N, len(labels))`` float32 for RGB ``uint8`` images."""
        ...
