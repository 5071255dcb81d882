"""Labelled image trees (ImageFolder layout) and their stratified train/holdout split.

A tree is ``DIR/<class>/<image>``, one folder per class. ``DIR/train/<class>/...`` with a
``DIR/test/<class>/...`` beside it is read as a training tree and a separate test tree, the
test tree used as is. The holdout is always split from the training tree: 8:2, stratified by
class, with a fixed seed, so the same tree and seed give the same holdout in every run (which
is what lets two models be compared on it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class LabelledSet:
    """Image files with their class indices into ``classes``."""

    root: Path
    classes: tuple[str, ...]
    paths: tuple[Path, ...]
    targets: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: Sequence[int] | np.ndarray) -> LabelledSet:
        idx = np.asarray(indices, np.int64)
        return LabelledSet(
            self.root, self.classes, tuple(self.paths[i] for i in idx), self.targets[idx]
        )

    def counts(self) -> dict[str, int]:
        return {c: int((self.targets == i).sum()) for i, c in enumerate(self.classes)}


@dataclass(frozen=True)
class Trees:
    """Where the training tree and the optional test tree of a data folder are."""

    train: Path
    test: Path | None


def find_trees(root: Path) -> Trees:
    """``root/train`` + ``root/test`` when there is a ``train`` folder; else ``root`` itself
    (with ``root/test``, if present, as the test tree and not a class)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    test = root / "test"
    if (root / "train").is_dir():
        return Trees(root / "train", test if test.is_dir() else None)
    return Trees(root, test if test.is_dir() else None)


def scan(
    root: Path, classes: Sequence[str] | None = None, *, skip: Sequence[str] = ()
) -> LabelledSet:
    """Every image of an ImageFolder tree; ``classes`` fixes the class order (a test tree is
    read with the training tree's classes; a folder not among them is an error).

    Raises:
        ValueError: no class folder, a class without images, or an unknown class folder.
    """
    root = Path(root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    folders = [f for f in folders if f not in skip]
    if not folders:
        raise ValueError(f"{root}: no class folders (expected {root}/<class>/<image>)")
    if classes is None:
        classes = folders
    else:
        unknown = sorted(set(folders) - set(classes))
        if unknown:
            raise ValueError(
                f"{root}: class folders {unknown} are not among the model's classes "
                f"({', '.join(classes)})"
            )
    paths: list[Path] = []
    targets: list[int] = []
    for i, name in enumerate(classes):
        folder = root / name
        files = sorted(
            p
            for p in (folder.rglob("*") if folder.is_dir() else ())
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if not files and folder.is_dir():
            raise ValueError(f"{folder}: a class folder without images")
        paths.extend(files)
        targets.extend([i] * len(files))
    return LabelledSet(root, tuple(classes), tuple(paths), np.asarray(targets, np.int64))


def stratified_split(
    targets: np.ndarray, holdout: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Train and holdout indices, ``holdout`` of each class held out (at least one), shuffled
    with ``seed``. Classes with fewer than two images cannot be split: an error names them."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout: {holdout} must lie strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        if len(idx) < 2:
            raise ValueError(f"class {int(c)} has {len(idx)} image(s); at least 2 are needed")
        idx = rng.permutation(idx)
        k = min(len(idx) - 1, max(1, round(len(idx) * holdout)))
        held.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB ``uint8`` ``(H, W, 3)``, EXIF orientation applied."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def load_pixels(
    data: LabelledSet,
    size: int,
    *,
    crop: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
    batch: int = 32,
) -> np.ndarray:
    """Every image resized to ``size x size``: ``(N, size, size, 3)`` ``uint8``.

    ``crop`` (e.g. :func:`detector_crop`) turns a batch of photos into crops of their object
    first.
    """
    from trendscope.vision.registered import resize_square

    out = np.empty((len(data), size, size, 3), np.uint8)
    for start in range(0, len(data), batch):
        images = [read_rgb(p) for p in data.paths[start : start + batch]]
        if crop is not None:
            images = crop(images)
        for k, img in enumerate(images):
            out[start + k] = resize_square(img, size)
    return out


def detector_crop(
    detector, label: str, *, min_confidence: float = 0.8, padding: float = 0.05
) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """A ``crop`` for :func:`load_pixels`: each photo cut to its most confident ``label``
    detection at ``min_confidence`` or more (padded as the daily run pads crops); a photo
    without one is kept whole (the research cropped at 0.8 the same way)."""
    from trendscope.vision.fine import crop as pad_crop

    def cut(images: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for img, det in zip(images, detector.detect(images), strict=True):
            found = [
                j
                for j in range(len(det))
                if det.labels[j] == label and det.confidence[j] >= min_confidence
            ]
            best = max(found, key=lambda j: det.confidence[j]) if found else None
            if best is None:
                out.append(img)
            else:
                box = tuple(float(v) for v in det.xyxy[best])
                out.append(pad_crop(img, box, padding))  # type: ignore[arg-type]
        return out

    return cut


def materialize(data: str, into: Path) -> Path:
    """A local folder holding ``data``: itself when local, else every object under the
    ``s3://`` prefix downloaded into ``into`` (a training pod reads its tree from the lake)."""
    from trendscope.tables import storage

    if not storage.is_s3(data):
        return Path(data)
    prefix = data.rstrip("/") + "/"
    files = storage.list_files(data)
    if not files:
        raise FileNotFoundError(f"no files under {data}")
    for uri in files:
        target = into / uri[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(storage.read_bytes(uri))
    return into
