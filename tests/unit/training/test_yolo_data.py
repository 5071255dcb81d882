"""The YOLO dataset builder: real objects on real photos, exact boxes, seeded, split cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from trendscope.training import fashion_mnist
from trendscope.training.yolo_data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    build_yolo_dataset,
)

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (make setup installs it as root)",
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("yolo") / "ds"
    return build_yolo_dataset(
        out, train=8, val=4, negatives=6, negatives_holdout=4, imgsz=160, seed=3
    )


def test_fashion_mnist_is_the_real_dataset() -> None:
    images, labels = fashion_mnist.load("t10k")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10  # the test split is balanced
    assert FASHION_MNIST_CLASSES[labels[0]] == "ankle-boot"  # the first test item


def test_layout_counts_and_data_yaml(dataset) -> None:
    root = dataset.root
    data = yaml.safe_load(dataset.data_yaml.read_text())
    assert data == {
        "path": str(root.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {0: "sneaker"},
    }
    for split, n in (("train", 8), ("val", 4)):
        images = sorted((root / "images" / split).glob("*.jpg"))
        labels = sorted((root / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        assert [p.stem for p in images] == [p.stem for p in labels]
    assert len(list(dataset.negatives.glob("*.jpg"))) == 6
    assert len(list(dataset.negatives_holdout.glob("*.jpg"))) == 4
    with Image.open(next((root / "images" / "train").glob("*.jpg"))) as im:
        assert im.size == (160, 160)


def test_labels_are_the_exact_boxes_of_the_pasted_objects(dataset) -> None:
    manifest = json.loads((dataset.root / "manifest.json").read_text())
    for split in ("train", "val"):
        for entry in manifest["images"][split]:
            assert 1 <= len(entry["objects"]) <= 3
            lines = (dataset.root / "labels" / split / entry["file"]).with_suffix(".txt")
            rows = [list(map(float, line.split())) for line in lines.read_text().splitlines()]
            assert len(rows) == len(entry["objects"])
            for (cls, cx, cy, w, h), obj in zip(rows, entry["objects"], strict=True):
                x1, y1, x2, y2 = obj["box"]
                assert cls == 0 and obj["class"] == "sneaker"
                assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160
                assert (cx * 160, cy * 160) == pytest.approx(
                    ((x1 + x2) / 2, (y1 + y2) / 2), abs=1e-3
                )
                assert (w * 160, h * 160) == pytest.approx((x2 - x1, y2 - y1), abs=1e-3)


def test_the_box_is_where_the_pasted_object_is() -> None:
    """On a black canvas the visible object fills its box up to the soft (blended) edge."""
    from PIL import Image

    from trendscope.training.yolo_data import _paste

    images, labels = fashion_mnist.load("t10k")
    rng = np.random.default_rng(0)
    for index in np.flatnonzero(labels == FASHION_MNIST_CLASSES.index("sneaker"))[:20]:
        canvas = Image.new("RGB", (200, 200))
        box = _paste(canvas, images[index], rng, [], (0.2, 0.5))
        assert box is not None
        ys, xs = np.nonzero(np.asarray(canvas).max(axis=2) > 25)
        seen = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert np.abs(np.subtract(seen, box)).max() <= 3, (box, seen)


def test_splits_use_disjoint_fashion_mnist_items(dataset) -> None:
    manifest = json.loads((dataset.root / "manifest.json").read_text())
    items = {
        split: {o["fashion_mnist"] for e in manifest["images"][split] for o in e["objects"]}
        for split in ("train", "val", "negatives", "negatives_holdout")
    }
    assert all(i.startswith("train/") for i in items["train"])
    assert all(i.startswith("test/") for i in items["val"] | items["negatives"])
    negatives = [o for e in manifest["images"]["negatives"] for o in e["objects"]]
    assert negatives and {o["class"] for o in negatives} <= {"sandal", "ankle-boot", "bag"}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    kwargs = dict(train=3, val=2, negatives=2, negatives_holdout=1, imgsz=96)
    a = build_yolo_dataset(tmp_path / "a", seed=1, **kwargs)
    b = build_yolo_dataset(tmp_path / "b", seed=1, **kwargs)
    c = build_yolo_dataset(tmp_path / "c", seed=2, **kwargs)

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".jpg", ".txt")
        }

    assert files(a.root) == files(b.root)
    assert files(a.root) != files(c.root)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ["shoe"]}, "classes: unknown Fashion-MNIST class 'shoe'"),
        ({"classes": []}, "classes: needs at least one"),
        ({"distractors": ["sneaker"]}, "a class cannot also be a distractor"),
        ({"train": 0}, "train and val need at least one image"),
        ({"scale": (0.5, 0.2)}, "scale: expected 0 < low <= high < 1"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build_yolo_dataset(tmp_path / "ds", **kwargs)


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a dataset this builder wrote"):
        build_yolo_dataset(tmp_path, train=1, val=1)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
