"""Detector training without training: config, the registered-detector factory, datasets,
argument checks and the offline font. (The training itself: tests/e2e/test_detector_training.py.)"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml

from trendscope.config import ConfigError, load_config
from trendscope.models.fetch import fetch_models, file_sha256
from trendscope.models.registry import Registry
from trendscope.training.detector import BASE_WEIGHTS, read_data_yaml, train_detector

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models"


@pytest.fixture(scope="module")
def base_weights() -> Path:
    return fetch_models(MODELS, names=[BASE_WEIGHTS])[BASE_WEIGHTS]


@pytest.mark.parametrize(
    ("weights", "registered", "model_name"),
    [
        ("sneakers@1", "sneakers@1", "sneakers@1"),
        ("my-det.v2@12", "my-det.v2@12", "my-det.v2@12"),
        ("best.pt", None, "best"),
        ("runs/x@1.pt", None, "x@1"),  # a file path, not a reference
        ("sneakers@0", None, "sneakers@0"),  # versions start at 1: a (strange) file name
    ],
)
def test_detector_weights_names_a_file_or_a_registered_model(weights, registered, model_name):
    config = load_config(
        environ={}, overrides={"detector.backend": "ultralytics", "detector.weights": weights}
    )
    assert config.detector.registered == registered
    assert config.detector.model_name == model_name


def test_a_registered_detector_needs_the_ultralytics_backend() -> None:
    with pytest.raises(
        ConfigError, match=r"detector: .*weights: 'sneakers@1' .*backend: ultralytics"
    ):
        load_config(environ={}, overrides={"detector.weights": "sneakers@1"})


def test_kubernetes_needs_a_reachable_registry_for_a_registered_detector() -> None:
    overrides = {
        "executor": "kubernetes",
        "data_dir": "s3://b/data",
        "source.path": "s3://b/drop",
        "registry.root": "/srv/registry",
        "detector.backend": "ultralytics",
        "detector.weights": "sneakers@1",
    }
    with pytest.raises(ConfigError, match=r"registry.root: .* \(detector.weights name a model"):
        load_config(environ={}, overrides=overrides)


def _registry_config(tmp_path: Path, weights: str):
    return load_config(
        environ={},
        overrides={
            "registry.root": str(tmp_path / "registry"),
            "models_dir": str(MODELS),
            "detector.backend": "ultralytics",
            "detector.weights": weights,
        },
    )


def test_the_factory_loads_a_registered_detector(tmp_path: Path, base_weights: Path) -> None:
    """A real YOLOv8 checkpoint registered as a detector is what ``NAME@V`` loads."""
    from trendscope.vision.factory import load_detector

    registry = Registry(str(tmp_path / "registry"))
    mv = registry.register(
        "detector",
        "falls",
        {"model": base_weights},
        labels=["Normal", "Fall"],
        params={},
        metrics={},
        data_fingerprint="0" * 64,
    )
    detector = load_detector(_registry_config(tmp_path, "falls@1"))
    assert detector.info.name == "falls@1" == mv.ref
    assert detector.info.sha256 == mv.sha256 == file_sha256(base_weights)
    assert Path(detector.info.path) == registry.local_path(mv)
    assert detector.vocabulary == ("Normal", "Fall")


def test_the_factory_names_a_wrong_registered_detector(tmp_path: Path, base_weights: Path) -> None:
    from trendscope.vision.factory import load_detector

    registry = Registry(str(tmp_path / "registry"))
    common = dict(params={}, metrics={}, data_fingerprint="0" * 64)
    registry.register("classifier", "breeds", {"model": base_weights}, labels=["a"], **common)
    mv = registry.register("detector", "falls", {"model": base_weights}, labels=["b"], **common)
    with pytest.raises(
        ValueError, match=r"detector.weights: breeds@1 is a classifier, not a detector"
    ):
        load_detector(_registry_config(tmp_path, "breeds@1"))
    with pytest.raises(
        ValueError, match=r"detector.weights: .*'falls@2'.*\(versions of 'falls': falls@1\)"
    ):
        load_detector(_registry_config(tmp_path, "falls@2"))
    damaged = registry.local_path(mv)
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"detector.weights: falls@1: .*changed or damaged"):
        load_detector(_registry_config(tmp_path, "falls@1"))


def _dataset(root: Path, **yaml_fields) -> Path:
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    data = {"train": "images/train", "val": "images/val", "names": {0: "sneaker"}} | yaml_fields
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml"


def test_read_data_yaml_resolves_from_the_yaml_folder(tmp_path: Path) -> None:
    data = read_data_yaml(_dataset(tmp_path / "ds"))
    assert data == {
        "path": str(tmp_path / "ds"),
        "names": {0: "sneaker"},
        "train": [str(tmp_path / "ds" / "images" / "train")],
        "val": [str(tmp_path / "ds" / "images" / "val")],
    }
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "ds", moved)
    assert read_data_yaml(moved / "data.yaml")["val"] == [str(moved / "images" / "val")]
    assert read_data_yaml(_dataset(tmp_path / "l", names=["a", "b"]))["names"] == {0: "a", 1: "b"}


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"names": None}, ValueError, "names: expected a list or an id -> name mapping"),
        ({"val": None}, ValueError, "val: missing"),
        ({"train": "images/nope"}, FileNotFoundError, r"train: .*images/nope does not exist"),
    ],
)
def test_read_data_yaml_names_what_is_wrong(tmp_path: Path, fields, error, message) -> None:
    with pytest.raises(error, match=message):
        read_data_yaml(_dataset(tmp_path / "ds", **fields))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mining_rounds": 1}, ValueError, "hard-negative mining needs --negatives"),
        ({"imgsz": 200}, ValueError, "imgsz: must be a multiple of 32"),
        ({"epochs": 0}, ValueError, "epochs: must be at least 1"),
        ({"name": "Sneakers!"}, ValueError, "not a model reference"),
        ({"name": "sneakers@2"}, ValueError, "must not carry a version"),
        ({"base_weights": Path("/nonexistent.pt")}, FileNotFoundError, "fetch-models"),
    ],
)
def test_train_detector_checks_its_arguments_before_training(
    tmp_path: Path, kwargs, error, message
) -> None:
    args = {"name": "sneakers", "mining_rounds": 0, "models_dir": MODELS} | kwargs
    with pytest.raises(error, match=message):
        train_detector(_dataset(tmp_path / "ds"), **args)


def test_offline_ultralytics_finds_its_fonts_without_the_network(tmp_path, monkeypatch) -> None:
    """The font check Ultralytics runs on every dataset load finds DejaVu Sans, no download."""
    import matplotlib
    import ultralytics.utils
    from ultralytics.utils import checks

    from trendscope.training.detector import offline_ultralytics

    monkeypatch.setattr(ultralytics.utils, "USER_CONFIG_DIR", tmp_path)
    monkeypatch.setattr(checks, "USER_CONFIG_DIR", tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    offline_ultralytics()
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    cached = checks.check_font.__wrapped__  # its lru_cache may hold another test's answer
    cached.cache_clear()
    try:
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            assert (tmp_path / name).read_bytes() == dejavu.read_bytes()
            assert Path(checks.check_font(name)) == tmp_path / name
    finally:
        cached.cache_clear()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build-detector-data", "--classes", "shoe"], "unknown Fashion-MNIST class 'shoe'"),
        (["train-detector", "--name", "s", "--data", "missing"], "dataset file not found"),
        (
            ["train-detector", "--name", "s", "--data", "DS", "--imgsz", "100", "--no-register"],
            "imgsz: must be a multiple of 32",
        ),
    ],
)
def test_cli_errors_name_the_problem(tmp_path: Path, capsys, argv, message) -> None:
    from trendscope.cli import main

    dataset = _dataset(tmp_path / "ds").parent
    argv = [str(dataset) if a == "DS" else a for a in argv]
    if argv[0] == "build-detector-data":
        argv += ["--out", str(tmp_path / "out")]
    else:
        argv += ["--workdir", str(tmp_path / "run")]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
