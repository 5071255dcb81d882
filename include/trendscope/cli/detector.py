"""``trendscope build-detector-data`` and ``trendscope train-detector``: new detector classes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trendscope.cli.args import _config


def register(sub: Any) -> None:
    """Add the detector-training subcommands to the ``trendscope`` subparsers."""
    p = sub.add_parser(
        "build-detector-data",
        help="write a small real YOLO dataset (Fashion-MNIST objects on packaged photos)",
        description="Paste real Fashion-MNIST product photos onto random crops of the photos the "
        "installed packages ship, with exact boxes: images/{train,val}, labels/, data.yaml, and "
        "negatives/ plus negatives_holdout/ (photos without the classes, half with look-alike "
        "distractors). Needs Debian's dataset-fashion-mnist.",
    )
    p.add_argument(
        "--out", required=True, help="directory to write (a previous dataset is replaced)"
    )
    p.add_argument(
        "--classes",
        default="sneaker",
        help="comma-separated Fashion-MNIST classes (default: sneaker)",
    )
    p.add_argument(
        "--distractors",
        help="comma-separated classes pasted into negatives (default: the other shoes and bag)",
    )
    p.add_argument("--train", type=int, default=60, help="training images")
    p.add_argument("--val", type=int, default=30, help="holdout images")
    p.add_argument("--negatives", type=int, default=60, help="negatives to mine")
    p.add_argument("--negatives-holdout", type=int, default=40, help="negatives never mined")
    p.add_argument("--imgsz", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser(
        "train-detector",
        help="train YOLO for new classes offline, with hard-negative mining; register it",
        description="Fine-tune Ultralytics YOLO (base: the fetched YOLOv8 checkpoint) on a YOLO "
        "dataset, then K times: run it over --negatives, add the photos with false positives as "
        "backgrounds, train on. Prints mAP50 / mAP50-95 on the holdout and the false positives "
        "of every round, and registers the final weights (kind detector) in registry.root. "
        "Nothing is downloaded.",
    )
    p.add_argument("--config", help="config YAML (models_dir, registry.root)")
    p.add_argument("--data", required=True, help="a YOLO data.yaml, or a folder holding one")
    p.add_argument("--name", required=True, help="registry name of the model, e.g. sneakers")
    p.add_argument("--epochs", type=int, default=30, help="epochs of round 0 (default 30)")
    p.add_argument(
        "--negatives",
        help="photos without the classes, mined for false positives (default: the dataset "
        "folder's negatives/ when there is one)",
    )
    p.add_argument(
        "--holdout-negatives",
        help="more such photos, never mined: an honest false-positive count (default: the "
        "dataset folder's negatives_holdout/ when there is one)",
    )
    p.add_argument("--mining-rounds", type=int, default=1, help="rounds after round 0 (default 1)")
    p.add_argument(
        "--mining-epochs", type=int, help="epochs of each mining round (default --epochs)"
    )
    p.add_argument("--imgsz", type=int, default=320, help="train/inference size (multiple of 32)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or a CUDA index")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument(
        "--fp-confidence", type=float, default=0.25, help="a false positive's confidence"
    )
    p.add_argument("--base-weights", help="starting .pt (default: models_dir's YOLOv8 checkpoint)")
    p.add_argument("--workdir", help="runs and mined backgrounds (default: a temp folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-register", action="store_true", help="train and report only")
    p.add_argument("--json", help="write the result (every round's metrics) as JSON here")


def _names(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _cmd_build(args: argparse.Namespace) -> int:
    from trendscope.training.yolo_data import build_yolo_dataset

    ds = build_yolo_dataset(
        args.out,
        classes=_names(args.classes) or [],
        distractors=_names(args.distractors),
        train=args.train,
        val=args.val,
        negatives=args.negatives,
        negatives_holdout=args.negatives_holdout,
        imgsz=args.imgsz,
        seed=args.seed,
    )
    counts = ", ".join(f"{k} {v}" for k, v in ds.counts.items())
    print(f"YOLO dataset written to {ds.root}: {counts}")
    print(f"  data:      {ds.data_yaml}")
    print(f"  negatives: {ds.negatives} (mined), {ds.negatives_holdout} (never mined)")
    return 0


def _round_line(r: Any) -> str:
    fp = "-" if r.fp_negatives is None else f"{r.fp_negatives} on {r.fp_images}/{r.negatives}"
    held = "" if r.fp_holdout_negatives is None else f"  fp_holdout {r.fp_holdout_negatives}"
    return (
        f"round {r.round}: {r.epochs} epochs, {r.backgrounds} backgrounds  "
        f"mAP50 {r.map50:.3f}  mAP50-95 {r.map50_95:.3f}  P {r.precision:.3f}  R {r.recall:.3f}  "
        f"false positives {fp}{held}  ({r.seconds:.0f}s)"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from trendscope.training.detector import train_detector

    config = _config(args)
    data = Path(args.data)
    if data.is_dir():
        data = data / "data.yaml"
    for flag, folder in (("negatives", "negatives"), ("holdout_negatives", "negatives_holdout")):
        default = data.parent / folder
        if getattr(args, flag) is None and default.is_dir() and any(default.iterdir()):
            setattr(args, flag, str(default))  # the layout build-detector-data writes
            print(f"--{flag.replace('_', '-')}: {default}", file=sys.stderr)
    if args.mining_rounds and not args.negatives:
        print("note: no --negatives, so no hard-negative mining", file=sys.stderr)
    registry = None
    if not args.no_register:
        from trendscope.models.registry import Registry

        registry = Registry(config.resolve(config.registry.root))
    result = train_detector(
        data,
        args.name,
        epochs=args.epochs,
        negatives=Path(args.negatives) if args.negatives else None,
        mining_rounds=args.mining_rounds if args.negatives else 0,
        imgsz=args.imgsz,
        device=args.device,
        base_weights=Path(args.base_weights) if args.base_weights else None,
        models_dir=Path(config.resolve(config.models_dir)),
        registry=registry,
        workdir=Path(args.workdir) if args.workdir else None,
        holdout_negatives=Path(args.holdout_negatives) if args.holdout_negatives else None,
        mining_epochs=args.mining_epochs,
        fp_confidence=args.fp_confidence,
        batch=args.batch,
        seed=args.seed,
        progress=lambda r: print(_round_line(r), flush=True),
    )
    print(f"classes: {', '.join(result.classes)}   weights: {result.weights}")
    if result.model is not None:
        print(
            f"registered {result.model.ref} (sha256 {result.model.sha256[:12]}); use it with "
            f"detector.backend: ultralytics and detector.weights: {result.model.ref}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "build-detector-data": _cmd_build,
    "train-detector": _cmd_train,
}
