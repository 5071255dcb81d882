"""A whole location-day through the CLI, with the real models on real photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from e2e_data import DAY, SHIBUYA
from trendscope.cli import main
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e


def _table(config, table: str, location: str) -> list[dict]:
    return pq.read_table(partition_path(config.data_root, table, location, DAY)).to_pylist()


def _run(config, location: str, capsys) -> str:
    code = main(
        [
            "run",
            "--source-dir", config.source_root,
            "--location", location,
            "--date", DAY.isoformat(),
            "--data-dir", config.data_root,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_run_a_location_day(e2e_config, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRENDSCOPE_MODELS_DIR", e2e_config.models_dir)
    out = _run(e2e_config, "shibuya", capsys)
    assert "Trends for shibuya on 2026-11-02 (6 ok images)" in out

    images = {Path(r["source_uri"]).name: r for r in _table(e2e_config, "images", "shibuya")}
    assert len(images) == 9
    assert {n: r["status"] for n, r in images.items() if r["status"] != "ok"} == {
        "cat_repost.png": "duplicate",
        "page.jpg": "quarantined",
        "truncated.jpg": "quarantined",
    }
    assert images["page.jpg"]["reason"] == "not an image: the file is HTML/XML text"
    assert "cannot decode" in images["truncated.jpg"]["reason"]
    cat = images["cat.png"]
    assert (
        cat["image_id"]
        == hashlib.sha256(
            (Path(e2e_config.source_root) / "shibuya" / "2026-11-02" / "cat.png").read_bytes()
        ).hexdigest()
    )
    assert images["cat_repost.png"]["duplicate_of"] == cat["image_id"]
    assert (cat["width"], cat["height"]) == (451, 300)
    assert cat["scene"] == "cat" and images["coffee.jpg"]["scene"] == "food"
    assert cat["model"] == "efficientnet_lite0"

    dets = _table(e2e_config, "detections", "shibuya")
    by_image = {}
    for d in dets:
        by_image.setdefault(d["image_id"], []).append(d)
    for name, _, expected in SHIBUYA:
        labels = {
            d["label"] for d in by_image.get(images[name]["image_id"], []) if d["confidence"] >= 0.5
        }
        if expected:
            assert expected in labels, (name, labels)
    cat_dets = [d for d in by_image[cat["image_id"]] if d["label"] == "cat"]
    assert cat_dets and cat_dets[0]["fine_label"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert cat_dets[0]["fine_model_sha256"].startswith("579344248a93")
    assert all(d["model_sha256"].startswith("615e266100c3") for d in dets)
    person = next(d for d in dets if d["label"] == "person")
    assert person["fine_label"] is None  # not a target
    for d in dets:
        img = next(r for r in images.values() if r["image_id"] == d["image_id"])
        assert 0 <= d["x1"] < d["x2"] <= img["width"] and 0 <= d["y1"] < d["y2"] <= img["height"]

    trends = {
        (r["kind"], r["label"], r["fine_label"]): r
        for r in _table(e2e_config, "trends_daily", "shibuya")
    }
    cat_row = trends[("object", "cat", None)]
    assert (cat_row["images"], cat_row["ok_images"]) == (1, 6)
    assert cat_row["share"] == pytest.approx(1 / 6)
    assert trends[("object", "person", None)]["images"] >= 3  # astronaut, bus, zidane
    assert cat_row["trend"] == "insufficient"  # 6 images cannot make a trend

    # the cropped cat's colours (a brown tabby), its colour trend row, and the image's tags
    colours = [c for c in _table(e2e_config, "colors", "shibuya") if c["label"] == "cat"]
    assert colours and {c["detection"] for c in colours} == {cat_dets[0]["detection"]}
    assert min(colours, key=lambda c: c["rank"])["family"] == "brown"
    assert sum(c["fraction"] for c in colours) == pytest.approx(1.0)
    assert trends[("colour", "cat/brown", None)]["images"] == 1
    assert "cat/brown" in out  # `trendscope run` prints the colour rows
    tags = [t for t in _table(e2e_config, "tags", "shibuya") if t["image_id"] == cat["image_id"]]
    assert {(t["kind"], t["tag"]) for t in tags} >= {("object", "cat"), ("scene", "cat")}
    assert max(t["importance"] for t in tags) == 1.0

    # re-running the day replaces its partitions: same rows, no duplicates
    tables = ("images", "detections", "colors", "tags", "trends_daily")
    before = {t: _table(e2e_config, t, "shibuya") for t in tables}
    _run(e2e_config, "shibuya", capsys)
    after = {t: _table(e2e_config, t, "shibuya") for t in tables}
    assert after == before


def test_manifest_location_keeps_post_metadata(e2e_config, capsys) -> None:
    _run(e2e_config, "brooklyn", capsys)
    images = sorted(_table(e2e_config, "images", "brooklyn"), key=lambda r: r["post_id"])
    assert [r["post_id"] for r in images] == ["bk-0", "bk-1", "bk-2"]
    assert all(r["status"] == "ok" for r in images)
    assert images[2]["taken_at"].isoformat() == "2026-11-03T04:30:00+00:00"  # 23:30 in New York
    assert images[1]["hashtags"] == ["brooklyn", "china"] and images[1]["likes"] == 10
    assert images[0]["author"] == "nyc_photos"
