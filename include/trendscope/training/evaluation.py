"""Classifier evaluation: the numbers a user checks before trusting a model's labels.

Per class: accuracy (one class against the rest), recall (the share of its images found),
precision and F1; overall: top-1 and top-5 accuracy and error, macro-F1, and the confusion
matrix (rows: true class, columns: predicted), as JSON, CSV and a PNG.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def classification_metrics(targets: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Metrics of class probabilities ``probs`` ``(N, C)`` against true indices ``targets``.

    Top-5 is top-``min(5, C)``: with fewer than six classes it is reported but says little
    (``top5_k`` records the k used).
    """
    targets = np.asarray(targets, np.int64)
    n, c = probs.shape
    if n == 0:
        raise ValueError("no images to evaluate")
    if c != len(classes):
        raise ValueError(f"{c} model outputs but {len(classes)} class names")
    pred = probs.argmax(1)
    k = min(5, c)
    topk = np.argsort(-probs, axis=1)[:, :k]
    top5 = float((topk == targets[:, None]).any(1).mean())
    top1 = float((pred == targets).mean())
    cm = np.zeros((c, c), np.int64)
    np.add.at(cm, (targets, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    recall = np.divide(tp, support, out=np.zeros(c), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(c), where=predicted > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(c), where=precision + recall > 0
    )
    tn = n - support - predicted + tp
    accuracy = (tp + tn) / n
    present = support > 0  # macro-F1 over the classes the evaluation set holds
    per_class = {
        name: {
            "accuracy": round(float(accuracy[i]), 6),
            "recall": round(float(recall[i]), 6),
            "precision": round(float(precision[i]), 6),
            "f1": round(float(f1[i]), 6),
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    return {
        "images": int(n),
        "classes": list(classes),
        "top1": round(top1, 6),
        "top5": round(top5, 6),
        "top5_k": k,
        "top1_error": round(1.0 - top1, 6),
        "top5_error": round(1.0 - top5, 6),
        "macro_f1": round(float(f1[present].mean()), 6),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def summary(metrics: dict) -> dict:
    """The headline numbers (what the registry keeps and the DAG compares)."""
    keys = ("images", "top1", "top5", "top5_k", "top1_error", "top5_error", "macro_f1")
    out = {k: metrics[k] for k in keys}
    out["per_class_accuracy"] = {c: m["recall"] for c, m in metrics["per_class"].items()}
    return out


def write_report(metrics: dict, out_dir: Path, stem: str = "evaluation") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>_confusion.csv`` and ``<stem>_confusion.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "evaluation": out_dir / f"{stem}.json",
        "confusion_csv": out_dir / f"{stem}_confusion.csv",
        "confusion_png": out_dir / f"{stem}_confusion.png",
    }
    paths["evaluation"].write_text(json.dumps(metrics, indent=2))
    classes, cm = metrics["classes"], metrics["confusion_matrix"]
    with open(paths["confusion_csv"], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, cm, strict=True):
            writer.writerow([name, *row])
    plot_confusion(np.asarray(cm), classes, paths["confusion_png"], metrics["top1"])
    return paths


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, top1: float) -> None:
    """The confusion matrix as a PNG, rows normalised (each true class's share), counts shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = len(classes)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    side = max(4.0, 0.6 * c + 2.0)
    fig, ax = plt.subplots(figsize=(side, side), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(c), classes, rotation=45, ha="right")
    ax.set_yticks(range(c), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"top-1 accuracy {top1:.3f}")
    for i in range(c):
        for j in range(c):
            if cm[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_metrics(metrics: dict) -> str:
    """A few lines for the terminal: headline numbers and the per-class table."""
    lines = [
        f"images {metrics['images']}  top-1 {metrics['top1']:.4f} (error "
        f"{metrics['top1_error']:.4f})  top-{metrics['top5_k']} {metrics['top5']:.4f} (error "
        f"{metrics['top5_error']:.4f})  macro-F1 {metrics['macro_f1']:.4f}",
        f"{'class':<20} {'support':>7} {'accuracy':>9} {'recall':>7} {'precision':>9} {'f1':>6}",
    ]
    for name, m in metrics["per_class"].items():
        lines.append(
            f"{name:<20} {m['support']:>7} {m['accuracy']:>9.4f} {m['recall']:>7.4f} "
            f"{m['precision']:>9.4f} {m['f1']:>6.4f}"
        )
    return "\n".join(lines)
