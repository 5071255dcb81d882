"""Benchmark: tags with importance against a hand-labelled set, beside a detector-only baseline.

The set (``benchmarks/data/tags_labels.json``) is the 10 packaged photos and 20 demo posts
composed from them, labelled by eye with tags (COCO labels, ``<target>/<fine label>``,
``scene:<category>``) and an importance in [0, 1] (the most prominent = 1). Each image goes
through the product's real models (:class:`trendscope.pipeline.analyze.Analyzer`, default
config) and :func:`trendscope.vision.tags.image_tags`; the baseline tags each image with its
detected labels, all of importance 1.

Metrics, as the multi-tag study reports them:

* ``mAP``: per tag of the labelled vocabulary, the average precision of ranking all images by
  the tag's predicted importance (0 when not predicted) against its presence; the mean over tags;
* ``jaccard``: per image, |predicted & labelled| / |predicted | labelled| (1 when both are
  empty); the mean over images;
* ``importance_mae``: the mean |predicted - labelled| importance over the labelled tags (a
  missed tag counts 0); ``importance_mae_union`` also over falsely predicted tags (labelled 0).

    python benchmarks/bench_tags.py --json benchmarks/results/tags-2026-12-02.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from trendscope.config import load_config
from trendscope.demo import compose_post
from trendscope.photos import sample_photo
from trendscope.vision.tags import image_tags

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "benchmarks" / "data" / "tags_labels.json"
STUDY = {
    "baseline": {"mAP": 0.5086, "jaccard": 0.2478},
    "model": {"mAP": 0.566, "jaccard": 0.3221, "importance_mae": 0.2143},
    "dataset": "MS-COCO",
}
"""The multi-tag study's numbers (issue 15), for context: another dataset and vocabulary."""

Tags = dict[str, float]


def load_image(key: str) -> np.ndarray:
    """``photo:<name>`` or ``compose:<seed>:<kind>[:<extra>]`` as RGB pixels."""
    parts = key.split(":")
    if parts[0] == "photo":
        return sample_photo(parts[1])
    seed, kind = int(parts[1]), parts[2]
    extra = parts[3] if len(parts) > 3 else None
    post = compose_post(np.random.default_rng(seed), kind, extra)
    return np.asarray(post.image.convert("RGB"))


def tag_id(row: dict) -> str:
    """The labelled set's name of a ``tags`` row: scenes as ``scene:<category>``."""
    return f"scene:{row['tag']}" if row["kind"] == "scene" else row["tag"]


def predict(images: list[np.ndarray]) -> list[tuple[Tags, Tags]]:
    """``(ours, baseline)`` tags of each image, through the product's models."""
    from trendscope.models.fetch import fetch_models
    from trendscope.pipeline.analyze import Analyzer

    fetch_models(REPO / "models")
    analyzer = Analyzer(load_config(environ={}, overrides={"models_dir": str(REPO / "models")}))
    out = []
    for img in images:
        (scene,), (rows,) = analyzer.analyze([img])
        h, w = img.shape[:2]
        ours = {tag_id(r): r["importance"] for r in image_tags(w, h, rows, *scene)}
        baseline = dict.fromkeys((r["label"] for r in rows), 1.0)
        out.append((ours, baseline))
    return out


def score(truth: list[Tags], pred: list[Tags]) -> dict[str, float]:
    """mAP, Jaccard and importance MAE of ``pred`` against ``truth`` (see the module doc)."""
    vocab = sorted({t for tags in truth for t in tags})
    aps = []
    for tag in vocab:
        y = np.array([tag in tags for tags in truth], float)
        s = np.array([p.get(tag, 0.0) for p in pred])
        aps.append(average_precision_score(y, s))
    jacc = []
    for t, p in zip(truth, pred, strict=True):
        union = set(t) | set(p)
        jacc.append(len(set(t) & set(p)) / len(union) if union else 1.0)
    err = [
        abs(p.get(tag, 0.0) - imp)
        for t, p in zip(truth, pred, strict=True)
        for tag, imp in t.items()
    ]
    err_union = [
        abs(p.get(tag, 0.0) - t.get(tag, 0.0))
        for t, p in zip(truth, pred, strict=True)
        for tag in set(t) | set(p)
    ]
    return {
        "mAP": round(float(np.mean(aps)), 4),
        "jaccard": round(float(np.mean(jacc)), 4),
        "importance_mae": round(float(np.mean(err)), 4),
        "importance_mae_union": round(float(np.mean(err_union)), 4),
        "tags_per_image": round(float(np.mean([len(p) for p in pred])), 2),
    }


def _only(kinds: Callable[[str], bool], tags: Tags) -> Tags:
    return {t: v for t, v in tags.items() if kinds(t)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args(argv)
    doc = json.loads(LABELS.read_text())
    t0 = time.perf_counter()
    images, truth = [], []
    for item in doc["items"]:
        img = load_image(item["image"])
        digest = hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()
        if digest != item["sha256_pixels"]:
            raise SystemExit(f"{item['image']}: pixels differ from the labelled image; relabel")
        images.append(img)
        truth.append(item["tags"])
    preds = predict(images)
    ours = [p[0] for p in preds]
    methods = {
        "tags_with_importance": ours,
        "baseline_detector_uniform": [p[1] for p in preds],
        "ours_objects_only": [_only(lambda t: "/" not in t and ":" not in t, p) for p in ours],
        "ours_uniform_importance": [dict.fromkeys(p, 1.0) for p in ours],
    }
    report: dict = {
        "date": date.today().isoformat(),
        "images": len(images),
        "labelled_tags": sum(len(t) for t in truth),
        "vocabulary": len({t for tags in truth for t in tags}),
        "python": platform.python_version(),
        "study": STUDY,
        "methods": {name: score(truth, pred) for name, pred in methods.items()},
        "per_image": [
            {
                "image": item["image"],
                "truth": t,
                "predicted": {k: round(v, 3) for k, v in p.items()},
            }
            for item, t, p in zip(doc["items"], truth, ours, strict=True)
        ],
    }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    for name, m in report["methods"].items():
        print(f"{name:>28}: {m}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
