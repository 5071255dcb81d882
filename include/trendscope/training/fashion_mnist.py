"""Fashion-MNIST (Zalando, MIT) from Debian's ``dataset-fashion-mnist`` as an ImageFolder tree.

70,000 real 28x28 greyscale product photos in ten classes (60,000 train, 10,000 test), the
real labelled data the classifier tests and benchmark train on. ``make setup`` installs the
package; its files are the original IDX archives in :data:`DEFAULT_DIR`.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "t-shirt-top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
"""Folder names of the ten classes, in the dataset's label order."""


def load(split: str = "train", root: Path = DEFAULT_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` ``uint8`` and labels ``(N,)`` of ``train`` or ``t10k`` (test)."""
    if split not in ("train", "t10k"):
        raise ValueError(f"split: {split!r} is not 'train' or 't10k'")
    images_path = root / f"{split}-images-idx3-ubyte.gz"
    labels_path = root / f"{split}-labels-idx1-ubyte.gz"
    if not images_path.is_file() or not labels_path.is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {root}: run `make setup` (or, as root, "
            "`apt-get install dataset-fashion-mnist`)"
        )
    with gzip.open(labels_path, "rb") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    with gzip.open(images_path, "rb") as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(len(labels), 28, 28)
    return images, labels


def stratified_indices(
    labels: np.ndarray, per_class: int, classes: Sequence[int], seed: int = 0
) -> np.ndarray:
    """``per_class`` indices of each of ``classes``, drawn without replacement with ``seed``."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in classes:
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise ValueError(f"class {CLASSES[c]!r} has {len(pool)} images, {per_class} asked")
        picked.append(np.sort(rng.choice(pool, per_class, replace=False)))
    return np.concatenate(picked)


def write_image_folder(
    out: Path,
    *,
    per_class: int,
    classes: Sequence[str] = CLASSES,
    split: str = "train",
    seed: int = 0,
    root: Path = DEFAULT_DIR,
    scale: int = 1,
) -> dict[str, int]:
    """Write a stratified subset as ``out/<class>/<split>-<index>.png``; returns counts per class.

    Args:
        per_class: images of each class.
        classes: class folder names (a subset of :data:`CLASSES`).
        scale: upscale factor (nearest) for tools that need bigger photos; 1 keeps 28x28.
    """
    from PIL import Image

    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError(f"classes: {unknown} are not Fashion-MNIST classes ({', '.join(CLASSES)})")
    images, labels = load(split, root)
    ids = [CLASSES.index(c) for c in classes]
    counts: dict[str, int] = {}
    for i in stratified_indices(labels, per_class, ids, seed):
        name = CLASSES[labels[i]]
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(images[i])
        if scale > 1:
            img = img.resize((28 * scale, 28 * scale), Image.NEAREST)
        img.save(folder / f"{split}-{i:05d}.png")
        counts[name] = counts.get(name, 0) + 1
    return counts
