"""``harvest``, ``train-classifier``, ``models``, ``evaluate``, ``fashion-mnist-tree``: teach
Trendscope new categories and keep the trained models in the registry (docs/training.md)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trendscope.cli.args import _config, _date

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the training and registry subcommands to the ``trendscope`` subparsers."""
    p = sub.add_parser(
        "harvest",
        help="export padded crops of a detector label from the published days, to label",
        description="Write crops/ (padded crops of LABEL detections), manifest.csv (image, "
        "detection, box, location, date, current fine label) and, with --pre-sort, "
        "pre-sorted/<current fine label>/ so that labelling is mostly correcting.",
    )
    p.add_argument("--config", help="config YAML (default: include/config/trendscope.yaml)")
    p.add_argument("--data-dir", help="data root holding tables/ (overrides data_dir)")
    p.add_argument("--label", required=True, help="detector label, e.g. cat")
    p.add_argument("--location", action="append", help="location slug (repeatable; default all)")
    p.add_argument("--from", dest="start", required=True, type=_date, help="first day")
    p.add_argument("--to", dest="end", required=True, type=_date, help="last day")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--min-confidence", type=float, default=0.8, help="detector confidence floor")
    p.add_argument("--per-class", type=int, help="at most N crops per current fine label")
    p.add_argument("--pre-sort", action="store_true", help="also sort copies by fine label")

    p = sub.add_parser(
        "train-classifier",
        help="fine-tune a classifier on an ImageFolder tree; export ONNX, evaluate, register",
        description="DATA holds one folder per class (or train/ and test/ trees). Holdout: 8:2 "
        "stratified with --seed. The ImageNet EfficientNet-Lite0 backbone is fine-tuned (head "
        "first on cached features, then --unfreeze stages on augmented images, early-stopped on "
        "holdout accuracy); the ONNX model, its labels and its evaluation are registered.",
    )
    p.add_argument("--config", help="config YAML (models_dir, registry.root, detector)")
    p.add_argument("--data", required=True, help="ImageFolder tree: DATA/<class>/<image>")
    p.add_argument("--name", required=True, help="registry name, e.g. cat-breeds")
    p.add_argument("--target", help="crop each photo to this detector label first (e.g. cat)")
    p.add_argument("--crop-confidence", type=float, default=0.8, help="with --target")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (0: head only)")
    p.add_argument("--head-epochs", type=int, default=60, help="head passes on cached features")
    p.add_argument("--unfreeze", type=int, default=7, help="top block stages fine-tuned (0-7)")
    p.add_argument("--imgsz", type=int, default=128, help="input side in pixels")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    p.add_argument("--patience", type=int, default=3, help="early stopping patience (epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: usable cores)")
    p.add_argument("--no-augment", action="store_true", help="fine-tune without augmentation")
    p.add_argument("--out", help="folder for the model and evaluation (default: a temp folder)")
    p.add_argument("--no-register", action="store_true", help="train and evaluate only")
    p.add_argument("--promote", action="store_true", help="promote the new version at once")
    p.add_argument("--json", help="write the result (metrics, files, times) as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("models", help="list, show or promote registered models")
    p.add_argument("--config", help="config YAML (registry.root)")
    p.add_argument("--registry", help="registry root (overrides registry.root)")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="every registered version")
    m.add_argument("name", nargs="?", help="only this model")
    m.add_argument("--json", action="store_true", help="print JSON")
    m = msub.add_parser("show", help="one model version's record (NAME: promoted, else latest)")
    m.add_argument("ref", help="NAME or NAME@VERSION")
    m = msub.add_parser(
        "promote",
        help="promote NAME@V; with --data, only if it beats the promoted one on the same holdout",
    )
    m.add_argument("ref", help="NAME@VERSION (or NAME with --latest)")
    m.add_argument("--latest", action="store_true", help="the latest version of NAME")
    m.add_argument("--data", help="labelled tree (classifier) or YOLO dataset (detector)")
    m.add_argument("--negatives", help="detector: photos without the classes")
    m.add_argument("--metric", help="compared metric (default: top1 / map50)")
    m.add_argument("--json", help="write the comparison as JSON here")

    p = sub.add_parser(
        "evaluate",
        help="evaluate a registered model on a labelled tree or YOLO dataset",
        description="Classifier: DATA is an ImageFolder tree (all of it, or with --holdout-seed "
        "only the 8:2 holdout train-classifier split off with that seed). Detector: DATA is a "
        "YOLO data.yaml (or its folder); --negatives counts false positives.",
    )
    p.add_argument("--config", help="config YAML (registry.root)")
    p.add_argument("--registry", help="registry root (overrides registry.root)")
    p.add_argument("--model", required=True, help="NAME@VERSION (or NAME: the promoted one)")
    p.add_argument("--data", required=True)
    p.add_argument("--holdout-seed", type=int, help="classifier: only that seed's holdout")
    p.add_argument("--negatives", help="detector: photos holding none of the classes")
    p.add_argument("--out", help="classifier: also write evaluation JSON/CSV/PNG here")
    p.add_argument("--json", help="write the metrics as JSON here")

    p = sub.add_parser(
        "fashion-mnist-tree",
        help="write a stratified Fashion-MNIST subset as an ImageFolder tree (real photos)",
        description="From Debian's dataset-fashion-mnist (make setup installs it).",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--per-class", type=int, required=True)
    p.add_argument("--classes", help="comma-separated (default: all ten)")
    p.add_argument("--split", choices=("train", "t10k"), default="train")
    p.add_argument("--seed", type=int, default=0)


def _registry(args: argparse.Namespace) -> Any:
    from trendscope.models.registry import Registry

    if getattr(args, "registry", None):
        return Registry(args.registry)
    config = _config(args)
    return Registry(config.resolve(config.registry.root))


def _cmd_harvest(args: argparse.Namespace) -> int:
    from trendscope.training.harvest import harvest

    config = _config(args)
    result = harvest(
        config,
        args.label,
        args.start,
        args.end,
        Path(args.out),
        locations=args.location,
        min_confidence=args.min_confidence,
        per_class=args.per_class,
        pre_sort=args.pre_sort,
    )
    counts = ", ".join(f"{k} {v}" for k, v in result.per_fine_label.items()) or "none"
    print(f"{result.crops} crops of {args.label!r} from {result.days} published location-days")
    print(f"  by current fine label: {counts}")
    print(f"  manifest: {result.manifest}")
    if args.pre_sort:
        print(f"  pre-sorted: {result.out / 'pre-sorted'} (move wrong crops, then train on it)")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    from trendscope.models.registry import Registry, data_fingerprint
    from trendscope.training.classifier import ClassifierParams, train_and_evaluate
    from trendscope.training.data import detector_crop, materialize
    from trendscope.training.evaluation import format_metrics

    config = _config(args)
    params = ClassifierParams(
        imgsz=args.imgsz,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        unfreeze=args.unfreeze,
        batch_size=args.batch,
        lr=args.lr,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        augment=not args.no_augment,
    )
    crop = None
    if args.target:
        from trendscope.vision.factory import load_detector

        detector = load_detector(config)
        if args.target not in detector.vocabulary:
            raise ValueError(f"--target {args.target!r} is not a label of the detector")
        padding = (
            config.targets[args.target].crop_padding if args.target in config.targets else 0.05
        )
        crop = detector_crop(
            detector, args.target, min_confidence=args.crop_confidence, padding=padding
        )
    backbone = Path(config.model_path(config.classifier.weights))
    if not backbone.is_file():
        raise FileNotFoundError(f"ImageNet backbone {backbone} not found: run `make models`")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="trendscope-train-"))
    data = materialize(args.data, out / "data")  # an s3:// tree is downloaded first
    result = train_and_evaluate(
        data, out, params, backbone=backbone, crop=crop, progress=not args.no_progress
    )
    print(f"holdout ({result.params['holdout_images']} images):")
    print(format_metrics(result.holdout_metrics))
    if result.test_metrics is not None:
        print("test tree:")
        print(format_metrics(result.test_metrics))
    print(f"model and evaluation in {out} ({result.seconds['total']:.0f}s)")
    record: dict[str, Any] = {
        "name": args.name,
        "out": str(out),
        "classes": result.classes,
        "params": result.params,
        "metrics": result.metrics,
        "holdout": result.holdout_metrics,
        "test": result.test_metrics,
        "history": result.history,
        "seconds": result.seconds,
        "files": {role: str(p) for role, p in result.files.items()},
    }
    if not args.no_register:
        registry = Registry(config.resolve(config.registry.root))
        params_record = result.params | {
            "target": args.target,
            "crop_confidence": args.crop_confidence if args.target else None,
            "data": args.data if "://" in args.data else str(data.resolve()),
        }
        mv = registry.register(
            "classifier",
            args.name,
            result.files,
            labels=result.classes,
            params=params_record,
            metrics=result.metrics,
            data_fingerprint=data_fingerprint(data),
        )
        if args.promote:
            registry.promote(mv.ref)
        print(
            f"registered {mv.ref} (sha256 {mv.sha256[:12]}){' and promoted' if args.promote else ''}"
            f"; use it with targets.<target>.classifier: {mv.ref}"
        )
        record |= {"ref": mv.ref, "version": mv.version, "sha256": mv.sha256}
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=str))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.models_command == "list":
        versions = registry.list(args.name)
        if args.json:
            print(json.dumps([_summary(registry, mv) for mv in versions], indent=1))
            return 0
        if not versions:
            print(f"no models in {registry.root}")
            return 0
        promoted = {mv.name: registry.promoted(mv.name) for mv in versions}
        print(f"{'model':<28} {'kind':<10} {'created':<25} {'metrics':<40} sha256")
        for mv in versions:
            star = " *" if promoted[mv.name] == mv else ""
            print(
                f"{mv.ref + star:<28} {mv.kind:<10} {mv.created_at:<25} "
                f"{_headline(mv.metrics):<40} {mv.sha256[:12]}"
            )
        print("* promoted (what a bare NAME means)")
        return 0
    if args.models_command == "show":
        print(json.dumps(_summary(registry, registry.get(args.ref), full=True), indent=1))
        return 0
    return _cmd_promote(args, registry)


def _headline(metrics: dict) -> str:
    keys = ("top1", "top5", "macro_f1", "map50", "map50_95", "fp_negatives")
    return " ".join(
        f"{k} {metrics[k]:.3f}" if isinstance(metrics[k], float) else f"{k} {metrics[k]}"
        for k in keys
        if k in metrics
    )


def _summary(registry: Any, mv: Any, full: bool = False) -> dict:
    from dataclasses import asdict

    out = asdict(mv) | {"ref": mv.ref}
    promoted = registry.promoted(mv.name)
    out["promoted"] = promoted is not None and promoted.version == mv.version
    out["folder"] = registry._version_dir(mv.name, mv.version)
    if not full:
        out.pop("params")
    return out


def _evaluate(registry: Any, mv: Any, data: str, **options: Any) -> dict:
    """Metrics of a registered model on ``data`` (a tree, or a YOLO dataset for a detector;
    local or ``s3://``, downloaded first)."""
    import tempfile

    from trendscope.training.data import materialize

    with tempfile.TemporaryDirectory(prefix="trendscope-eval-") as tmp:
        return _evaluate_local(registry, mv, materialize(data, Path(tmp)), **options)


def _evaluate_local(registry: Any, mv: Any, data: Path, **options: Any) -> dict:
    if mv.kind == "detector":
        from trendscope.training.detector import evaluate_detector

        yaml_path = data / "data.yaml" if data.is_dir() else data
        negatives = options.get("negatives")
        return evaluate_detector(
            registry.local_path(mv),
            yaml_path,
            negatives=Path(negatives) if negatives else None,
            imgsz=int(mv.params.get("imgsz", 320)),
        )
    from trendscope.training.classifier import evaluate_onnx, holdout_of
    from trendscope.training.data import find_trees, scan

    seed = options.get("holdout_seed")
    if seed is not None:
        images = holdout_of(data, seed, float(mv.params.get("holdout", 0.2)))
    else:
        trees = find_trees(data)
        images = scan(trees.train, skip=("test",) if trees.test is not None else ())
    return evaluate_onnx(registry.local_path(mv), list(mv.labels), int(mv.params["imgsz"]), images)


def _print_metrics(mv: Any, metrics: dict) -> None:
    from trendscope.training.evaluation import format_metrics

    print(f"{mv.ref} ({mv.kind})")
    if mv.kind == "classifier":
        print(format_metrics(metrics))
    else:
        print(json.dumps({k: v for k, v in metrics.items() if k != "per_class"}, indent=1))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    registry = _registry(args)
    mv = registry.get(args.model)
    metrics = _evaluate(
        registry,
        mv,
        args.data,
        holdout_seed=args.holdout_seed,
        negatives=args.negatives,
    )
    _print_metrics(mv, metrics)
    if args.out and mv.kind == "classifier":
        from trendscope.training.evaluation import write_report

        write_report(metrics, Path(args.out))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": mv.ref, **metrics}, indent=1))
    return 0


def _cmd_promote(args: argparse.Namespace, registry: Any) -> int:
    """Promote a version; with ``--data`` only when it beats the promoted one on the same
    holdout (both evaluated now, on the same images), the comparison printed and logged."""
    if args.latest:
        from trendscope.models.registry import RegistryError, parse_ref

        name, version = parse_ref(args.ref)
        versions = registry.list(name)
        if version is not None or not versions:
            raise RegistryError(f"--latest needs a bare NAME with versions, got {args.ref!r}")
        candidate = versions[-1]
    else:
        candidate = registry.get(args.ref)
    current = registry.promoted(candidate.name)
    comparison: dict[str, Any] = {"candidate": candidate.ref, "current": None}
    if args.data is None or current is None or current.version == candidate.version:
        reason = "no --data: promoted as asked" if args.data is None else "nothing promoted yet"
        if current is not None and current.version == candidate.version:
            reason = "already promoted"
        promote = True
    elif candidate.kind != current.kind or list(candidate.labels) != list(current.labels):
        promote, reason = (
            False,
            (
                f"not comparable: {current.ref} has other labels or kind; promote without --data "
                "to switch on purpose"
            ),
        )
        comparison["current"] = current.ref
    else:
        metric = args.metric or ("top1" if candidate.kind == "classifier" else "map50")
        seed = candidate.params.get("seed") if candidate.kind == "classifier" else None
        options = {"holdout_seed": seed, "negatives": args.negatives}
        new = _evaluate(registry, candidate, args.data, **options)
        old = _evaluate(registry, current, args.data, **options)
        promote = new[metric] > old[metric]
        verdict = "beats" if promote else "does not beat"
        reason = (
            f"{candidate.ref} {metric} {new[metric]:.4f} {verdict} {current.ref} "
            f"{old[metric]:.4f} on the same holdout ({new.get('images', '?')} images)"
        )
        comparison |= {"current": current.ref, "metric": metric, "candidate_value": new[metric]}
        comparison |= {"current_value": old[metric]}
    if promote:
        registry.promote(candidate.ref)
    comparison |= {"promoted": promote, "reason": reason}
    log.info("promotion: %s", reason)
    print(f"{'promoted' if promote else 'kept ' + str(comparison['current'])}: {reason}")
    if args.json:
        Path(args.json).write_text(json.dumps(comparison, indent=1))
    return 0


def _cmd_fashion_mnist(args: argparse.Namespace) -> int:
    from trendscope.training import fashion_mnist

    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    counts = fashion_mnist.write_image_folder(
        Path(args.out),
        per_class=args.per_class,
        classes=classes or fashion_mnist.CLASSES,
        split=args.split,
        seed=args.seed,
    )
    print(f"wrote {sum(counts.values())} images to {args.out}: {counts}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "harvest": _cmd_harvest,
    "train-classifier": _cmd_train,
    "models": _cmd_models,
    "evaluate": _cmd_evaluate,
    "fashion-mnist-tree": _cmd_fashion_mnist,
}
