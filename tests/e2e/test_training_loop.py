"""Teach it a new category, end to end, with real photos and real models.

1. A demo day of ``shibuya`` (real packaged photos; cats planted in about half the posts) runs
   through the daily steps with the default models.
2. ``trendscope harvest --label cat --pre-sort`` exports the published cat crops with their
   manifest.
3. The labelled tree: the harvested cat crops as the new category ``chelsea`` (the demo's cat)
   beside three Fashion-MNIST classes (real product photos: bag, sneaker, shirt).
4. ``trendscope train-classifier`` (1 epoch, 64 px) exports, evaluates and registers it.
5. ``targets.cat.classifier: <name>@1``: the next day's run labels the cat crops with it, and
   every detections row names the model, its version and its sha256; the day's trends start a
   new series for the cat's fine labels.
6. ``trendscope evaluate`` gives the training holdout's numbers again on the same holdout, and
   beats chance on unseen Fashion-MNIST test photos.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from PIL import Image

from trendscope.config import DEFAULT_CONFIG_PATH, load_config

pytestmark = pytest.mark.e2e

LOCATION = "shibuya"
DAY1 = date(2026, 11, 2)
DAY2 = DAY1 + timedelta(days=1)
NAME = "demo-cats"
FASHION = ("bag", "sneaker", "shirt")


def _write_config(root: Path, models_dir: Path, name: str, **targets: dict) -> Path:
    raw = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    raw["locations"] = [loc for loc in raw["locations"] if loc["slug"] == LOCATION]
    raw |= {"data_dir": str(root / "data"), "models_dir": str(models_dir)}
    raw["source"]["path"] = str(root / "dropzone")
    for name, changes in targets.items():
        raw["targets"][name] = changes
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def loop(tmp_path_factory, models_dir) -> dict:
    """Runs the whole loop once; the tests check its parts."""
    from trendscope.cli import main
    from trendscope.demo import build_demo
    from trendscope.training import fashion_mnist

    root = tmp_path_factory.mktemp("training-loop")
    config_path = _write_config(root, models_dir, "imagenet")
    build_demo(
        root / "dropzone",
        start=DAY1,
        days=2,
        posts_per_day=16,
        locations={LOCATION: "Asia/Tokyo"},
        trend_from_day=1,  # cats in about half the posts from the first day
    )
    run = ["-q", "run", "--location", LOCATION, "--date"]
    assert main([*run, DAY1.isoformat(), "--config", str(config_path)]) == 0

    harvested = root / "harvest"
    assert (
        main(
            [
                *("harvest", "--config", str(config_path), "--label", "cat"),
                *("--from", DAY1.isoformat(), "--to", DAY1.isoformat()),
                *("--out", str(harvested), "--min-confidence", "0.5", "--pre-sort"),
            ]
        )
        == 0
    )

    labelled = root / "labelled"
    fashion_mnist.write_image_folder(labelled, per_class=24, classes=FASHION, seed=3)
    (labelled / "chelsea").mkdir()
    for crop in sorted((harvested / "crops").glob("*.jpg")):
        (labelled / "chelsea" / crop.name).write_bytes(crop.read_bytes())

    result_json = root / "train.json"
    train = [
        *("train-classifier", "--config", str(config_path), "--data", str(labelled)),
        *("--name", NAME, "--epochs", "1", "--imgsz", "64", "--head-epochs", "40"),
        *("--out", str(root / "trained"), "--json", str(result_json), "--no-progress"),
    ]
    assert main(train) == 0

    used = _write_config(
        root, models_dir, "registered", cat={"crop_threshold": 0.5, "classifier": f"{NAME}@1"}
    )
    assert main([*run, DAY2.isoformat(), "--config", str(used)]) == 0
    return {
        "root": root,
        "models_dir": models_dir,
        "config": config_path,
        "used": used,
        "harvest": harvested,
        "labelled": labelled,
        "train": json.loads(result_json.read_text()),
    }


def test_harvest_writes_padded_crops_and_a_manifest(loop) -> None:
    rows = list(csv.DictReader((loop["harvest"] / "manifest.csv").open()))
    assert len(rows) >= 4, "the demo day plants cats in about half of 16 posts"
    for row in rows:
        assert row["label"] == "cat" and float(row["confidence"]) >= 0.5
        assert (row["location"], row["date"]) == (LOCATION, DAY1.isoformat())
        assert row["fine_model"] == "efficientnet_lite0" and row["fine_label"]
        width = float(row["x2"]) - float(row["x1"])
        crop = Image.open(loop["harvest"] / row["file"])
        # padded by targets.cat.crop_padding (0.05 a side), clipped to the photo
        assert width <= crop.width <= width * 1.1 + 2
    pre_sorted = sorted((loop["harvest"] / "pre-sorted").rglob("*.jpg"))
    assert len(pre_sorted) == len(rows)
    assert {p.parent.name for p in pre_sorted} == {r["fine_label"] for r in rows}


def test_training_beats_chance_and_is_registered(loop) -> None:
    from trendscope.models.registry import Registry

    result = loop["train"]
    assert result["ref"] == f"{NAME}@1"
    assert result["classes"] == ["bag", "chelsea", "shirt", "sneaker"]
    holdout = result["holdout"]
    assert holdout["top1"] >= 0.75, holdout  # chance: 0.25 (4 classes, the largest 0.3)
    assert holdout["per_class"]["chelsea"]["recall"] >= 0.5
    assert sum(holdout["per_class"][c]["support"] for c in result["classes"]) == holdout["images"]

    config = load_config(loop["used"], environ={})
    registry = Registry(config.resolve(config.registry.root))
    mv = registry.get(f"{NAME}@1")
    assert (mv.kind, mv.labels, mv.sha256) == ("classifier", result["classes"], result["sha256"])
    assert mv.metrics["top1"] == holdout["top1"]
    assert mv.params["imgsz"] == 64 and mv.params["epochs"] == 1
    assert {"model", "labels", "evaluation", "confusion_csv", "confusion_png"} <= set(mv.files)
    from trendscope.models.registry import data_fingerprint

    assert mv.data_fingerprint == data_fingerprint(loop["labelled"])


def test_the_daily_run_uses_the_registered_model(loop) -> None:
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import DETECTIONS, OTHER
    from trendscope.tables.storage import read_table

    config = load_config(loop["used"], environ={})
    rows = read_table(
        partition_path(config.data_root, "detections", LOCATION, DAY2), DETECTIONS
    ).to_pylist()
    cats = [r for r in rows if r["label"] == "cat" and r["fine_label"] is not None]
    assert len(cats) >= 4
    for r in cats:
        assert (r["fine_model"], r["fine_model_version"]) == (NAME, 1)
        assert r["fine_model_sha256"] == loop["train"]["sha256"]
        assert r["fine_label"] in {*loop["train"]["classes"], OTHER}
    # the new category is what the model sees in the demo's cat crops
    chelsea = sum(r["fine_label"] == "chelsea" for r in cats)
    assert chelsea >= 0.8 * len(cats), [r["fine_label"] for r in cats]
    # other targets keep the ImageNet labels, without a registry version
    others = [r for r in rows if r["fine_label"] is not None and r["label"] != "cat"]
    assert all(r["fine_model_version"] is None for r in others)

    trends = read_table(partition_path(config.data_root, "trends_daily", LOCATION, DAY2))
    fine = [
        r
        for r in trends.to_pylist()
        if r["kind"] == "object" and r["label"] == "cat" and r["fine_label"] is not None
    ]
    assert fine and all(r["baseline_days"] == 0 for r in fine)  # a new series: no baseline
    total = [r for r in trends.to_pylist() if r["label"] == "cat" and r["fine_label"] is None]
    assert total[0]["baseline_days"] == 1  # the cats themselves keep yesterday


def test_evaluate_repeats_the_holdout_and_generalises(loop, tmp_path, capsys) -> None:
    from trendscope.cli import main
    from trendscope.training import fashion_mnist

    same = tmp_path / "holdout.json"
    args = ["evaluate", "--config", str(loop["used"]), "--model", f"{NAME}@1"]
    holdout = ["--data", str(loop["labelled"]), "--holdout-seed", "0", "--json", str(same)]
    assert main([*args, *holdout]) == 0
    again = json.loads(same.read_text())
    assert again["top1"] == loop["train"]["holdout"]["top1"]
    assert again["confusion_matrix"] == loop["train"]["holdout"]["confusion_matrix"]

    unseen = tmp_path / "unseen"
    fashion_mnist.write_image_folder(unseen, per_class=20, classes=FASHION, split="t10k")
    out = tmp_path / "unseen.json"
    assert main([*args, "--data", str(unseen), "--json", str(out), "--out", str(tmp_path)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["images"] == 60 and metrics["top1"] >= 0.7  # chance 1/3
    assert (tmp_path / "evaluation_confusion.png").is_file()
    assert "top-1" in capsys.readouterr().out

    capsys.readouterr()
    assert main(["models", "--config", str(loop["used"]), "list"]) == 0
    assert f"{NAME}@1" in capsys.readouterr().out


def test_a_model_missing_from_the_registry_stops_the_run_naming_the_field(loop, capsys) -> None:
    from trendscope.cli import main
    from trendscope.models.registry import RegistryError, target_models

    bad = _write_config(loop["root"], loop["models_dir"], "missing", cat={"classifier": "nope@9"})
    with pytest.raises(RegistryError, match=r"targets\.cat\.classifier: model 'nope@9'"):
        target_models(load_config(bad, environ={}))
    capsys.readouterr()
    run = ["-q", "run", "--config", str(bad), "--location", LOCATION]
    assert main([*run, "--date", DAY2.isoformat()]) == 1  # the analyze step stops
    assert (
        "targets.cat.classifier: model 'nope@9' is not in the registry" in capsys.readouterr().err
    )


def test_promotion_compares_both_versions_on_the_same_holdout(loop, tmp_path) -> None:
    from trendscope.cli import main

    config = ["--config", str(loop["used"])]
    assert main(["models", *config, "promote", f"{NAME}@1"]) == 0  # by hand: no comparison
    # a second version, head only: promoted only if it scores higher on the same holdout
    train = [
        *("train-classifier", *config, "--data", str(loop["labelled"]), "--name", NAME),
        *("--epochs", "0", "--head-epochs", "3", "--imgsz", "64", "--no-progress"),
    ]
    assert main(train) == 0
    out = tmp_path / "comparison.json"
    promote = ["models", *config, "promote", NAME, "--latest", "--data", str(loop["labelled"])]
    assert main([*promote, "--json", str(out)]) == 0
    comparison = json.loads(out.read_text())
    assert (comparison["candidate"], comparison["current"]) == (f"{NAME}@2", f"{NAME}@1")
    assert comparison["current_value"] == loop["train"]["holdout"]["top1"]  # same holdout
    assert comparison["promoted"] == (comparison["candidate_value"] > comparison["current_value"])

    from trendscope.models.registry import Registry

    registry = Registry(load_config(loop["used"], environ={}).registry.root)
    assert registry.get(NAME).version == (2 if comparison["promoted"] else 1)
