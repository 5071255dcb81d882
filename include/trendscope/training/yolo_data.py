"""Build a small, real YOLO detection dataset for new detector classes, offline and seeded.

Objects are real product photos from Fashion-MNIST (Debian's ``dataset-fashion-mnist``: 28x28
greyscale photos of clothes, bags and shoes on black), cut out along their silhouette, tinted,
scaled and pasted with a soft edge onto random crops of the real photos the installed packages
ship (:mod:`trendscope.photos`). The box of each pasted object is the tight box of its mask, so
the labels are exact. Written layout (``<out>``)::

    <out>/data.yaml                    Ultralytics dataset file (absolute ``path``)
    <out>/images/{train,val}/*.jpg     composites holding the classes
    <out>/labels/{train,val}/*.txt     ``class cx cy w h`` (normalised), one line per object
    <out>/negatives/*.jpg              photos without the classes, for hard-negative mining
    <out>/negatives_holdout/*.jpg      more such photos, never mined: an honest false-positive count
    <out>/manifest.json                seed, counts, classes, and each image's sources and boxes

Train composites use Fashion-MNIST's training items, val composites and negatives its test items,
so no object photo appears in two splits. Half of the negatives are plain background crops, the
other half hold *distractors*: pasted items of other Fashion-MNIST classes (by default sandals,
ankle boots and bags when the class is ``sneaker``), the look-alikes a detector trained only on
positives fires on, which is what hard-negative mining is meant to remove.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from trendscope.photos import SAMPLE_PHOTOS, sample_photo
from trendscope.training import fashion_mnist

FASHION_MNIST_DIR = fashion_mnist.DEFAULT_DIR
"""Where Debian's ``dataset-fashion-mnist`` installs the four idx files."""

FASHION_MNIST_CLASSES: tuple[str, ...] = fashion_mnist.CLASSES
"""Fashion-MNIST's label names in label-id order."""

_LOOKALIKES = ("sneaker", "sandal", "ankle-boot", "bag")
_SPLITS = {"train": "train", "test": "t10k"}  # our split name -> the idx files' prefix


@dataclass(frozen=True)
class YoloDataset:
    """Where :func:`build_yolo_dataset` wrote a dataset and how many files of each kind."""

    root: Path
    data_yaml: Path
    negatives: Path
    negatives_holdout: Path
    classes: tuple[str, ...]
    counts: dict[str, int]


def _class_ids(names: Sequence[str], what: str) -> list[int]:
    ids = []
    for name in names:
        if name not in FASHION_MNIST_CLASSES:
            known = ", ".join(FASHION_MNIST_CLASSES)
            raise ValueError(f"{what}: unknown Fashion-MNIST class {name!r} (known: {known})")
        ids.append(FASHION_MNIST_CLASSES.index(name))
    return ids


def _cutout(
    item: np.ndarray, side: int, rng: np.random.Generator
) -> tuple[Image.Image, Image.Image]:
    """A Fashion-MNIST item scaled to ``side`` px: tinted RGB and a soft silhouette mask."""
    from scipy import ndimage

    solid = ndimage.binary_fill_holes(ndimage.binary_closing(item > 10, iterations=1))
    mask = Image.fromarray((solid * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)
    mask = mask.filter(ImageFilter.GaussianBlur(radius=max(0.5, side / 60)))
    grey = item.astype(np.float32) / 255.0
    tint = rng.uniform(0.35, 1.0, size=3)
    rgb = (0.15 + 0.85 * grey[..., None] * tint[None, None, :]) * 255.0
    obj = Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((side, side), Image.BICUBIC)
    return obj, mask


def _background(
    photos: dict[str, np.ndarray], imgsz: int, rng: np.random.Generator
) -> tuple[Image.Image, str]:
    """A random square crop of a random packaged photo, flipped at random, ``imgsz`` px."""
    name = str(rng.choice(sorted(photos)))
    photo = photos[name]
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.45, 1.0))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    im = Image.fromarray(photo[y : y + side, x : x + side]).resize((imgsz, imgsz), Image.BILINEAR)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    return im, name


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _paste(
    canvas: Image.Image,
    item: np.ndarray,
    rng: np.random.Generator,
    taken: list[tuple[int, int, int, int]],
    scale: tuple[float, float],
) -> tuple[int, int, int, int] | None:
    """Paste one item at a random size and free place; its exact box ``(x1, y1, x2, y2)``."""
    size = canvas.width
    side = max(12, int(size * rng.uniform(*scale)))
    obj, mask = _cutout(item, side, rng)
    m = np.asarray(mask) > 127
    if not m.any():
        return None
    ys, xs = np.nonzero(m)
    for _ in range(20):
        x = int(rng.integers(-int(xs.min()), size - int(xs.max())))
        y = int(rng.integers(-int(ys.min()), size - int(ys.max())))
        box = (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)
        if all(_iou(box, t) < 0.05 for t in taken):
            canvas.paste(obj, (x, y), mask)
            taken.append(box)
            return box
    return None


def build_yolo_dataset(
    out: str | Path,
    *,
    classes: Sequence[str] = ("sneaker",),
    distractors: Sequence[str] | None = None,
    train: int = 60,
    val: int = 30,
    negatives: int = 60,
    negatives_holdout: int = 40,
    imgsz: int = 256,
    max_objects: int = 3,
    scale: tuple[float, float] = (0.18, 0.40),
    seed: int = 0,
    fashion_mnist_dir: Path = FASHION_MNIST_DIR,
) -> YoloDataset:
    """Write a YOLO dataset of Fashion-MNIST ``classes`` pasted on real photos (see module doc).

    Args:
        out: Directory to write; an existing dataset there (``data.yaml``) is replaced.
        classes: Fashion-MNIST classes to detect, in YOLO class-id order.
        distractors: Other Fashion-MNIST classes pasted into half of the negatives; default:
            the shoe and bag classes that are not in ``classes``.
        train, val: Composite images in each split (each holds 1 to ``max_objects`` objects).
        negatives, negatives_holdout: Photos without the classes (mining pool, never-mined).
        imgsz: Side of every (square) image in pixels.
        max_objects: Most objects per image (of the classes, or distractors in negatives).
        scale: Range of an object's side as a fraction of the image side.
        seed: Everything written depends only on the arguments and this seed.
        fashion_mnist_dir: Directory of the Fashion-MNIST idx files.

    Returns:
        Where it was written, with the file counts.
    """
    class_ids = _class_ids(classes, "classes")
    if not class_ids:
        raise ValueError("classes: needs at least one Fashion-MNIST class")
    if distractors is None:
        distractors = [c for c in _LOOKALIKES if c not in classes]
    distractor_ids = _class_ids(distractors, "distractors")
    if set(distractor_ids) & set(class_ids):
        raise ValueError("distractors: a class cannot also be a distractor")
    if min(train, val) < 1 or min(negatives, negatives_holdout) < 0:
        raise ValueError("train and val need at least one image; negatives cannot be negative")
    if not 0 < scale[0] <= scale[1] < 1:
        raise ValueError(f"scale: expected 0 < low <= high < 1, got {scale}")
    out = Path(out)
    if out.exists():
        if not (out / "data.yaml").is_file() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not a dataset this builder wrote")
        shutil.rmtree(out)
    rng = np.random.default_rng(seed)
    photos = {name: sample_photo(name) for name in SAMPLE_PHOTOS}
    items = {s: fashion_mnist.load(_SPLITS[s], fashion_mnist_dir) for s in _SPLITS}
    pools = {
        (split, cid): np.flatnonzero(items[split][1] == cid)
        for split in ("train", "test")
        for cid in set(class_ids) | set(distractor_ids)
    }

    def pick(split: str, cid: int) -> int:
        return int(rng.choice(pools[(split, cid)]))

    manifest: dict[str, list[dict]] = {}
    counts: dict[str, int] = {}
    plan = [
        ("train", train, "train", True),
        ("val", val, "test", True),
        ("negatives", negatives, "test", False),
        ("negatives_holdout", negatives_holdout, "test", False),
    ]
    for folder, n, source_split, positive in plan:
        img_dir = out / "images" / folder if positive else out / folder
        img_dir.mkdir(parents=True, exist_ok=True)
        if positive:
            (out / "labels" / folder).mkdir(parents=True, exist_ok=True)
        entries = []
        for k in range(n):
            canvas, photo = _background(photos, imgsz, rng)
            taken: list[tuple[int, int, int, int]] = []
            objects = []
            with_items = positive or (distractor_ids and k % 2 == 1)
            for _ in range(int(rng.integers(1, max_objects + 1)) if with_items else 0):
                cid = int(rng.choice(class_ids if positive else distractor_ids))
                index = pick(source_split, cid)
                box = _paste(canvas, items[source_split][0][index], rng, taken, scale)
                if box is not None:
                    objects.append(
                        {
                            "class": FASHION_MNIST_CLASSES[cid],
                            "fashion_mnist": f"{source_split}/{index}",
                            "box": list(box),
                        }
                    )
            stem = f"{folder}_{k:04d}"
            canvas.save(img_dir / f"{stem}.jpg", quality=92)
            if positive:
                lines = []
                for obj in objects:
                    x1, y1, x2, y2 = obj["box"]
                    cx, cy = (x1 + x2) / 2 / imgsz, (y1 + y2) / 2 / imgsz
                    w, h = (x2 - x1) / imgsz, (y2 - y1) / imgsz
                    cls = list(classes).index(obj["class"])
                    lines.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
                (out / "labels" / folder / f"{stem}.txt").write_text(
                    "".join(f"{x}\n" for x in lines)
                )
            entries.append({"file": f"{stem}.jpg", "background": photo, "objects": objects})
        manifest[folder] = entries
        counts[folder] = n
        counts[f"{folder}_objects"] = sum(len(e["objects"]) for e in entries)
    data_yaml = out / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(classes))
    data_yaml.write_text(
        f"# written by trendscope build-detector-data (seed {seed})\n"
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"
    )
    (out / "manifest.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "imgsz": imgsz,
                "classes": list(classes),
                "distractors": list(distractors),
                "backgrounds": list(SAMPLE_PHOTOS),
                "counts": counts,
                "images": manifest,
            },
            indent=1,
        )
    )
    return YoloDataset(
        root=out,
        data_yaml=data_yaml,
        negatives=out / "negatives",
        negatives_holdout=out / "negatives_holdout",
        classes=tuple(classes),
        counts=counts,
    )
