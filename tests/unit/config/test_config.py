from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trendscope.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _write(tmp_path: Path, patch: dict) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for dotted, value in patch.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "trendscope.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_config_is_valid() -> None:
    cfg = load_config(environ={})
    assert cfg.location_slugs == ["shibuya", "brooklyn"]
    assert cfg.location("shibuya").timezone == "Asia/Tokyo"
    assert cfg.targets["cat"].fine_labels["tabby"] == ["tabby"]
    assert cfg.targets["handbag"].fine_labels["purse"] == ["purse", "wallet"]
    assert cfg.detector.backend == "yolox-onnx"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"detecter": {"backend": "x"}}, "detecter: unknown key"),
        ({"targets.cat.crop_threshold": 1.5}, "targets.cat.crop_threshold"),
        ({"targets.cat.fine_labels": []}, "targets.cat.fine_labels"),
        ({"targets.cat.fine_labels": ["other"]}, "targets.cat.fine_labels"),
        ({"detector.backend": "yolo9000"}, "detector.backend"),
        ({"executor": "celery"}, "executor"),
        ({"batch_size": 0}, "batch_size"),
        ({"locations": [{"slug": "Bad Slug!"}]}, "locations.0.slug"),
        ({"locations": [{"slug": "x", "timezone": "Mars/Olympus"}]}, "locations.0.timezone"),
        ({"locations": [{"slug": "x"}, {"slug": "x"}]}, "slug 'x' appears twice"),
        ({"locations": None}, "locations: required key is missing"),
        ({"source.max_pixels": -1}, "source.max_pixels"),
        ({"source.type": "flickr"}, "source.type"),
        ({"source.type": "scraper"}, "source.scraper is required when source.type is scraper"),
        (
            {"source.scraper": {"url_template": "ftp://x/{date}", "selectors": {"item": ".p"}}},
            "source.scraper.url_template: Value error, must be an http:// or https:// URL",
        ),
        (
            {"source.scraper": {"url_template": "https://x/feed", "selectors": {"item": ".p"}}},
            "must contain {location} and/or {date}",
        ),
        (
            {"source.scraper": {"url_template": "https://x/{date}", "selectors": {}}},
            "source.scraper.selectors.item: required key is missing",
        ),
        (
            {
                "source.scraper": {
                    "url_template": "https://x/{date}",
                    "selectors": {"item": ".p", "image_attr": "href"},
                }
            },
            "source.scraper.selectors.image_attr",
        ),
        ({"quality.volume_min_ratio": 2}, "quality.volume_min_ratio"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, patch: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, patch), environ={})
    assert field in str(err.value)


def test_environment_overrides() -> None:
    env = {
        "TRENDSCOPE_DATA_DIR": "s3://bucket/ts",
        "TRENDSCOPE_SOURCE_DIR": "s3://bucket/drop",
        "TRENDSCOPE_EXECUTOR": "kubernetes",
        "TRENDSCOPE__TARGETS__CAT__CROP_THRESHOLD": "0.8",
        "TRENDSCOPE__DETECTOR__CONFIDENCE": "0.4",
    }
    cfg = load_config(environ=env)
    assert cfg.data_root == "s3://bucket/ts"
    assert cfg.executor == "kubernetes"
    assert cfg.targets["cat"].crop_threshold == 0.8
    assert cfg.detector.confidence == 0.4


def test_bad_environment_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match="executor"):
        load_config(environ={"TRENDSCOPE_EXECUTOR": "yarn"})


def test_missing_file_and_unknown_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})
    with pytest.raises(ConfigError, match="'paris' is not configured"):
        load_config(environ={}).location("paris")
