"""A new detector class, end to end: real dataset, offline training with hard-negative mining,
the registry, ``trendscope evaluate``'s function, and the daily analyze using the model.

One small training (40 train images at 192 px, 6 epochs, then one mining round of 3 epochs)
runs through the ``trendscope train-detector`` command with every non-localhost connection
refused and recorded; the tests then read what it wrote.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from e2e_data import DAY
from trendscope.cli import main
from trendscope.config import load_config
from trendscope.models.fetch import file_sha256
from trendscope.training.yolo_data import FASHION_MNIST_DIR

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
        reason="Debian's dataset-fashion-mnist is not installed (make setup installs it as root)",
    ),
]

IMGSZ = 192
# Calibration (this test's data, seed 0, CPU): round 0 scores mAP50 about 0.8 and the final
# round about 0.9; a head that did not learn (the base checkpoint's new, untrained class head,
# or a round that diverged) scores under 0.01.
MIN_MAP50 = 0.5


def _local(host: object) -> bool:
    return isinstance(host, str) and host in ("localhost", "127.0.0.1", "::1", "")


@pytest.fixture(scope="module")
def network_attempts():
    """Refuse and record every DNS lookup or connection to a host other than localhost."""
    attempts: list[tuple[str, str]] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address, *args):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(host):
            attempts.append(("connect", str(host)))
            raise OSError(f"network blocked in this test: {host}")
        return real_connect(self, address, *args)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _local(host):
            attempts.append(("getaddrinfo", str(host)))
            raise socket.gaierror(f"network blocked in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield attempts


@pytest.fixture(scope="module")
def trained(tmp_path_factory, models_dir: Path, network_attempts):
    """Build the dataset and train through the CLI, offline; what it wrote and printed."""
    root = tmp_path_factory.mktemp("detector")
    registry = root / "registry"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRENDSCOPE_MODELS_DIR", str(models_dir))
        mp.setenv("TRENDSCOPE__REGISTRY__ROOT", str(registry))
        built = main(
            [
                "build-detector-data", "--out", str(root / "data"), "--train", "40",
                "--val", "20", "--negatives", "40", "--negatives-holdout", "0",
                "--imgsz", str(IMGSZ), "--seed", "0",
            ]
        )  # fmt: skip
        code = main(
            [
                "train-detector", "--data", str(root / "data"), "--name", "sneakers",
                "--epochs", "6", "--mining-epochs", "3", "--mining-rounds", "1",
                "--negatives", str(root / "data" / "negatives"), "--imgsz", str(IMGSZ),
                "--device", "cpu", "--workdir", str(root / "run"),
                "--json", str(root / "result.json"),
            ]
        )  # fmt: skip
    assert (built, code) == (0, 0)
    return {
        "root": root,
        "data": root / "data",
        "registry": registry,
        "result": json.loads((root / "result.json").read_text()),
        "attempts": list(network_attempts),
    }


def test_training_made_no_network_access(trained) -> None:
    assert trained["attempts"] == []


def test_the_detector_learns_the_new_class(trained) -> None:
    rounds = trained["result"]["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert [r["epochs"] for r in rounds] == [6, 3]
    for r in rounds:
        assert r["map50"] > MIN_MAP50, r
        assert 0 < r["map50_95"] <= r["map50"]
    assert trained["result"]["classes"] == ["sneaker"]


def test_mining_adds_the_false_positives_as_backgrounds(trained) -> None:
    r0, r1 = trained["result"]["rounds"]
    assert r0["negatives"] == r1["negatives"] == 40
    assert r0["fp_negatives"] >= r0["fp_images"] > 0  # round 0 fires on the look-alikes
    assert isinstance(r1["fp_negatives"], int) and r1["fp_images"] <= 40
    assert r0["backgrounds"] == 0 and r1["backgrounds"] == r0["fp_images"]
    mined_images = sorted((trained["root"] / "run" / "mined" / "images" / "round1").iterdir())
    mined_labels = sorted((trained["root"] / "run" / "mined" / "labels" / "round1").iterdir())
    assert len(mined_images) == len(mined_labels) == r0["fp_images"]
    assert all(p.read_text() == "" for p in mined_labels)  # backgrounds: nothing to find
    negatives = {p.read_bytes() for p in (trained["data"] / "negatives").iterdir()}
    assert all(p.read_bytes() in negatives for p in mined_images)
    round1 = yaml.safe_load((trained["root"] / "run" / "round1" / "data.yaml").read_text())
    assert round1["train"] == [
        str(trained["data"] / "images" / "train"),
        str(trained["root"] / "run" / "mined" / "images"),
    ]
    assert round1["val"] == [str(trained["data"] / "images" / "val")]


def test_the_model_is_registered_with_its_rounds(trained) -> None:
    from trendscope.models.registry import Registry

    mv = Registry(str(trained["registry"])).get("sneakers@1")
    result = trained["result"]
    assert result["model"] == "sneakers@1"
    assert (mv.kind, mv.labels, mv.files) == ("detector", ["sneaker"], {"model": "best.pt"})
    assert mv.sha256 == result["sha256"] == file_sha256(Path(result["weights"]))
    assert mv.metrics["rounds"] == result["rounds"]
    assert mv.metrics["map50"] == result["rounds"][-1]["map50"]
    assert mv.params["epochs"] == 6 and mv.params["mining_rounds"] == 1
    assert mv.params["base_weights"] == "fall_detection_yolov8n.pt"
    assert len(mv.data_fingerprint) == 64


def test_evaluate_detector_reproduces_the_training_numbers(trained) -> None:
    from trendscope.models.registry import Registry
    from trendscope.training.detector import evaluate_detector

    registry = Registry(str(trained["registry"]))
    weights = registry.local_path(registry.get("sneakers@1"))
    got = evaluate_detector(
        weights, trained["data"] / "data.yaml", negatives=trained["data"] / "negatives", imgsz=IMGSZ
    )
    last = trained["result"]["rounds"][-1]
    assert got["images"] == 20
    assert got["map50"] == pytest.approx(last["map50"], abs=1e-4)
    assert got["map50_95"] == pytest.approx(last["map50_95"], abs=1e-4)
    assert got["per_class"]["sneaker"]["map50"] == pytest.approx(last["map50"], abs=1e-3)
    assert (got["fp_negatives"], got["negatives"]) == (last["fp_negatives"], 40)


def test_evaluate_detector_refuses_a_dataset_of_other_classes(trained, tmp_path) -> None:
    from trendscope.training.detector import evaluate_detector

    other = tmp_path / "other.yaml"
    data = yaml.safe_load((trained["data"] / "data.yaml").read_text())
    other.write_text(yaml.safe_dump({**data, "names": {0: "bag"}}))
    with pytest.raises(
        ValueError, match=r"detects \['sneaker'\] but the dataset .* names \['bag'\]"
    ):
        evaluate_detector(Path(trained["result"]["weights"]), other, imgsz=IMGSZ)


def test_daily_analyze_uses_the_registered_detector(trained, tmp_path, models_dir) -> None:
    """``detector.weights: sneakers@1``: analyze finds the sneakers and names the model."""
    import shutil

    from trendscope.models.registry import Registry
    from trendscope.pipeline.run import run_day

    drop = tmp_path / "dropzone" / "shibuya" / DAY.isoformat()
    drop.mkdir(parents=True)
    val = sorted((trained["data"] / "images" / "val").glob("*.jpg"))[:6]
    for p in val:
        shutil.copy(p, drop / p.name)
    config = load_config(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "source.path": str(tmp_path / "dropzone"),
            "models_dir": str(models_dir),
            "registry.root": str(trained["registry"]),
            "detector.backend": "ultralytics",
            "detector.weights": "sneakers@1",
            "detector.input_size": IMGSZ,
            "detector.confidence": 0.5,
        },
    )
    run_day(config, "shibuya", DAY)
    mv = Registry(str(trained["registry"])).get("sneakers@1")
    from trendscope.tables.paths import partition_path

    images = pq.read_table(partition_path(config.data_root, "images", "shibuya", DAY)).to_pylist()
    dets = pq.read_table(partition_path(config.data_root, "detections", "shibuya", DAY)).to_pylist()
    assert len(images) == 6 and dets
    assert {d["model"] for d in dets} == {"sneakers@1"}
    assert {d["model_sha256"] for d in dets} == {mv.sha256}
    assert {d["label"] for d in dets} == {"sneaker"}
    found = {d["image_id"] for d in dets}
    assert len(found) >= 5  # every one of these holdout photos shows 1 to 3 sneakers


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"detector.weights": "sneakers@1"}, "needs backend: ultralytics"),
        (
            {"detector.backend": "ultralytics", "detector.weights": "sneakers@9"},
            "detector.weights: model 'sneakers@9' is not in the registry",
        ),
    ],
)
def test_a_bad_registered_detector_is_named(trained, overrides, message) -> None:
    from trendscope.config import ConfigError
    from trendscope.vision.factory import load_detector

    base = {"registry.root": str(trained["registry"])}
    with pytest.raises((ConfigError, ValueError), match=message):
        load_detector(load_config(environ={}, overrides=base | overrides))
