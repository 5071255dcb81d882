from __future__ import annotations

import numpy as np
import pytest

from trendscope.config import ScenesConfig, TargetConfig
from trendscope.vision.factory import load_classifier
from trendscope.vision.fine import FineLabeler, SceneLabeler, crop
from trendscope.vision.labels import COCO80, imagenet_labels, resolve_imagenet

LABELS = imagenet_labels()


def test_efficientnet_top1_on_real_photos(vision_config, photos) -> None:
    clf = load_classifier(vision_config)
    assert clf.info.sha256 == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    probs = clf.predict_proba([photos["coffee"], photos["chelsea"]])
    assert probs.shape == (2, 1000)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-4)
    assert LABELS[probs[0].argmax()] == "espresso" and probs[0].max() > 0.8
    cat_classes = resolve_imagenet(["#281-285"])
    assert probs[1].argmax() in cat_classes
    assert probs[1, cat_classes].sum() > 0.7


def test_cat_crop_gets_a_breed_and_coffee_a_food_scene(vision_config, photos) -> None:
    clf = load_classifier(vision_config)
    fine = FineLabeler("cat", vision_config.targets["cat"], clf.labels)
    scenes = SceneLabeler(vision_config.scenes, clf.labels)
    cat_crop = crop(photos["chelsea"], (60, 20, 360, 290), 0.05)
    ((label, conf),) = fine(clf.predict_proba([cat_crop]))
    assert label in {"tabby", "tiger cat", "Egyptian cat"} and conf > 0.2
    ((scene, _),) = scenes(clf.predict_proba([photos["coffee"]]))
    assert scene == "food"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["tabby"], [281]),
        (["#281-283"], [281, 282, 283]),
        (["crane"], [134, 517]),  # a repeated name: the bird and the machine
        (["tabby", "#281-282"], [281, 282]),
    ],
)
def test_resolve_imagenet(entries, expected) -> None:
    assert resolve_imagenet(entries) == expected


@pytest.mark.parametrize(
    ("entries", "message"), [(["tabbby"], "did you mean 'tabby'"), (["#990-1200"], "outside")]
)
def test_resolve_imagenet_errors(entries, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_imagenet(entries)


def _probs(**named: float) -> np.ndarray:
    p = np.zeros((1, 1000), np.float32)
    for name, value in named.items():
        p[0, LABELS.index(name.replace("_", " "))] = value
    return p


@pytest.mark.parametrize(
    ("probs", "threshold", "expected"),
    [
        (_probs(tabby=0.5, tiger_cat=0.2), 0.3, ("tabby", 0.5)),
        (_probs(tabby=0.1, tiger_cat=0.15), 0.3, ("other", 0.15)),  # under threshold: never forced
        (_probs(purse=0.2, wallet=0.2, backpack=0.3), 0.3, ("purse", 0.4)),  # grouped classes sum
    ],
)
def test_fine_labeler(probs, threshold, expected) -> None:
    target = TargetConfig(
        fine_threshold=threshold,
        fine_labels={
            "tabby": ["tabby"],
            "tiger cat": ["tiger cat"],
            "purse": ["purse", "wallet"],
            "backpack": ["backpack"],
        },
    )
    label, conf = FineLabeler("t", target, LABELS)(probs)[0]
    assert (label, round(conf, 4)) == (expected[0], pytest.approx(expected[1]))


def test_unknown_fine_label_names_the_field() -> None:
    target = TargetConfig(fine_labels=["tabbby"])
    with pytest.raises(ValueError, match=r"targets\.cat\.fine_labels\.tabbby"):
        FineLabeler("cat", target, LABELS)
    with pytest.raises(ValueError, match=r"scenes\.categories\.pets"):
        SceneLabeler(ScenesConfig(categories={"pets": ["kitty"]}), LABELS)


@pytest.mark.parametrize(
    ("box", "padding", "shape"),
    [
        ((10, 20, 30, 60), 0.0, (40, 20)),
        ((10, 20, 30, 60), 0.5, (80, 40)),
        ((-5, -5, 500, 500), 0.2, (100, 100)),  # clipped to the image
        ((99.6, 99.6, 99.9, 99.9), 0.0, (1, 1)),  # never empty
    ],
)
def test_crop_bounds(box, padding, shape) -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    assert crop(img, box, padding).shape[:2] == shape


def test_coco_vocabulary() -> None:
    assert len(COCO80) == 80 and COCO80[15] == "cat" and COCO80[26] == "handbag"
