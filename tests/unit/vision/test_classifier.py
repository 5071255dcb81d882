from __future__ import annotations

import numpy as np
import pytest

from trendscope.config import ScenesConfig, TargetConfig
from trendscope.vision.efficientnet import EfficientNetLite0Classifier
from trendscope.vision.factory import load_classifier, load_detector
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


def test_detected_cat_is_cropped_and_gets_a_breed(vision_config, photos) -> None:
    """The analyze chain on chelsea: detect the cat, crop it, classify the crop fine-grained."""
    (d,) = load_detector(vision_config).detect([photos["chelsea"]])
    best = int(d.confidence.argmax())
    assert d.labels[best] == "cat" and d.confidence[best] > 0.5
    target = vision_config.targets["cat"]
    cat_crop = crop(photos["chelsea"], tuple(d.xyxy[best]), target.crop_padding)
    clf = load_classifier(vision_config)
    ((label, conf),) = FineLabeler("cat", target, clf.labels)(clf.predict_proba([cat_crop]))
    assert label in {"tabby", "tiger cat", "Egyptian cat"} and conf > target.fine_threshold


@pytest.mark.parametrize(
    ("photo", "scene", "top1"),
    [
        ("coffee", "food", {"espresso"}),
        ("chelsea", "cat", {"tabby", "tiger cat", "Egyptian cat"}),
        ("bus", "bus", {"minibus", "trolleybus", "school bus"}),
        ("china", "other", {"palace", "monastery", "bell cote"}),  # sklearn's Summer Palace
    ],
)
def test_scene_of_whole_photos(vision_config, photos, photo, scene, top1) -> None:
    clf = load_classifier(vision_config)
    probs = clf.predict_proba([photos[photo]])
    assert clf.labels[int(probs[0].argmax())] in top1
    ((got, conf),) = SceneLabeler(vision_config.scenes, clf.labels)(probs)
    assert got == scene
    assert (conf >= vision_config.scenes.threshold) == (scene != "other")


def test_preprocess_resizes_short_side_and_centre_crops() -> None:
    img = np.full((300, 600, 3), 255, np.uint8)
    img[:, 300:] = 127  # right half: (127 - 127) / 128 = 0
    x = EfficientNetLite0Classifier.preprocess_one(img)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    # short side 256 -> 512 wide; the centre 224 columns straddle the halves at column 112
    assert x[:, :, :100] == pytest.approx(128 / 128)
    assert x[:, :, 124:] == pytest.approx(0.0)


def test_postprocess_is_a_softmax() -> None:
    logits = np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]], np.float32)
    np.testing.assert_allclose(
        EfficientNetLite0Classifier.postprocess(logits), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["tabby"], [281]),
        (["#281-283"], [281, 282, 283]),
        (["crane"], [134, 517]),  # a repeated name: the bird and the machine
        (["tabby", "#281-282"], [281, 282]),
        (["maillot"], [638, 639]),
        (["tench", "toilet tissue"], [0, 999]),
        (["#0-0"], [0]),
    ],
)
def test_resolve_imagenet(entries, expected) -> None:
    assert resolve_imagenet(entries) == expected


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["tabbby"], "did you mean 'tabby'"),
        (["Tabby"], "unknown class name 'Tabby'"),  # names match case-sensitively
        (["#990-1200"], "0 <= a <= b <= 999"),
        (["#5-2"], "0 <= a <= b <= 999"),
    ],
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
    assert len(COCO80) == len(set(COCO80)) == 80
    assert (COCO80[0], COCO80[15], COCO80[16], COCO80[26], COCO80[79]) == (
        "person", "cat", "dog", "handbag", "toothbrush",
    )  # fmt: skip


def test_imagenet_labels() -> None:
    assert len(LABELS) == 1000 and LABELS[281] == "tabby" and LABELS[967] == "espresso"
    repeated = sorted({n for n in LABELS if LABELS.count(n) > 1})
    assert repeated == ["crane", "maillot"]


def test_onnx_runtime_matches_torch_and_is_cached(vision_config, photos) -> None:
    """On a CPU the classifier runs its ONNX export; the scores are PyTorch's, to float error."""
    import torch

    from trendscope.vision.efficientnet import onnx_cache_path

    clf = load_classifier(vision_config)
    assert clf.runtime == "onnxruntime"
    assert onnx_cache_path(clf.info.path, clf.info.sha256).is_file()
    batch = clf.preprocess([photos[n] for n in ("coffee", "chelsea", "bus")])
    with torch.inference_mode():
        expected = clf.model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(clf.inference(batch), expected, atol=1e-3)
    single = load_classifier(vision_config, threads=1)
    assert single is not clf and single.runtime == "onnxruntime"
    np.testing.assert_allclose(single.inference(batch), expected, atol=1e-3)
