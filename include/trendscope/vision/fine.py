"""From classifier probabilities to fine labels (per target) and scene categories."""

from __future__ import annotations

import numpy as np

from trendscope.config import ScenesConfig, TargetConfig
from trendscope.tables.schemas import OTHER
from trendscope.vision.labels import resolve_names


class _GroupLabeler:
    """Sums the probabilities of each group's classes; the best group under threshold is other."""

    def __init__(
        self, groups: dict[str, list[str]], labels: tuple[str, ...], field: str, threshold: float
    ):
        self.names = list(groups)
        self.threshold = threshold
        self.matrix = np.zeros((len(labels), len(groups)), np.float32)
        for j, (group, entries) in enumerate(groups.items()):
            try:
                idx = resolve_names(entries, labels)
            except ValueError as exc:
                raise ValueError(f"{field}.{group}: {exc}") from None
            self.matrix[idx, j] = 1.0

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        if not self.names or len(probs) == 0:
            return [(OTHER, 0.0)] * len(probs)
        scores = np.asarray(probs, np.float32) @ self.matrix
        best = scores.argmax(1)
        conf = scores[np.arange(len(best)), best].clip(0.0, 1.0)
        return [
            (self.names[b] if c >= self.threshold else OTHER, float(c))
            for b, c in zip(best, conf, strict=True)
        ]


class FineLabeler(_GroupLabeler):
    """Fine label of a target's crops: the best summed probability, or ``other`` under threshold."""

    def __init__(self, target_name: str, target: TargetConfig, labels: tuple[str, ...]):
        super().__init__(
            target.fine_labels, labels, f"targets.{target_name}.fine_labels", target.fine_threshold
        )


class SceneLabeler(_GroupLabeler):
    """Scene category of whole images, or ``other`` when no category reaches the threshold."""

    def __init__(self, scenes: ScenesConfig, labels: tuple[str, ...]):
        super().__init__(scenes.categories, labels, "scenes.categories", scenes.threshold)


def crop(image: np.ndarray, box: tuple[float, float, float, float], padding: float) -> np.ndarray:
    """The box grown by ``padding`` of its size on each side, clipped to the image, never empty."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    px, py = (x2 - x1) * padding, (y2 - y1) * padding
    left = int(np.clip(np.floor(x1 - px), 0, w - 1))
    top = int(np.clip(np.floor(y1 - py), 0, h - 1))
    right = int(np.clip(np.ceil(x2 + px), left + 1, w))
    bottom = int(np.clip(np.ceil(y2 + py), top + 1, h))
    return image[top:bottom, left:right]
