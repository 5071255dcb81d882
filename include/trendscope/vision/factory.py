"""Build the configured detector and classifier, once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from trendscope.config import TrendscopeConfig
from trendscope.models.fetch import file_sha256
from trendscope.vision.base import Classifier, Detector


def _weights(path: str, field: str) -> tuple[str, str]:
    """The weights path and its sha256; a missing file says how to fetch the models."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{field}: model file {path} not found; run `make models` (or "
            "`python -m trendscope.models.fetch --models-dir <models_dir>`) to fetch them"
        )
    stat = p.stat()
    return path, _sha256(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hash once per file version (size and mtime in the key: a replaced file is re-hashed)."""
    return file_sha256(path)


@lru_cache(maxsize=4)
def _detector(
    backend: str,
    path: str,
    sha: str,
    size: int,
    conf: float,
    iou: float,
    max_det: int,
    device: str,
    name: str,
    threads: int | None,
) -> Detector:
    kwargs = dict(
        sha256=sha,
        input_size=size,
        confidence=conf,
        iou=iou,
        max_detections=max_det,
        device=device,
        name=name,
    )
    if backend == "ultralytics":
        from trendscope.vision.ultralytics_backend import UltralyticsDetector

        return UltralyticsDetector(path, **kwargs)
    if backend == "yolox-onnx":
        from trendscope.vision.yolox import YoloxOnnxDetector

        return YoloxOnnxDetector(path, **kwargs, threads=threads)
    raise ValueError(f"detector.backend: unknown backend {backend!r}")


@lru_cache(maxsize=4)
def _classifier(
    backend: str, path: str, sha: str, device: str, name: str, threads: int | None
) -> Classifier:
    if backend != "efficientnet-lite0":
        raise ValueError(f"classifier.backend: unknown backend {backend!r}")
    from trendscope.vision.efficientnet import EfficientNetLite0Classifier

    return EfficientNetLite0Classifier(path, sha256=sha, device=device, name=name, threads=threads)


def load_detector(config: TrendscopeConfig, threads: int | None = None) -> Detector:
    """The configured detector (cached: repeated tasks in one process reuse it).

    ``threads``: CPU threads per call where the backend takes it (default: all usable cores).
    """
    d = config.detector
    if d.registered:
        path, sha = _registered_detector(config, d.registered)
    else:
        path, sha = _weights(config.model_path(d.weights), "detector.weights")
    return _detector(
        d.backend,
        path,
        sha,
        d.input_size,
        d.confidence,
        d.iou,
        d.max_detections,
        d.device,
        d.model_name,
        threads,
    )


def _registered_detector(config: TrendscopeConfig, ref: str) -> tuple[str, str]:
    """The local file and sha256 of a detector registered as ``NAME@V`` (sha256-checked)."""
    from trendscope.models.registry import Registry, RegistryError

    registry = Registry(config.resolve(config.registry.root))
    try:
        mv = registry.get(ref)
        if mv.kind != "detector":
            raise ValueError(f"detector.weights: {ref} is a {mv.kind}, not a detector")
        return str(registry.local_path(mv)), mv.sha256
    except RegistryError as exc:
        raise ValueError(f"detector.weights: {exc}") from exc


def load_classifier(config: TrendscopeConfig, threads: int | None = None) -> Classifier:
    """The configured classifier (cached); ``threads`` as for :func:`load_detector`."""
    c = config.classifier
    path, sha = _weights(config.model_path(c.weights), "classifier.weights")
    return _classifier(c.backend, path, sha, c.device, c.name, threads)


@lru_cache(maxsize=8)
def _registered_classifier(
    path: str,
    labels: tuple[str, ...],
    imgsz: int,
    sha: str,
    name: str,
    version: int,
    device: str,
    threads: int | None,
) -> Classifier:
    from trendscope.vision.registered import RegisteredOnnxClassifier

    return RegisteredOnnxClassifier(
        path,
        labels,
        imgsz=imgsz,
        sha256=sha,
        name=name,
        version=version,
        device=device,
        threads=threads,
    )


def load_target_classifiers(
    config: TrendscopeConfig, threads: int | None = None
) -> dict[str, Classifier]:
    """The registered classifier of each target that names one (``targets.<t>.classifier``),
    its file fetched from the registry and sha256-checked (cached per process)."""
    from trendscope.models.registry import Registry, target_models

    models = target_models(config)
    if not models:
        return {}
    registry = Registry(config.resolve(config.registry.root))
    out = {}
    for target, mv in models.items():
        out[target] = _registered_classifier(
            str(registry.local_path(mv)),
            tuple(mv.labels),
            int(mv.params["imgsz"]),
            mv.sha256,
            mv.name,
            mv.version,
            config.classifier.device,
            threads,
        )
    return out
