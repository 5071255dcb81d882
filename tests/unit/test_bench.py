"""A smoke run of ``trendscope bench`` on a handful of images (the real run is a benchmark)."""

from __future__ import annotations

import json

import pytest

from trendscope.bench import make_images
from trendscope.cli import main


def test_bench_smoke(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = main(
        ["-q", "bench", "--images", "6", "--workdir", str(tmp_path / "w"), "--json", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "pipeline / naive" in printed
    result = json.loads(out.read_text())
    assert result["images"] == 6 and result["device"] == "cpu"
    assert set(result["rates"]) == {"decode", "model_only", "pipeline", "naive"}
    assert all(rate > 0 for rate in result["rates"].values())
    r = result["rates"]
    assert result["ratios"]["pipeline / naive"] == pytest.approx(r["pipeline"] / r["naive"])
    assert result["peak_rss_mb"] > 100 and result["versions"]["torch"].startswith("2.14.1")
    assert result["shard_images"] > 0 and result["shard_minutes"] > 0
    assert 0 < result["analyzed"] <= 6


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
