"""Analyze step: detect objects, crop the targets, classify crops and scenes, stage the rows.

This is the GPU step: in production it runs as a Kubernetes pod through the same CLI command
(``trendscope analyze``) that the local Airflow task calls in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from trendscope.config import TrendscopeConfig
from trendscope.ingest.decode import DecodeError, decode_for_models
from trendscope.logs import progress
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.shards import Shard, shard_file
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, STATUS_OK, STATUS_QUARANTINED, to_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """An image's pixels and, where the backends allow, its model inputs made ahead of time."""

    pixels: np.ndarray
    det_input: np.ndarray | None = None
    scale: float = 1.0
    scene_input: np.ndarray | None = None


@dataclass(frozen=True)
class _CropRef:
    image: int
    detection: int
    target: str


def _decode_one(
    uri: str, config: TrendscopeConfig, analyzer: Analyzer | None
) -> tuple[Any, tuple[int, int]] | Exception:
    try:
        data = storage.read_bytes(uri)
        pixels, full = decode_for_models(
            data, config.source.max_pixels, config.analyze.decode_max_side
        )
    except (DecodeError, OSError) as exc:
        return exc
    return (analyzer.prepare(pixels) if analyzer else pixels), full


def _decode_ahead(
    images: list[dict],
    batches: list[list[int]],
    config: TrendscopeConfig,
    analyzer: Analyzer | None,
) -> Iterator[list[tuple[int, Any]]]:
    """Yield each batch decoded, decoding the next batch in threads while the models run."""
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=config.analyze.decode_workers) as pool:

        def submit(batch: list[int]) -> list[tuple[int, Future]]:
            return [
                (i, pool.submit(_decode_one, images[i]["source_uri"], config, analyzer))
                for i in batch
            ]

        pending = submit(batches[0])
        for k in range(len(batches)):
            current = pending
            if k + 1 < len(batches):
                pending = submit(batches[k + 1])
            yield [(i, f.result()) for i, f in current]


def _batches(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


class Analyzer:
    """Runs the detector, the crops and the classifier over batches of decoded images."""

    def __init__(self, config: TrendscopeConfig) -> None:
        from trendscope.vision.factory import load_classifier, load_detector
        from trendscope.vision.fine import FineLabeler, SceneLabeler

        self.config = config
        self.detector = load_detector(config)
        self.classifier = load_classifier(config)
        labels = self.classifier.labels
        self.fine = {name: FineLabeler(name, t, labels) for name, t in config.targets.items()}
        self.scenes = SceneLabeler(config.scenes, labels)

    def prepare(self, pixels: np.ndarray) -> Prepared:
        """Model inputs of one image, made off the hot loop (in the decode-ahead threads).

        Backends that expose the preprocess/inference split (YOLOX ONNX, EfficientNet) get their
        inputs here; others (Ultralytics) preprocess inside ``detect``.
        """
        det_input = scene_input = None
        scale = 1.0
        if hasattr(self.detector, "preprocess") and hasattr(self.detector, "postprocess"):
            batch, scales = self.detector.preprocess([pixels])
            det_input, scale = batch[0], scales[0]
        if hasattr(self.classifier, "preprocess_one"):
            scene_input = self.classifier.preprocess_one(pixels)
        return Prepared(pixels, det_input, scale, scene_input)

    def _detect(self, prepared: list[Prepared]) -> list:
        if all(p.det_input is not None for p in prepared):
            raw = self.detector.inference(np.stack([p.det_input for p in prepared]))
            return self.detector.postprocess(
                raw, [p.scale for p in prepared], [p.pixels.shape[:2] for p in prepared]
            )
        return self.detector.detect([p.pixels for p in prepared])

    def _classify(self, prepared: list[Prepared], crops: list[np.ndarray]) -> np.ndarray:
        if hasattr(self.classifier, "preprocess_one") and all(
            p.scene_input is not None for p in prepared
        ):
            tensors = [p.scene_input for p in prepared] + [
                self.classifier.preprocess_one(c) for c in crops
            ]
            return np.concatenate(
                [
                    self.classifier.inference(np.stack(tensors[k : k + 32]))
                    for k in range(0, len(tensors), 32)
                ]
            )
        return self.classifier.predict_proba([p.pixels for p in prepared] + crops)

    def analyze(
        self,
        images: list[np.ndarray] | list[Prepared],
        full_sizes: list[tuple[int, int]] | None = None,
    ) -> tuple[list[tuple[str, float]], list[list[dict]]]:
        """Scenes and detection rows (without the image/location/date keys) for a batch.

        ``images`` are decoded pixels or :meth:`prepare` results. ``full_sizes`` are the
        ``(width, height)`` of the originals when the pixels were decoded smaller; boxes are
        reported in the original's pixels.
        """
        from trendscope.vision.fine import crop

        prepared = [p if isinstance(p, Prepared) else Prepared(p) for p in images]
        images = [p.pixels for p in prepared]
        dets = self._detect(prepared)
        crops: list[np.ndarray] = []
        refs: list[_CropRef] = []
        for i, (img, d) in enumerate(zip(images, dets, strict=True)):
            for j in range(len(d)):
                target = self.config.targets.get(d.labels[j])
                if target is None or float(d.confidence[j]) < target.crop_threshold:
                    continue
                x1, y1, x2, y2 = (float(v) for v in d.xyxy[j])
                if min(x2 - x1, y2 - y1) < target.min_crop_pixels:
                    continue
                crops.append(crop(img, (x1, y1, x2, y2), target.crop_padding))
                refs.append(_CropRef(i, j, d.labels[j]))
        probs = self._classify(prepared, crops)
        scenes = self.scenes(probs[: len(images)])
        fine: dict[tuple[int, int], tuple[str, float]] = {}
        for ref, p in zip(refs, probs[len(images) :], strict=True):
            fine[(ref.image, ref.detection)] = self.fine[ref.target](p[None, :])[0]
        det_info, cls_info = self.detector.info, self.classifier.info
        rows: list[list[dict]] = []
        for i, d in enumerate(dets):
            image_rows = []
            h, w = images[i].shape[:2]
            fw, fh = full_sizes[i] if full_sizes else (w, h)
            scale = np.array([fw / w, fh / h, fw / w, fh / h], np.float64)
            limit = np.array([fw, fh, fw, fh], np.float64)
            for j in range(len(d)):
                fl = fine.get((i, j))
                x1, y1, x2, y2 = (float(v) for v in np.minimum(d.xyxy[j] * scale, limit))
                image_rows.append(
                    {
                        "detection": j,
                        "label": d.labels[j],
                        "confidence": float(d.confidence[j]),
                        "x1": x1,
                        "y1": y1,
                        "x2": x2,
                        "y2": y2,
                        "fine_label": fl[0] if fl else None,
                        "fine_confidence": fl[1] if fl else None,
                        "model": det_info.name,
                        "model_sha256": det_info.sha256,
                        "fine_model": cls_info.name if fl else None,
                        "fine_model_sha256": cls_info.sha256 if fl else None,
                    }
                )
            rows.append(image_rows)
        return scenes, rows


def analyze_day(
    config: TrendscopeConfig, location: str, day: date, shard: Shard | None = None
) -> StepResult:
    """Analyze one shard of the staged ok ``images`` of a location-day.

    The shard's updated ``images`` rows (size, scene, decode failures) and its ``detections``
    are staged under the day's analysis directory; publish merges every shard.
    """
    config.location(location)
    storage.use(config.storage)
    shard = shard or Shard()
    images_path = partition_path(config.data_root, IMAGES.name, location, day, area="staging")
    images = storage.read_table(images_path, IMAGES).to_pylist()
    todo = shard.take([i for i, r in enumerate(images) if r["status"] == STATUS_OK])
    log.info("analyze %s %s shard %s: %d ok images", location, day, shard, len(todo))
    analyzer = Analyzer(config) if todo else None
    det_rows: list[dict] = []
    batches = list(_batches(todo, config.batch_size))
    decoded_batches = _decode_ahead(images, batches, config, analyzer)
    for batch in progress(
        decoded_batches, len(batches), f"analyze {location} {day} (batches)", log
    ):
        decoded = []
        for i, result in batch:
            if isinstance(result, Exception):
                images[i].update(status=STATUS_QUARANTINED, reason=str(result))
                log.warning("quarantined %s: %s", images[i]["source_uri"], result)
            else:
                decoded.append((i, *result))
        if not decoded:
            continue
        assert analyzer is not None
        scenes, rows = analyzer.analyze(
            [px for _, px, _ in decoded], [full for _, _, full in decoded]
        )
        cls = analyzer.classifier.info
        for (i, _, (fw, fh)), (scene, scene_conf), image_rows in zip(
            decoded, scenes, rows, strict=True
        ):
            row = images[i]
            row.update(
                width=fw,
                height=fh,
                scene=scene,
                scene_confidence=scene_conf,
                model=cls.name,
                model_sha256=cls.sha256,
            )
            for det in image_rows:
                det_rows.append(
                    {"image_id": row["image_id"], "location": location, "date": day, **det}
                )
    det_rows.sort(key=lambda r: (r["image_id"], r["detection"]))
    root = config.data_root
    det_path = shard_file(root, location, day, shard, DETECTIONS.name)
    img_path = shard_file(root, location, day, shard, IMAGES.name)
    storage.write_table_atomic(to_table(DETECTIONS, det_rows), det_path)
    storage.write_table_atomic(to_table(IMAGES, [images[i] for i in todo]), img_path)
    ok = sum(1 for i in todo if images[i]["status"] == STATUS_OK)
    return StepResult(
        step="analyze",
        location=location,
        date=day,
        counts={
            "shard": shard.index,
            "shards": shard.count,
            "images_ok": ok,
            "detections": len(det_rows),
            "classified_crops": sum(1 for r in det_rows if r["fine_label"] is not None),
        },
        outputs=[img_path, det_path],
    )
