"""YOLOX (ONNX Runtime) detector backend: the offline default, COCO-80.

The exported YOLOX-Nano takes ``images`` ``[1, 3, 416, 416]``: BGR, float 0-255, the photo
resized to fit and placed in the top-left corner of a canvas filled with 114. It returns
``[1, 3549, 85]`` raw rows (3549 = 52² + 26² + 13² anchors for strides 8/16/32): box centre and
size in grid units, objectness and 80 class scores (already sigmoid-ed), which
:func:`decode_yolox` turns into pixels and :func:`nms` de-duplicates per class.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from trendscope.models.fetch import file_sha256
from trendscope.vision.base import Detections, ModelInfo
from trendscope.vision.labels import COCO80
from trendscope.vision.onnxrt import onnx_session

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Resize an RGB image to fit ``size`` x ``size`` (top-left, pad 114); return BGR and scale."""
    import cv2

    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = resized[:, :, ::-1]  # RGB -> BGR
    return canvas, r


@lru_cache(maxsize=4)
def _grids(size: int) -> tuple[np.ndarray, np.ndarray]:
    grids, strides = [], []
    for s in STRIDES:
        n = size // s
        yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack((xv, yv), axis=-1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grid, stride = (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(strides).astype(np.float32),
    )
    grid.flags.writeable = stride.flags.writeable = False  # shared by every call
    return grid, stride


def decode_yolox(raw: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(A, 85)`` output -> ``(A, 4)`` xyxy boxes in input pixels and ``(A, 80)`` scores."""
    grid, stride = _grids(size)
    if raw.shape[0] != grid.shape[0]:
        raise ValueError(f"expected {grid.shape[0]} anchors for input {size}, got {raw.shape[0]}")
    xy = (raw[:, :2] + grid) * stride
    wh = np.exp(np.clip(raw[:, 2:4], -10, 10)) * stride
    boxes = np.concatenate((xy - wh / 2, xy + wh / 2), axis=1)
    scores = raw[:, 4:5] * raw[:, 5:]
    return boxes, scores


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float
) -> np.ndarray:
    """Per-class NMS (boxes of different classes never suppress each other)."""
    if boxes.size == 0:
        return np.zeros((0,), np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(boxes.max()) + 1.0)
    return nms(boxes + offset, scores, iou)


def to_detections(
    raw: np.ndarray,
    scale: float,
    shape: tuple[int, int],
    *,
    input_size: int,
    confidence: float,
    iou: float,
    max_detections: int,
    vocabulary: Sequence[str] = COCO80,
) -> Detections:
    """One image's raw ``(A, 85)`` rows -> :class:`Detections` in the original image's pixels.

    Args:
        raw: The model's rows for this image.
        scale: The letterbox ratio ``r`` (input pixels per original pixel).
        shape: The original image's ``(height, width)``.
        input_size: The square model input side.
        confidence: Minimum ``objectness * class score``.
        iou: Overlap above which a lower-scored box of the same class is dropped.
        max_detections: Keep at most this many, best first.
        vocabulary: Class names by id.
    """
    h, w = shape
    boxes, scores = decode_yolox(raw, input_size)
    cls = scores.argmax(1)
    conf = scores[np.arange(len(cls)), cls]
    mask = conf >= confidence
    boxes, conf, cls = boxes[mask], conf[mask], cls[mask]
    keep = batched_nms(boxes, conf, cls, iou)[:max_detections]
    boxes = boxes[keep] / scale  # the photo sits at the top-left corner: no offset to undo
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    cls = cls[keep].astype(np.int32)
    return Detections(
        xyxy=boxes.astype(np.float32),
        confidence=conf[keep].astype(np.float32).clip(0, 1),
        class_id=cls,
        labels=tuple(vocabulary[c] for c in cls),
    )


class YoloxOnnxDetector:
    """YOLOX exported to ONNX, run with ONNX Runtime; implements :class:`~.base.Detector`."""

    vocabulary: tuple[str, ...] = COCO80

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        input_size: int = 416,
        confidence: float = 0.3,
        iou: float = 0.45,
        max_detections: int = 100,
        device: str = "auto",
        name: str = "yolox_nano",
        threads: int | None = None,
    ) -> None:
        self.session = onnx_session(str(weights_path), device, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        fixed = [d for d in inp.shape[2:] if isinstance(d, int)]
        if fixed and fixed[0] != input_size:
            log.warning("%s is exported for input %d, not %d", weights_path, fixed[0], input_size)
        self.input_size = fixed[0] if fixed else input_size
        self.fixed_batch = isinstance(inp.shape[0], int)
        self.confidence, self.iou, self.max_detections = confidence, iou, max_detections
        sha256 = sha256 or file_sha256(weights_path)
        self.info = ModelInfo(name=name, sha256=sha256, path=str(weights_path))

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        """Letterbox a batch into ``(N, 3, S, S)`` float32 BGR and the scale of each image."""
        batch = np.empty((len(images), 3, self.input_size, self.input_size), np.float32)
        scales = []
        for i, img in enumerate(images):
            canvas, r = letterbox(img, self.input_size)
            batch[i] = canvas.transpose(2, 0, 1)
            scales.append(r)
        return batch, scales

    def inference(self, batch: np.ndarray) -> np.ndarray:
        """Raw ``(N, A, 85)`` outputs (one image per call when the export fixes the batch)."""
        if not self.fixed_batch:
            return self.session.run(None, {self.input_name: batch})[0]
        return np.concatenate(
            [
                self.session.run(None, {self.input_name: batch[i : i + 1]})[0]
                for i in range(len(batch))
            ]
        )

    def postprocess(
        self, raw: np.ndarray, scales: list[float], shapes: list[tuple[int, int]]
    ) -> list[Detections]:
        """Decode, threshold, per-class NMS, and map boxes back to each original image."""
        return [
            to_detections(
                r,
                scale,
                shape,
                input_size=self.input_size,
                confidence=self.confidence,
                iou=self.iou,
                max_detections=self.max_detections,
                vocabulary=self.vocabulary,
            )
            for r, scale, shape in zip(raw, scales, shapes, strict=True)
        ]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in RGB ``uint8`` images."""
        if not images:
            return []
        batch, scales = self.preprocess(images)
        raw = self.inference(batch)
        return self.postprocess(raw, scales, [img.shape[:2] for img in images])
