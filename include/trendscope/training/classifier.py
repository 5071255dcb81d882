"""Fine-tune the shipped ImageNet EfficientNet-Lite0 on a labelled tree, export it to ONNX.

Two phases, as transfer learning on a small CPU budget wants them:

1. **Head.** The backbone is frozen, so its pooled features of every (un-augmented) image are
   computed once and cached; a new linear head is trained on them for ``head_epochs`` passes
   (seconds), early-stopped on holdout accuracy.
2. **Fine-tuning** (``epochs`` > 0 and ``unfreeze`` > 0). The last ``unfreeze`` block stages,
   the 1x1 head convolution and the head train together on augmented images (the research's
   recipe: rotation ±15°, shear ±20°, shift ±30 px at 224 px, scaled to the input size,
   horizontal flip, scaling 0.85-1.15), one progress bar per epoch, early-stopped on holdout
   accuracy (``patience`` epochs without a better one); the best epoch's weights are kept.

The model's input is the whole crop resized to ``imgsz`` (small photos want a small size:
96-128 px for Fashion-MNIST's 28 px). The export is evaluated in ONNX Runtime, so the numbers
describe the file the daily run will load.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trendscope.training.data import (
    LabelledSet,
    find_trees,
    load_pixels,
    scan,
    stratified_split,
)
from trendscope.training.evaluation import classification_metrics, summary, write_report

log = logging.getLogger(__name__)

STAGES = 7  # block stages of EfficientNet-Lite0
RESEARCH_SIZE = 224  # the input size the research's ±30 px shift was given for


@dataclass(frozen=True)
class ClassifierParams:
    """Training parameters (all recorded with the registered model)."""

    imgsz: int = 128
    epochs: int = 3  # fine-tuning epochs at most (early stopping may end sooner); 0: head only
    head_epochs: int = 60  # passes over the cached features
    unfreeze: int = STAGES  # block stages trained in fine-tuning (counted from the top)
    batch_size: int = 64
    lr_head: float = 3e-3
    lr: float = 2e-4  # fine-tuning peak (one-cycle); benchmarks/RESULTS.md compares others
    weight_decay: float = 1e-4
    patience: int = 3  # fine-tuning epochs without a better holdout accuracy before stopping
    holdout: float = 0.2
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    augment: bool = True
    base_model: str = "efficientnet_lite0 (ImageNet-1k, tf_efficientnet_lite0)"

    def __post_init__(self) -> None:
        checks = {
            "imgsz": 32 <= self.imgsz <= 512,
            "epochs": self.epochs >= 0,
            "head_epochs": self.head_epochs >= 1,
            "unfreeze": 0 <= self.unfreeze <= STAGES,
            "batch_size": self.batch_size >= 2,
            "patience": self.patience >= 1,
            "device": self.device in ("cpu", "cuda"),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training parameter(s): {', '.join(bad)} ({self})")


@dataclass
class TrainedClassifier:
    """What :func:`train_and_evaluate` wrote and measured."""

    out_dir: Path
    files: dict[str, Path]  # role -> file (model, labels, evaluation, confusion_*, holdout)
    classes: list[str]
    params: dict
    holdout_metrics: dict
    test_metrics: dict | None
    history: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict:
        """What the registry keeps: the holdout summary, and the test tree's when there is one."""
        out = {"holdout": summary(self.holdout_metrics), **summary(self.holdout_metrics)}
        if self.test_metrics is not None:
            out["test"] = summary(self.test_metrics)
        return out


def build_model(weights: Path, num_classes: int) -> Any:
    """EfficientNet-Lite0 with the shipped ImageNet weights and a new ``num_classes`` head."""
    import timm
    import torch

    from trendscope.vision.efficientnet import TIMM_ARCH, remap_lukemelas_keys

    model = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=1000)
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(remap_lukemelas_keys(state, model), strict=True)
    model.reset_classifier(num_classes)
    return model


def _augmenter(imgsz: int) -> Callable[[Any], Any]:
    from torchvision.transforms import v2

    shift = 30.0 / RESEARCH_SIZE  # ±30 px at the research's 224 px, as a fraction of the side
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=15, translate=(shift, shift), scale=(0.85, 1.15), shear=20),
        ]
    )


def _tensor(pixels: np.ndarray, device: str) -> Any:
    """``(N, S, S, 3)`` uint8 -> normalised float ``(N, 3, S, S)`` on ``device``."""
    import torch

    from trendscope.vision.registered import normalize

    return torch.from_numpy(normalize(pixels)).to(device)


def _features(model: Any, pixels: np.ndarray, params: ClassifierParams) -> Any:
    """Pooled backbone features ``(N, 1280)`` of un-augmented images (the frozen backbone)."""
    import torch

    model.eval()
    parts = []
    with torch.inference_mode():
        for i in range(0, len(pixels), params.batch_size * 2):
            x = _tensor(pixels[i : i + params.batch_size * 2], params.device)
            parts.append(model.forward_head(model.forward_features(x), pre_logits=True).float())
    return torch.cat(parts)


def _accuracy(logits: Any, targets: Any) -> float:
    return float((logits.argmax(1) == targets).float().mean())


def _predict(model: Any, pixels: np.ndarray, params: ClassifierParams) -> np.ndarray:
    import torch

    model.eval()
    parts = []
    with torch.inference_mode():
        for i in range(0, len(pixels), params.batch_size * 2):
            parts.append(model(_tensor(pixels[i : i + params.batch_size * 2], params.device)))
    return torch.cat(parts).float().softmax(1).cpu().numpy()


def train_head(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    holdout: tuple[np.ndarray, np.ndarray],
    params: ClassifierParams,
) -> list[dict]:
    """Phase 1: the new head on cached frozen-backbone features; the best epoch is kept."""
    import torch

    feats_tr, feats_ho = _features(model, train[0], params), _features(model, holdout[0], params)
    y_tr = torch.from_numpy(train[1]).to(params.device)
    y_ho = torch.from_numpy(holdout[1]).to(params.device)
    head = model.get_classifier()
    head.train()
    opt = torch.optim.AdamW(head.parameters(), lr=params.lr_head, weight_decay=params.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, params.head_epochs)
    gen = torch.Generator().manual_seed(params.seed)
    best, best_state, history = -1.0, copy.deepcopy(head.state_dict()), []
    for epoch in range(params.head_epochs):
        order = torch.randperm(len(y_tr), generator=gen).to(params.device)
        for i in range(0, len(order), 256):
            idx = order[i : i + 256]
            loss = torch.nn.functional.cross_entropy(head(feats_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        with torch.inference_mode():
            acc = _accuracy(head(feats_ho), y_ho)
        history.append({"phase": "head", "epoch": epoch + 1, "holdout_top1": round(acc, 6)})
        if acc > best:
            best, best_state = acc, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    log.info("head: best holdout top-1 %.4f", best)
    return history


def fine_tune(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    holdout: tuple[np.ndarray, np.ndarray],
    params: ClassifierParams,
    *,
    progress: bool = True,
) -> list[dict]:
    """Phase 2: the top ``unfreeze`` stages, the head conv and the head on augmented images,
    early-stopped on holdout accuracy; the best epoch's weights are kept."""
    import torch
    from tqdm import tqdm

    for p in model.parameters():
        p.requires_grad = False
    trainable = [*model.blocks[STAGES - params.unfreeze :], model.conv_head, model.bn2]
    trainable.append(model.get_classifier())
    for module in trainable:
        for p in module.parameters():
            p.requires_grad = True
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=params.lr,
        weight_decay=params.weight_decay,
    )
    steps = params.epochs * -(-len(train[1]) // params.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, params.lr, total_steps=max(steps, 1))
    augment = _augmenter(params.imgsz) if params.augment else None
    gen = torch.Generator().manual_seed(params.seed + 1)
    torch.manual_seed(params.seed)
    y_ho = holdout[1]
    best = float((_predict(model, holdout[0], params).argmax(1) == y_ho).mean())
    best_state, history, stale = copy.deepcopy(model.state_dict()), [], 0
    log.info("fine-tuning from holdout top-1 %.4f", best)
    for epoch in range(params.epochs):
        # BatchNorm keeps its ImageNet statistics everywhere (its scale and shift still learn):
        # batch statistics of a few dozen small photos would move the features away from the
        # ones the head was fitted on; dropout before the head stays on
        for module in trainable:
            module.train()
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
        order = torch.randperm(len(train[1]), generator=gen).numpy()
        bar = tqdm(
            range(0, len(order), params.batch_size),
            desc=f"epoch {epoch + 1}/{params.epochs}",
            unit="batch",
            disable=not progress,
            leave=True,
        )
        total, seen = 0.0, 0
        for i in bar:
            idx = order[i : i + params.batch_size]
            if len(idx) < 2:  # BatchNorm needs two
                continue
            raw = torch.from_numpy(train[0][idx]).permute(0, 3, 1, 2)
            if augment is not None:
                raw = torch.stack([augment(img) for img in raw])
            x = ((raw.float() - 127.0) / 128.0).to(params.device)
            y = torch.from_numpy(train[1][idx]).to(params.device)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        acc = float((_predict(model, holdout[0], params).argmax(1) == y_ho).mean())
        if progress:  # under the epoch's bar (which closed when its batches ran out)
            tqdm.write(f"epoch {epoch + 1}/{params.epochs}: holdout top-1 {acc:.4f}")
        history.append(
            {
                "phase": "fine-tune",
                "epoch": epoch + 1,
                "train_loss": round(total / max(seen, 1), 6),
                "holdout_top1": round(acc, 6),
            }
        )
        log.info("epoch %d: holdout top-1 %.4f", epoch + 1, acc)
        if acc > best:
            best, best_state, stale = acc, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= params.patience:
                log.info("early stop: no better holdout accuracy in %d epochs", stale)
                break
    model.load_state_dict(best_state)
    return history


def export_onnx(model: Any, imgsz: int, path: Path) -> Path:
    """The model as ONNX: input ``images`` ``[N, 3, imgsz, imgsz]``, output logits."""
    from trendscope.vision.efficientnet import export_onnx as onnx_bytes

    path.write_bytes(onnx_bytes(model.cpu().float().eval(), imgsz))
    return path


def _onnx_probs(path: Path, classes: list[str], imgsz: int, pixels: np.ndarray) -> np.ndarray:
    from trendscope.models.fetch import file_sha256
    from trendscope.vision.registered import RegisteredOnnxClassifier

    clf = RegisteredOnnxClassifier(
        path, classes, imgsz=imgsz, sha256=file_sha256(path), name="candidate", device="cpu"
    )
    return clf.predict_proba(list(pixels))


def train_and_evaluate(
    data_dir: Path,
    out_dir: Path,
    params: ClassifierParams,
    *,
    backbone: Path,
    crop: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
    progress: bool = True,
) -> TrainedClassifier:
    """Train on ``data_dir`` (an ImageFolder tree), write the model and its evaluation to
    ``out_dir``: ``model.onnx``, ``labels.txt``, ``evaluation.json`` + confusion CSV/PNG (the
    holdout), ``test_*`` for a ``test/`` tree, ``holdout.txt`` and ``params.json``."""
    import torch

    from trendscope.vision.threads import usable_cpus

    torch.set_num_threads(params.threads or usable_cpus())
    torch.manual_seed(params.seed)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    trees = find_trees(data_dir)
    everything = scan(trees.train, skip=("test",) if trees.test is not None else ())
    if len(everything.classes) < 2:
        raise ValueError(f"{trees.train}: a classifier needs at least two class folders")
    tr_idx, ho_idx = stratified_split(everything.targets, params.holdout, params.seed)
    train_set, holdout_set = everything.subset(tr_idx), everything.subset(ho_idx)
    classes = list(everything.classes)
    pixels = load_pixels(everything, params.imgsz, crop=crop)
    train = (pixels[tr_idx], train_set.targets)
    holdout = (pixels[ho_idx], holdout_set.targets)
    seconds["load"] = time.perf_counter() - start
    log.info(
        "%d classes, %d training and %d holdout images (%s)",
        len(classes),
        len(train_set),
        len(holdout_set),
        ", ".join(f"{c} {n}" for c, n in everything.counts().items()),
    )

    model = build_model(backbone, len(classes)).to(params.device)
    t = time.perf_counter()
    history = train_head(model, train, holdout, params)
    seconds["head"] = time.perf_counter() - t
    if params.epochs > 0 and params.unfreeze > 0:
        t = time.perf_counter()
        history += fine_tune(model, train, holdout, params, progress=progress)
        seconds["fine_tune"] = time.perf_counter() - t

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"model": export_onnx(model, params.imgsz, out_dir / "model.onnx")}
    files["labels"] = out_dir / "labels.txt"
    files["labels"].write_text("".join(f"{c}\n" for c in classes))
    t = time.perf_counter()
    holdout_metrics = classification_metrics(
        holdout[1], _onnx_probs(files["model"], classes, params.imgsz, holdout[0]), classes
    )
    files.update(write_report(holdout_metrics, out_dir, "evaluation"))
    test_metrics = None
    if trees.test is not None:
        test_set = scan(trees.test, classes)
        test_pixels = load_pixels(test_set, params.imgsz, crop=crop)
        probs = _onnx_probs(files["model"], classes, params.imgsz, test_pixels)
        test_metrics = classification_metrics(test_set.targets, probs, classes)
        report = write_report(test_metrics, out_dir, "test")
        files.update({f"test_{role}": p for role, p in report.items()})
    seconds["evaluate"] = time.perf_counter() - t
    files["holdout"] = out_dir / "holdout.txt"
    files["holdout"].write_text(
        "".join(f"{p.relative_to(everything.root).as_posix()}\n" for p in holdout_set.paths)
    )
    record = asdict(params) | {
        "train_images": len(train_set),
        "holdout_images": len(holdout_set),
        "cropped_with_detector": crop is not None,
    }
    files["params"] = out_dir / "params.json"
    files["params"].write_text(json.dumps({"params": record, "history": history}, indent=2))
    seconds["total"] = time.perf_counter() - start
    return TrainedClassifier(
        out_dir=out_dir,
        files=files,
        classes=classes,
        params=record,
        holdout_metrics=holdout_metrics,
        test_metrics=test_metrics,
        history=history,
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )


def holdout_of(data_dir: Path, seed: int, holdout: float = 0.2) -> LabelledSet:
    """The holdout :func:`train_and_evaluate` split from ``data_dir`` with ``seed``: the same
    images whichever model is evaluated on them."""
    trees = find_trees(data_dir)
    everything = scan(trees.train, skip=("test",) if trees.test is not None else ())
    return everything.subset(stratified_split(everything.targets, holdout, seed)[1])


def evaluate_onnx(
    model_path: Path,
    labels: list[str],
    imgsz: int,
    data: LabelledSet,
    *,
    crop: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
) -> dict:
    """Metrics of an exported classifier on labelled images whose classes it knows.

    Raises:
        ValueError: the images hold classes missing from the model's label list.
    """
    unknown = sorted(set(data.classes) - set(labels))
    if unknown:
        raise ValueError(
            f"{data.root}: classes {unknown} are not among the model's labels ({', '.join(labels)})"
        )
    targets = np.asarray([labels.index(data.classes[t]) for t in data.targets], np.int64)
    probs = _onnx_probs(model_path, labels, imgsz, load_pixels(data, imgsz, crop=crop))
    return classification_metrics(targets, probs, labels)
