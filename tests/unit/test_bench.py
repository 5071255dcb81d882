"""``trendscope bench`` on a handful of images (the real run is a benchmark): what it measured.

The ceilings must be the pipeline's own: the same models, batch size, workers and threads per
model call as the analyze step under the given ``--config``, on the images ingest keeps.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml

from pipeline_days import REPO
from trendscope.bench import make_images
from trendscope.cli import main
from trendscope.config import load_config
from trendscope.vision.factory import load_classifier, load_detector
from trendscope.vision.threads import usable_cpus

MODELS_DIR = REPO / "models"

PHASES = {"decode_only", "model_only", "pipeline", "naive"}


def _config_file(tmp_path, **changes) -> str:
    """The default config as a YAML file with ``changes`` (``section.key`` or top-level)."""
    data = load_config(environ={}).model_dump(mode="json")
    data["models_dir"] = str(MODELS_DIR)
    for dotted, value in changes.items():
        *sections, key = dotted.split(".")
        target = data
        for section in sections:
            target = target[section]
        target[key] = value
    path = tmp_path / "trendscope.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    ("changes", "batch_size", "workers"),
    [
        ({}, 8, 2),  # the shipped config
        ({"batch_size": 2, "analyze.workers": 1}, 2, 1),
    ],
)
def test_bench_measures_the_configured_pipeline(
    tmp_path, capsys, changes, batch_size, workers
) -> None:
    out = tmp_path / "bench.json"
    args = ["-q", "bench", "--images", "6", "--workdir", str(tmp_path / "w"), "--json", str(out)]
    args += ["--config", _config_file(tmp_path, **changes)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "pipeline / model_only" in printed and "target >= 0.9" in printed
    assert "pipeline / naive" in printed and "bounded by " in printed

    result = json.loads(out.read_text())
    assert result["images"] == 6 and result["device"] == "cpu"
    analyzed = result["analyzed"]
    assert 0 < analyzed <= 6
    # what was measured is what the config asks for
    setup = result["setup"]
    assert result["batch_size"] == setup["batch_size"] == batch_size
    assert setup["workers"] == workers
    assert setup["threads_per_call"] == max(1, usable_cpus() // workers)
    assert setup["batches"] == math.ceil(analyzed / batch_size)
    config = load_config(environ={}, overrides={"models_dir": str(MODELS_DIR)})
    assert setup["detector"]["sha256"] == load_detector(config).info.sha256
    assert setup["classifier"]["sha256"] == load_classifier(config).info.sha256
    assert setup["min_crop_pixels"] == {n: t.min_crop_pixels for n, t in config.targets.items()}

    assert set(result["rates"]) == set(result["cpu_seconds"]) == PHASES
    assert all(rate > 0 for rate in result["rates"].values())
    r, sec = result["rates"], result["seconds"]
    assert r["pipeline"] == pytest.approx(analyzed / sec["pipeline"])  # images analyzed, not N
    assert result["ratios"]["pipeline / naive"] == pytest.approx(r["pipeline"] / r["naive"])
    ratio = result["ratios"]["pipeline / model_only"]
    assert ratio == pytest.approx(r["pipeline"] / r["model_only"])
    assert result["targets"] == {"pipeline / model_only": 0.9, "pipeline / naive": 2.5}
    bound = result["bound"]
    assert bound["phase"] in {"decode", "models"} and bound["ceiling_images_per_s"] > 0
    assert result["peak_rss_mb"] > 100 and result["versions"]["torch"].startswith("2.14.1")
    assert result["shard_images"] > 0 and result["shard_minutes"] > 0


def test_bench_rejects_no_images(tmp_path, capsys) -> None:
    assert main(["-q", "bench", "--images", "0", "--workdir", str(tmp_path)]) == 2
    assert "--images" in capsys.readouterr().err


def test_bench_images_are_distinct_and_span_sizes(tmp_path) -> None:
    from PIL import Image

    paths = make_images(tmp_path, 24)
    assert len({p.read_bytes() for p in paths}) == 24
    sizes = [Image.open(p).size for p in paths]
    mp = [w * h / 1e6 for w, h in sizes]
    assert min(mp) >= 0.25 and max(mp) <= 12.5
    assert {p.suffix for p in paths} == {".jpg", ".png"}
    assert make_images(tmp_path, 24) == paths  # cached


def test_bench_memory_run(tmp_path) -> None:
    from trendscope.bench import run_memory

    result = run_memory(5, tmp_path / "m", megapixels=0.1)
    assert set(result.rates) == {"pipeline"} and result.rates["pipeline"] > 0
    assert 0 < result.analyzed <= 5
    assert result.pipeline_peak_rss_mb > 100 and result.shard_minutes > 0
    assert result.setup["batches"] == math.ceil(result.analyzed / result.batch_size)
