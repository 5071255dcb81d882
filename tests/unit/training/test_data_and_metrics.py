"""Labelled trees, the stratified split, Fashion-MNIST and the evaluation numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trendscope.training import fashion_mnist
from trendscope.training.data import find_trees, load_pixels, scan, stratified_split
from trendscope.training.evaluation import classification_metrics, summary, write_report


def _tree(root: Path, counts: dict[str, int]) -> Path:
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (20 + i, 10), (i * 10 % 255, 0, 0)).save(root / name / f"{i}.png")
    return root


def test_scan_reads_classes_in_order_and_skips_other_files(tmp_path) -> None:
    root = _tree(tmp_path / "data", {"shoe": 3, "bag": 2})
    (root / "bag" / "notes.txt").write_text("not an image")
    (root / ".thumbs").mkdir()
    data = scan(root)
    assert data.classes == ("bag", "shoe")
    assert data.counts() == {"bag": 2, "shoe": 3}
    assert data.targets.tolist() == [0, 0, 1, 1, 1]
    pixels = load_pixels(data, 16)
    assert pixels.shape == (5, 16, 16, 3) and pixels.dtype == np.uint8


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no class folders"),
        ({"bag": 0, "shoe": 2}, "a class folder without images"),
    ],
)
def test_bad_trees_are_named(tmp_path, layout, message) -> None:
    root = tmp_path / "data"
    root.mkdir()
    _tree(root, layout)
    with pytest.raises(ValueError, match=message):
        scan(root)


def test_a_test_tree_is_read_with_the_training_classes(tmp_path) -> None:
    _tree(tmp_path / "d" / "train", {"bag": 2, "shoe": 2})
    _tree(tmp_path / "d" / "test", {"shoe": 1})
    trees = find_trees(tmp_path / "d")
    assert (trees.train, trees.test) == (tmp_path / "d" / "train", tmp_path / "d" / "test")
    test = scan(trees.test, scan(trees.train).classes)
    assert test.targets.tolist() == [1]
    _tree(tmp_path / "d" / "test", {"coat": 1})
    with pytest.raises(ValueError, match=r"\['coat'\] are not among the model's classes"):
        scan(trees.test, scan(trees.train).classes)


def test_stratified_split_is_8_to_2_per_class_and_seeded() -> None:
    targets = np.repeat([0, 1, 2], [50, 30, 10])
    train, held = stratified_split(targets, 0.2, seed=7)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(90))
    assert np.bincount(targets[held]).tolist() == [10, 6, 2]
    again = stratified_split(targets, 0.2, seed=7)[1]
    other = stratified_split(targets, 0.2, seed=8)[1]
    assert held.tolist() == again.tolist() and held.tolist() != other.tolist()
    with pytest.raises(ValueError, match="at least 2 are needed"):
        stratified_split(np.array([0, 0, 1]), 0.2)


def test_metrics_known_answer(tmp_path) -> None:
    classes = ["a", "b", "c"]
    targets = np.array([0, 0, 1, 1, 2, 2])
    # predictions a, b | b, b | c, a  -> 4 of 6 right
    probs = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.2, 0.7],
            [0.5, 0.1, 0.4],
        ]
    )
    m = classification_metrics(targets, probs, classes)
    assert m["top1"] == pytest.approx(4 / 6, abs=1e-6)
    assert m["top1_error"] == pytest.approx(2 / 6, abs=1e-6)
    assert (m["top5_k"], m["top5"]) == (3, 1.0)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"] == {
        "accuracy": pytest.approx(5 / 6, abs=1e-6),  # one class against the rest
        "recall": 1.0,
        "precision": pytest.approx(2 / 3, abs=1e-6),
        "f1": pytest.approx(0.8, abs=1e-6),
        "support": 2,
    }
    f1 = [2 * 0.5 * 0.5 / 1.0, 0.8, 2 * 1.0 * 0.5 / 1.5]
    assert m["macro_f1"] == pytest.approx(np.mean(f1), abs=1e-6)
    assert summary(m)["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.5}

    paths = write_report(m, tmp_path / "eval")
    assert json.loads(paths["evaluation"].read_text())["top1"] == m["top1"]
    rows = list(csv.reader(paths["confusion_csv"].open()))
    assert rows[0] == ["true \\ predicted", "a", "b", "c"] and rows[3] == ["c", "1", "0", "1"]
    assert Image.open(paths["confusion_png"]).size[0] >= 300


def test_fashion_mnist_tree_is_stratified_and_real(tmp_path) -> None:
    counts = fashion_mnist.write_image_folder(
        tmp_path / "fm", per_class=4, classes=["bag", "sneaker"], seed=1
    )
    assert counts == {"bag": 4, "sneaker": 4}
    data = scan(tmp_path / "fm")
    assert data.classes == ("bag", "sneaker") and len(data) == 8
    images, labels = fashion_mnist.load("t10k")
    assert images.shape == (10_000, 28, 28) and np.bincount(labels).tolist() == [1000] * 10
    with pytest.raises(ValueError, match="not Fashion-MNIST classes"):
        fashion_mnist.write_image_folder(tmp_path / "x", per_class=1, classes=["cat"])
