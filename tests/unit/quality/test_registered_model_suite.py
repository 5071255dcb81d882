"""The detections suite checks a registered target's rows against its configured model."""

from __future__ import annotations

from datetime import date

import pytest

from row_builders import det_row, image_row
from trendscope.config import load_config
from trendscope.models.fetch import file_sha256
from trendscope.models.registry import Registry
from trendscope.quality.context import suite_context
from trendscope.quality.gate import validate_partition
from trendscope.tables.schemas import DETECTIONS, IMAGES, relaxed, to_table

DAY = date(2026, 11, 2)
IDS = [f"{i:064x}" for i in range(1, 3)]


@pytest.fixture
def registered(tmp_path):
    config = load_config(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "targets.cat": {"classifier": "cats@1", "fine_threshold": 0.3},
        },
    )
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a model")
    Registry(config.registry.root).register(
        "classifier",
        "cats",
        {"model": model},
        labels=["chelsea", "tabby"],
        params={"imgsz": 64},
        metrics={},
        data_fingerprint="x",
    )
    return config, file_sha256(model)


def _validate(config, cat: dict):
    images = to_table(
        IMAGES, [image_row(i, date=DAY, width=100, height=100, scene="other") for i in IDS]
    )
    rows = [
        det_row(IDS[0], 0, "cat", date=DAY, **cat),
        det_row(IDS[1], 0, "person", date=DAY),
    ]
    ctx = suite_context(config, DETECTIONS.name, "shibuya", DAY.isoformat())
    table = relaxed(to_table(DETECTIONS, rows))
    return validate_partition(config, DETECTIONS, table, ctx, area="staging", images=images)


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({}, None),
        ({"fine_model_version": 2}, "fine_model_version"),
        ({"fine_model": "efficientnet_lite0"}, "fine_model"),
        ({"fine_model_sha256": "f" * 64}, "fine_model_sha256"),
        ({"fine": "Egyptian cat"}, "fine_label"),
    ],
)
def test_a_registered_targets_rows_name_its_model(registered, change, failing) -> None:
    config, sha = registered
    cat = {"fine": "chelsea", "fine_model": "cats", "fine_model_version": 1}
    cat |= {"fine_model_sha256": sha} | change
    fine = cat.pop("fine")
    report = _validate(config, {"fine_label": fine, "fine_confidence": 0.9, **cat})
    failed = {f.column for f in report.failures}
    if failing is None:
        assert not report.failures, report.failures
    else:
        assert failing in failed, report.failures
