"""Write-audit-publish: tampered partitions are caught, named, and never published."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from row_builders import det_row, image_row
from trendscope.cli import main
from trendscope.config import TrendscopeConfig
from trendscope.pipeline.ingest import write_posts_in
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.shards import Shard, shard_file
from trendscope.pipeline.validate import validate_stored
from trendscope.quality.gate import ValidationFailedError
from trendscope.quality.results import latest_result
from trendscope.report.html import build_report
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, relaxed, to_table

DAY = date(2026, 11, 2)


def _day_rows(day: date = DAY, n: int = 4) -> tuple[list[dict], list[dict]]:
    images = [
        image_row(f"{i:064x}", date=day, width=640, height=480, source_uri=f"/drop/{i}.jpg")
        for i in range(1, n + 1)
    ]
    images.append(
        image_row("f" * 64, status="quarantined", reason="truncated", date=day, source_uri="/x.jpg")
    )
    dets = [
        det_row(f"{1:064x}", 0, "cat", "tabby", date=day, x1=10.0, y1=20.0, x2=300.0, y2=400.0),
        det_row(f"{2:064x}", 0, "person", date=day, x1=0.0, y1=0.0, x2=640.0, y2=480.0),
        det_row(f"{3:064x}", 0, "dog", "pug", date=day),
    ]
    return images, dets


def _write(contract, rows: list[dict], path: str) -> None:
    # relaxed: a buggy or outside writer does not enforce the contract's non-null columns
    storage.write_table_atomic(relaxed(to_table(contract, rows)), path)


def _stage(config: TrendscopeConfig, images: list[dict], dets: list[dict], day: date = DAY):
    """What ingest and one analyze shard leave in staging for ``publish``."""
    root = config.data_root
    staged = partition_path(root, IMAGES.name, "shibuya", day, area="staging")
    _write(IMAGES, images, staged)
    write_posts_in(staged, len(images))
    shard = Shard(0, 1)
    _write(IMAGES, images, shard_file(root, "shibuya", day, shard, "images"))
    _write(DETECTIONS, dets, shard_file(root, "shibuya", day, shard, "detections"))


def _published(config: TrendscopeConfig, table: str, day: date = DAY):
    path = partition_path(config.data_root, table, "shibuya", day)
    return storage.read_table(path).to_pylist() if storage.exists(path) else None


def test_a_clean_day_is_validated_then_published(config):
    images, dets = _day_rows()
    _stage(config, images, dets)
    result = publish_day(config, "shibuya", DAY)
    assert len(_published(config, "images")) == 5
    assert len(_published(config, "detections")) == 3
    assert result.counts["quality_warnings"] == 0
    kept = latest_result(config, "detections", "shibuya", DAY.isoformat())
    assert kept["success"] is True and kept["area"] == "staging" and kept["evaluated"] >= 20
    index = storage.read_bytes(config.data_root + "/quality/gx/docs/index.html").decode()
    assert "detections" in index and "images" in index
    # staging is cleaned after a successful publish
    assert not storage.exists(partition_path(config.data_root, "images", "shibuya", DAY, "staging"))


def _tamper_confidence(images, dets):
    dets[0]["confidence"] = 1.7


def _tamper_box_outside(images, dets):
    dets[1]["x2"] = 900.0  # the image is 640 wide


def _tamper_box_inverted(images, dets):
    dets[0]["y2"] = 5.0  # y2 < y1


def _tamper_null_location(images, dets):
    images[0]["location"] = None


def _tamper_duplicate_key(images, dets):
    dets.append(dict(dets[0]))


def _tamper_unknown_label(images, dets):
    dets[1]["label"] = "unicorn"


def _tamper_unknown_fine_label(images, dets):
    dets[0]["fine_label"] = "sphynx"


def _tamper_orphan_detection(images, dets):
    dets.append(det_row("e" * 64, 0, "person", date=DAY))


def _tamper_quarantine_without_reason(images, dets):
    images[-1]["reason"] = None


@pytest.mark.parametrize(
    ("tamper", "table", "expectation", "column"),
    [
        (_tamper_confidence, "detections", "expect_column_values_to_be_between", "confidence"),
        (
            _tamper_box_outside,
            "detections",
            "expect_column_pair_values_a_to_be_greater_than_b",
            "image_width,x2",
        ),
        (
            _tamper_box_inverted,
            "detections",
            "expect_column_pair_values_a_to_be_greater_than_b",
            "y2,y1",
        ),
        (_tamper_null_location, "images", "expect_column_values_to_not_be_null", "location"),
        (
            _tamper_duplicate_key,
            "detections",
            "expect_compound_columns_to_be_unique",
            "image_id,detection",
        ),
        (_tamper_unknown_label, "detections", "expect_column_values_to_be_in_set", "label"),
        (
            _tamper_unknown_fine_label,
            "detections",
            "expect_column_values_to_be_in_set",
            "fine_label",
        ),
        (
            _tamper_orphan_detection,
            "detections",
            "expect_column_values_to_not_be_null",
            "image_width",
        ),
        (
            _tamper_quarantine_without_reason,
            "images",
            "expect_column_values_to_not_be_null",
            "reason",
        ),
    ],
)
def test_a_tampered_day_is_caught_named_and_not_published(
    config, tamper, table, expectation, column
):
    # yesterday's good version of the day is published first
    images, dets = _day_rows()
    _stage(config, images, dets)
    publish_day(config, "shibuya", DAY)
    before = {t: _published(config, t) for t in ("images", "detections")}

    images, dets = _day_rows()
    tamper(images, dets)
    _stage(config, images, dets)
    with pytest.raises(ValidationFailedError) as caught:
        publish_day(config, "shibuya", DAY)

    failures = caught.value.report.failures
    assert (table, expectation, column) in {(f.table, f.expectation, f.column) for f in failures}
    message = str(caught.value)
    assert f"{table}: {expectation}({column})" in message
    # the published partitions are untouched, the staged data and the result are kept
    assert {t: _published(config, t) for t in ("images", "detections")} == before
    staged = partition_path(config.data_root, table, "shibuya", DAY, area="staging")
    assert storage.exists(staged)
    kept = latest_result(config, table, "shibuya", DAY.isoformat())
    assert kept["success"] is False and kept["area"] == "staging"
    assert any(f["column"] == column for f in kept["failures"])


@pytest.mark.parametrize(
    ("usual", "ok", "warned"),
    [(100, 10, True), (100, 11, False), (15, 1, True), (15, 2, False), (20, 0, True)],
    ids=["90%-fewer", "89%-fewer", "93%-fewer", "87%-fewer", "none"],
)
def test_volume_rule_boundary(config, usual, ok, warned):
    """A day with 90% (or more) fewer ok images than the recent median is a warning."""
    from trendscope.quality.gate import validate_partition
    from trendscope.quality.suites import SuiteContext

    rows = [image_row(f"{i:064x}", width=9, height=9, source_uri=f"/d/{i}") for i in range(ok)]
    ctx = SuiteContext(location="shibuya", key=DAY.isoformat(), usual_ok_images=float(usual))
    report = validate_partition(config, IMAGES, to_table(IMAGES, rows), ctx, area="staging")
    assert report.success
    assert [w.expectation for w in report.warnings] == (
        ["expect_table_row_count_to_be_between"] if warned else []
    )


def test_posts_must_reconcile_with_images_rows(config):
    images, dets = _day_rows()
    _stage(config, images, dets)
    staged = partition_path(config.data_root, IMAGES.name, "shibuya", DAY, area="staging")
    write_posts_in(staged, len(images) + 2)  # two posts vanished between ingest and publish
    with pytest.raises(ValidationFailedError, match="expect_table_row_count_to_equal"):
        publish_day(config, "shibuya", DAY)
    assert _published(config, "images") is None


def test_a_day_with_far_fewer_images_than_usual_is_a_warning_not_a_failure(config, tmp_path):
    for k in range(1, 6):  # five usual days of 20 ok images
        day = DAY - timedelta(days=k)
        images = [
            image_row(f"{k:02d}{i:062x}", date=day, width=64, height=64, source_uri=f"/d/{k}-{i}")
            for i in range(20)
        ]
        storage.write_table_atomic(
            to_table(IMAGES, images), partition_path(config.data_root, "images", "shibuya", day)
        )
    images, dets = _day_rows(n=1)  # 1 ok image: 95% fewer than usual
    _stage(config, images, dets[:1])
    result = publish_day(config, "shibuya", DAY)
    assert result.counts["quality_warnings"] == 1
    assert len(_published(config, "images")) == 2
    (warning,) = latest_result(config, "images", "shibuya", DAY.isoformat())["warnings"]
    assert warning["expectation"] == "expect_table_row_count_to_be_between"
    assert warning["observed"] == 1
    assert "median (20)" in warning["description"]
    # and the analysts' report shows it
    page = build_report(config, DAY, DAY, "shibuya", tmp_path / "report.html").read_text()
    section = page[page.index("Data quality") :]
    assert "volume: ok images more than 10% of the location&#x27;s recent median (20)" in section
    assert "warning" in section


def test_validate_command_checks_a_published_partition_and_fails_on_tampering(config, capsys):
    images, dets = _day_rows()
    _stage(config, images, dets)
    publish_day(config, "shibuya", DAY)
    args = ["validate", "--data-dir", config.data_root, "--location", "shibuya"]
    assert main([*args, "--table", "detections", "--date", DAY.isoformat()]) == 0
    assert "0 failed" in capsys.readouterr().out

    # someone edits the published file by hand
    path = partition_path(config.data_root, "detections", "shibuya", DAY)
    rows = storage.read_table(path).to_pylist()
    rows[0]["confidence"] = -0.2
    storage.write_table_atomic(to_table(DETECTIONS, rows), path)
    assert main([*args, "--table", "detections", "--date", DAY.isoformat()]) == 1
    out = capsys.readouterr().out
    assert "FAILED  detections: expect_column_values_to_be_between(confidence)" in out
    assert "[-0.2" in out
    report = validate_stored(config, "detections", "shibuya", DAY.isoformat())
    assert json.loads(storage.read_bytes(report.result_json))["success"] is False


def test_validate_command_names_a_missing_partition(config, capsys):
    args = ["validate", "--data-dir", config.data_root, "--table", "images"]
    code = main([*args, "--location", "shibuya", "--date", "2026-01-01"])
    assert code == 1
    assert "no published images partition" in capsys.readouterr().err


def _share_off(rows):
    rows[0]["share"] = min(1.0, rows[0]["share"] + 0.25)


def _p_over_one(rows):
    rows[0]["p_adjusted"] = 1.5


def _unknown_trend(rows):
    rows[0]["trend"] = "exploding"


def _duplicate_row(rows):
    rows.append(dict(rows[0]))


@pytest.mark.parametrize(
    ("tamper", "expectation", "column"),
    [
        (_share_off, "expect_column_values_to_be_between", "share_gap"),
        (_p_over_one, "expect_column_values_to_be_between", "p_adjusted"),
        (_unknown_trend, "expect_column_values_to_be_in_set", "trend"),
        (
            _duplicate_row,
            "expect_compound_columns_to_be_unique",
            "location,date,kind,label,fine_label",
        ),
    ],
)
def test_trend_tables_are_checked(config, tamper, expectation, column):
    from published_history import STEP_DAY, published_history
    from trendscope.pipeline.trends import trends_day
    from trendscope.tables.schemas import TRENDS_DAILY

    published_history(config)
    trends_day(config, "shibuya", STEP_DAY)
    key = STEP_DAY.isoformat()
    assert validate_stored(config, "trends_daily", "shibuya", key).success
    path = partition_path(config.data_root, "trends_daily", "shibuya", STEP_DAY)
    rows = storage.read_table(path).to_pylist()
    tamper(rows)
    storage.write_table_atomic(to_table(TRENDS_DAILY, rows), path)
    report = validate_stored(config, "trends_daily", "shibuya", key)
    assert not report.success
    assert (expectation, column) in {(f.expectation, f.column) for f in report.failures}


def test_a_bad_rollup_is_not_published_and_shows_in_the_report(config, tmp_path, monkeypatch):
    """A defect in the rollup computation (injected: the code computes correct shares) stops at
    the gate: the previous weekly partition stays, and the report lists the failure."""
    from published_history import STEP_DAY, published_history
    from trendscope.pipeline import rollup as rollups
    from trendscope.tables.paths import period_partition_path

    published_history(config)
    rollups.rollup_period(config, "shibuya", "2026-W45")
    path = period_partition_path(config.data_root, "trends_weekly", "shibuya", "2026-W45")
    before = storage.read_table(path).to_pylist()

    real = rollups.compute_period

    def broken(*args, **kwargs):
        table = real(*args, **kwargs)
        rows = table.to_pylist()
        rows[0]["share"] = 1.0 if rows[0]["share"] < 0.5 else 0.0  # no longer images / ok_images
        return to_table(rollups.rollup_contract("2026-W45"), rows)

    monkeypatch.setattr(rollups, "compute_period", broken)
    with pytest.raises(ValidationFailedError, match=r"trends_weekly: .*\(share_gap\)"):
        rollups.rollup_period(config, "shibuya", "2026-W45")
    assert storage.read_table(path).to_pylist() == before
    staged = period_partition_path(
        config.data_root, "trends_weekly", "shibuya", "2026-W45", "staging"
    )
    assert storage.exists(staged)

    page = build_report(config, STEP_DAY, STEP_DAY, "shibuya", tmp_path / "r.html").read_text()
    section = page[page.index("Data quality") :]
    assert "2026-W45" in section and "trends_weekly" in section and "failed" in section
    assert "share = images / ok_images" in section


def test_parallel_publishes_share_the_data_docs_safely(config):
    """Two locations published at once (mapped Airflow tasks) both land, and the Data Docs
    index lists both runs."""
    from concurrent.futures import ThreadPoolExecutor

    from trendscope.config import load_config

    config = load_config(
        environ={},
        overrides={
            "data_dir": config.data_root,
            "locations": [{"slug": "shibuya"}, {"slug": "brooklyn"}],
        },
    )

    def one(location: str) -> int:
        images, dets = _day_rows()
        for r in images + dets:
            r["location"] = location
        for r in images:
            r["source_uri"] = f"/{location}{r['source_uri']}"
        root = config.data_root
        staged = partition_path(root, IMAGES.name, location, DAY, area="staging")
        _write(IMAGES, images, staged)
        write_posts_in(staged, len(images))
        _write(IMAGES, images, shard_file(root, location, DAY, Shard(0, 1), "images"))
        _write(DETECTIONS, dets, shard_file(root, location, DAY, Shard(0, 1), "detections"))
        return publish_day(config, location, DAY).counts["detections"]

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(one, ["shibuya", "brooklyn"])) == [3, 3]
    index = storage.read_bytes(config.data_root + "/quality/gx/docs/index.html").decode()
    assert "shibuya_2026-11-02_staging" in index and "brooklyn_2026-11-02_staging" in index
