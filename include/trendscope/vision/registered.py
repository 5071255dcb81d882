"""A classifier trained by ``trendscope train-classifier``: ONNX, its own label list.

The model is an EfficientNet-Lite0 fine-tuned on a user's labelled crops, exported to ONNX
(input ``images`` ``[N, 3, S, S]``, output logits) and kept in the model registry with its
label list. Training and inference preprocess through :func:`preprocess_square`, one function,
so a crop is seen the same way in both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from trendscope.vision.base import ModelInfo
from trendscope.vision.onnxrt import onnx_session


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """An RGB ``uint8`` image or crop resized to ``size x size`` (the whole of it, aspect
    not kept: a crop already frames its object); grey images become three channels."""
    import cv2

    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(
        np.ascontiguousarray(image[:, :, :3]), (size, size), interpolation=interpolation
    )


def normalize(batch: np.ndarray) -> np.ndarray:
    """``(N, S, S, 3)`` ``uint8`` -> ``(N, 3, S, S)`` float32 as the ImageNet backbone was
    trained: ``(x - 127) / 128``."""
    return ((batch.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2)


def preprocess_square(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """RGB ``uint8`` images -> the model's input batch ``(N, 3, size, size)`` float32."""
    return normalize(np.stack([resize_square(img, size) for img in images]))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class RegisteredOnnxClassifier:
    """A registered fine-tuned classifier; implements :class:`~.base.Classifier`.

    ``info.name`` is the registry reference (``name@version``) so every output row names the
    model and version it came from.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        labels: Sequence[str],
        *,
        imgsz: int,
        sha256: str,
        name: str,
        version: int | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.session: Any = onnx_session(str(model_path), device, threads)
        self.labels = tuple(labels)
        self.imgsz = imgsz
        self.version = version
        self.info = ModelInfo(name=name, sha256=sha256, path=str(model_path))
        outputs = self.session.get_outputs()[0].shape[-1]
        if isinstance(outputs, int) and outputs != len(self.labels):
            raise ValueError(
                f"{name}: the model has {outputs} outputs but its label list {len(self.labels)}"
            )

    def predict_proba(self, images: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Softmax probabilities ``(N, len(labels))`` for RGB ``uint8`` images or crops."""
        if not len(images):
            return np.zeros((0, len(self.labels)), np.float32)
        parts = [
            softmax(
                self.session.run(
                    None, {"images": preprocess_square(images[i : i + batch_size], self.imgsz)}
                )[0]
            )
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(parts)


class ModelLabeler:
    """Fine label of a target's crops from its own classifier: the most probable class, or
    ``other`` when that probability is under the target's ``fine_threshold``."""

    def __init__(self, labels: Sequence[str], threshold: float) -> None:
        self.names = list(labels)
        self.threshold = threshold

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        from trendscope.tables.schemas import OTHER

        best = probs.argmax(1)
        conf = probs[np.arange(len(best)), best].clip(0.0, 1.0)
        return [
            (self.names[b] if c >= self.threshold else OTHER, float(c))
            for b, c in zip(best, conf, strict=True)
        ]
