"""``targets.<t>.classifier``: the config field, the registry lookup and the labeler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trendscope.config import ConfigError, load_config
from trendscope.models.registry import (
    Registry,
    RegistryError,
    target_fine_labels,
    target_models,
)
from trendscope.vision.registered import ModelLabeler, preprocess_square


def _config(tmp_path: Path, **targets):
    overrides = {"data_dir": str(tmp_path / "data")}
    for name, value in targets.items():
        overrides[f"targets.{name}"] = value
    return load_config(environ={}, overrides=overrides)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"classifier": "cat-breeds"}, r"targets\.cat\.classifier: .*not NAME@VERSION"),
        ({"classifier": "Cat@1"}, r"targets\.cat\.classifier: .*not NAME@VERSION"),
        ({"fine_threshold": 0.3}, r"targets\.cat: .*fine_labels: needs at least one fine label"),
    ],
)
def test_bad_target_models_name_the_field(tmp_path, target, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, cat=target)


def test_registry_root_defaults_beside_the_data(tmp_path) -> None:
    config = _config(tmp_path)
    assert config.registry.root == f"{tmp_path / 'data'}/registry"


def test_target_models_come_from_the_registry(tmp_path) -> None:
    config = _config(tmp_path, cat={"classifier": "cats@1", "fine_threshold": 0.4})
    with pytest.raises(
        RegistryError, match=r"targets\.cat\.classifier: model 'cats@1' is not in the registry"
    ):
        target_models(config)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    registry = Registry(config.registry.root)
    registry.register(
        "classifier",
        "cats",
        {"model": model},
        labels=["tabby", "chelsea"],
        params={"imgsz": 64},
        metrics={},
        data_fingerprint="x",
    )
    assert target_models(config)["cat"].ref == "cats@1"
    labels = target_fine_labels(config)
    assert labels["cat"] == ["tabby", "chelsea"]
    assert labels["dog"] == sorted(config.targets["dog"].fine_labels)  # ImageNet groups

    registry.register(
        "detector",
        "cats",
        {"model": model},
        labels=["cat"],
        params={},
        metrics={},
        data_fingerprint="x",
    )
    detector = _config(tmp_path, cat={"classifier": "cats@2"})
    with pytest.raises(RegistryError, match=r"targets\.cat\.classifier: cats@2 is a detector"):
        target_models(detector)


def test_model_labeler_takes_the_best_class_or_other() -> None:
    labeler = ModelLabeler(["bag", "shoe"], threshold=0.6)
    probs = np.array([[0.9, 0.1], [0.45, 0.55], [0.2, 0.8]], np.float32)
    assert labeler(probs) == [
        ("bag", pytest.approx(0.9)),
        ("other", pytest.approx(0.55)),
        ("shoe", pytest.approx(0.8)),
    ]


def test_preprocessing_is_the_whole_crop_squared_and_normalised() -> None:
    grey = np.full((10, 30), 255, np.uint8)  # a grey, wide crop
    rgb = np.zeros((40, 20, 3), np.uint8)
    batch = preprocess_square([grey, rgb], 16)
    assert batch.shape == (2, 3, 16, 16) and batch.dtype == np.float32
    assert batch[0].min() == pytest.approx(128 / 128) and batch[1].max() == pytest.approx(
        -127 / 128
    )
