"""Analyze step: detect objects, crop the targets, classify crops and scenes, stage the rows.

This is the GPU step: in production it runs as a Kubernetes pod through the same CLI command
(``trendscope analyze``) that the local Airflow task calls in-process.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from itertools import islice
from typing import TypeVar

import numpy as np

from trendscope.config import TrendscopeConfig
from trendscope.ingest.decode import DecodeError, decode_for_models
from trendscope.logs import progress
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.shards import Shard, shard_file
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import (
    COLORS,
    DETECTIONS,
    IMAGES,
    STATUS_OK,
    STATUS_QUARANTINED,
    to_table,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _CropRef:
    image: int
    detection: int
    target: str


@dataclass
class _BatchResult:
    """What one batch leaves behind: decode failures, and per decoded image its full size,
    scene and detection rows (the pixels are dropped with the batch)."""

    failed: list[tuple[int, Exception]]
    decoded: list[tuple[int, tuple[int, int]]]
    scenes: list[tuple[str, float]]
    rows: list[list[dict]]


def decode_batch(
    batch: list[int], images: list[dict], config: TrendscopeConfig
) -> tuple[list[tuple[int, Exception]], list[tuple[int, tuple[int, int]]], list[np.ndarray]]:
    """Read and decode one batch for the models: failures, ``(index, full size)`` and pixels.

    The analyze step's own read and decode, also what ``trendscope bench`` times as its decode
    floor and decodes beforehand for its model-only ceiling.
    """
    failed: list[tuple[int, Exception]] = []
    decoded: list[tuple[int, tuple[int, int]]] = []
    pixels: list[np.ndarray] = []
    for i in batch:
        try:
            data = storage.read_bytes(images[i]["source_uri"])
            px, full = decode_for_models(
                data, config.source.max_pixels, config.analyze.decode_max_side
            )
        except (DecodeError, OSError) as exc:
            failed.append((i, exc))
            continue
        decoded.append((i, full))
        pixels.append(px)
    return failed, decoded, pixels


def _analyze_batch(
    batch: list[int], images: list[dict], config: TrendscopeConfig, analyzer: Analyzer
) -> _BatchResult:
    """Read, decode and analyze one batch of images, all in the calling thread."""
    failed, decoded, pixels = decode_batch(batch, images, config)
    if not pixels:
        return _BatchResult(failed, decoded, [], [])
    scenes, rows = analyzer.analyze(pixels, [full for _, full in decoded])
    return _BatchResult(failed, decoded, scenes, rows)


def _in_order(fn: Callable[[T], R], items: list[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` in ``workers`` threads, yielded in order, ``2 * workers`` in flight.

    The models release the GIL, so while one thread waits on the detector another decodes or
    classifies: the cores stay busy without one batch's wait holding up the next. At most
    ``2 * workers`` batches are decoded or pending at once, whatever the day's size.
    """
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        it = iter(items)
        pending = deque(pool.submit(fn, item) for item in islice(it, 2 * workers))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(fn, item) for item in islice(it, 1))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _batches(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


def run_batches(fn: Callable[[T], R], batches: list[T], config: TrendscopeConfig) -> Iterator[R]:
    """``fn`` over ``batches`` as the analyze step runs them: ``analyze.workers`` at once, in
    order (``trendscope bench`` runs its ceilings through this too)."""
    return _in_order(fn, batches, config.analyze.workers)


def staged_batches(
    config: TrendscopeConfig, location: str, day: date, shard: Shard
) -> tuple[list[dict], list[list[int]]]:
    """The staged ``images`` rows of a location-day and the shard's ok ones in model batches."""
    images_path = partition_path(config.data_root, IMAGES.name, location, day, area="staging")
    images = storage.read_table(images_path, IMAGES).to_pylist()
    todo = shard.take([i for i, r in enumerate(images) if r["status"] == STATUS_OK])
    return images, list(_batches(todo, config.batch_size))


class Analyzer:
    """Runs the detector, the crops and the classifier over batches of decoded images.

    ``analyze_day`` runs ``analyze.workers`` batches at once, so each model call gets
    that share of the cores: on a 2-core CPU two single-threaded streams keep both cores busy
    where one stream of two-threaded calls leaves them waiting on each other.
    """

    def __init__(self, config: TrendscopeConfig) -> None:
        from trendscope.vision.factory import (
            load_classifier,
            load_detector,
            load_target_classifiers,
        )
        from trendscope.vision.fine import FineLabeler, SceneLabeler
        from trendscope.vision.registered import ModelLabeler
        from trendscope.vision.threads import usable_cpus

        self.config = config
        self.threads = max(1, usable_cpus() // config.analyze.workers)  # per model call
        self.detector = load_detector(config, self.threads)
        self.classifier = load_classifier(config, self.threads)
        # targets with a registered classifier (targets.<t>.classifier) use it for their crops
        self.target_models = load_target_classifiers(config, self.threads)
        labels = self.classifier.labels
        self.fine = {
            name: ModelLabeler(self.target_models[name].labels, t.fine_threshold)
            if name in self.target_models
            else FineLabeler(name, t, labels)
            for name, t in config.targets.items()
        }
        self.scenes = SceneLabeler(config.scenes, labels)

    def analyze(
        self, images: list[np.ndarray], full_sizes: list[tuple[int, int]] | None = None
    ) -> tuple[list[tuple[str, float]], list[list[dict]]]:
        """Scenes and detection rows (without the image/location/date keys) for a batch.

        ``full_sizes`` are the ``(width, height)`` of the originals when the pixels were decoded
        smaller; boxes are reported in the original's pixels. Safe to call from several threads.
        A cropped target's row also holds its dominant colours under ``colours`` (measured on
        the same decoded pixels as the crop; :func:`analyze_day` moves them to ``colors``).
        """
        from trendscope.vision.colours import dominant_colours
        from trendscope.vision.fine import crop

        colours_cfg = self.config.colours

        dets = self.detector.detect(images)
        crops: list[np.ndarray] = []
        refs: list[_CropRef] = []
        colours: dict[tuple[int, int], list] = {}
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
                if colours_cfg.enabled:
                    colours[(i, j)] = dominant_colours(
                        img,
                        (x1, y1, x2, y2),
                        clusters=colours_cfg.clusters,
                        side=colours_cfg.side,
                        iterations=colours_cfg.iterations,
                        method=colours_cfg.method,
                    )
        by_imagenet = [k for k, ref in enumerate(refs) if ref.target not in self.target_models]
        probs = self.classifier.predict_proba(list(images) + [crops[k] for k in by_imagenet])
        scenes = self.scenes(probs[: len(images)])
        fine: dict[tuple[int, int], tuple[str, float]] = {}
        for k, p in zip(by_imagenet, probs[len(images) :], strict=True):
            fine[(refs[k].image, refs[k].detection)] = self.fine[refs[k].target](p[None, :])[0]
        for target, model in self.target_models.items():
            mine = [k for k, ref in enumerate(refs) if ref.target == target]
            if mine:
                labelled = self.fine[target](model.predict_proba([crops[k] for k in mine]))
                for k, fl in zip(mine, labelled, strict=True):
                    fine[(refs[k].image, refs[k].detection)] = fl
        det_info = self.detector.info
        rows: list[list[dict]] = []
        for i, d in enumerate(dets):
            image_rows = []
            h, w = images[i].shape[:2]
            fw, fh = full_sizes[i] if full_sizes else (w, h)
            scale = np.array([fw / w, fh / h, fw / w, fh / h], np.float64)
            limit = np.array([fw, fh, fw, fh], np.float64)
            for j in range(len(d)):
                fl = fine.get((i, j))
                fine_model = self.target_models.get(d.labels[j], self.classifier)
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
                        "fine_model": fine_model.info.name if fl else None,
                        "fine_model_sha256": fine_model.info.sha256 if fl else None,
                        "fine_model_version": getattr(fine_model, "version", None) if fl else None,
                    }
                )
                if (i, j) in colours:
                    image_rows[-1]["colours"] = colours[(i, j)]
            rows.append(image_rows)
        return scenes, rows


def analyze_day(
    config: TrendscopeConfig, location: str, day: date, shard: Shard | None = None
) -> StepResult:
    """Analyze one shard of the staged ok ``images`` of a location-day.

    The shard's updated ``images`` rows (size, scene, decode failures), its ``detections``
    and its targets' ``colors`` are staged under the day's analysis directory; publish merges
    every shard.
    """
    config.location(location)
    storage.use(config.storage)
    shard = shard or Shard()
    images, batches = staged_batches(config, location, day, shard)
    todo = [i for batch in batches for i in batch]
    log.info("analyze %s %s shard %s: %d ok images", location, day, shard, len(todo))
    analyzer = Analyzer(config) if todo else None
    det_rows: list[dict] = []
    color_rows: list[dict] = []
    results = run_batches(
        lambda batch: _analyze_batch(batch, images, config, analyzer), batches, config
    )
    cls = analyzer.classifier.info if analyzer else None
    for result in progress(results, len(batches), f"analyze {location} {day} (batches)", log):
        for i, exc in result.failed:
            images[i].update(status=STATUS_QUARANTINED, reason=str(exc))
            log.warning("quarantined %s: %s", images[i]["source_uri"], exc)
        for (i, (fw, fh)), (scene, scene_conf), image_rows in zip(
            result.decoded, result.scenes, result.rows, strict=True
        ):
            assert cls is not None
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
                keys = {"image_id": row["image_id"], "location": location, "date": day}
                for c in det.pop("colours", ()):
                    color_rows.append(
                        {**keys, "detection": det["detection"], "label": det["label"], **asdict(c)}
                    )
                det_rows.append({**keys, **det})
    det_rows.sort(key=lambda r: (r["image_id"], r["detection"]))
    color_rows.sort(key=lambda r: (r["image_id"], r["detection"], r["rank"]))
    root = config.data_root
    det_path = shard_file(root, location, day, shard, DETECTIONS.name)
    img_path = shard_file(root, location, day, shard, IMAGES.name)
    storage.write_table_atomic(to_table(DETECTIONS, det_rows), det_path)
    colors_path = shard_file(root, location, day, shard, COLORS.name)
    storage.write_table_atomic(to_table(COLORS, color_rows), colors_path)
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
            "colours": len(color_rows),
        },
        outputs=[img_path, det_path, colors_path],
    )
