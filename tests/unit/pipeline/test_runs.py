"""The runs table: every step attempt through ``run_step`` leaves one row, success or failure."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline_days import DAY1, drop_photos
from trendscope.config import ConfigError
from trendscope.models.fetch import registry_entry
from trendscope.pipeline.publish import IncompleteStagingError
from trendscope.pipeline.run import run_day, run_step
from trendscope.pipeline.runs import MAX_ERROR_CHARS, Attempt, config_hash, error_text, read_runs
from trendscope.pipeline.shards import Shard
from trendscope.tables import storage
from trendscope.tables.paths import partition_path, runs_dir, runs_path
from trendscope.tables.schemas import DETECTIONS, RUNS

DETECTOR_SHA = registry_entry("yolox_nano.onnx").sha256
CLASSIFIER_SHA = registry_entry("efficientnet_lite0.pth").sha256


def test_runs_path_is_exact() -> None:
    started = datetime(2026, 11, 3, 1, 15, 0, 123456, tzinfo=UTC)
    assert runs_path("s3://lake/ts", "shibuya", DAY1, started, "publish", "ab12") == (
        "s3://lake/ts/runs/location=shibuya/date=2026-11-02/"
        "20261103T011500123456Z-publish-ab12.parquet"
    )


def test_ingest_attempt_is_recorded_with_counts_models_and_config(config) -> None:
    photos = drop_photos(config, "shibuya", DAY1, ("chelsea", "coffee", "astronaut"))
    shutil.copyfile(photos[0], photos[0].with_name("repost.png"))  # same bytes: a duplicate
    (photos[0].parent / "login.jpg").write_text("<html>login required</html>")  # quarantined

    result = run_step(config, "ingest", "shibuya", DAY1, run_id="manual__2026-11-03T01:00:00")

    (row,) = read_runs(config.data_root, "shibuya", DAY1)
    assert row["status"] == "success" and row["error"] is None
    assert (row["location"], row["date"], row["step"], row["shard"]) == (
        "shibuya",
        DAY1,
        "ingest",
        None,
    )
    counts = {k: row[k] for k in ("posts", "ok", "duplicate", "quarantined", "detections")}
    assert counts == {"posts": 5, "ok": 3, "duplicate": 1, "quarantined": 1, "detections": None}
    assert result.counts["posts"] == 5
    assert row["detector_sha256"] == DETECTOR_SHA
    assert row["classifier_sha256"] == CLASSIFIER_SHA
    assert row["config_hash"] == config_hash(config) and len(row["config_hash"]) == 12
    assert row["run_id"] == "manual__2026-11-03T01:00:00"
    assert row["started_at"] <= row["ended_at"]
    elapsed = (row["ended_at"] - row["started_at"]).total_seconds()
    assert row["duration_s"] == pytest.approx(elapsed, abs=0.002)

    (path,) = storage.list_files(runs_dir(config.data_root, "shibuya", DAY1))
    assert path == runs_path(
        config.data_root, "shibuya", DAY1, row["started_at"], "ingest", row["attempt_id"]
    )
    meta = pq.read_schema(path).metadata
    assert meta[b"trendscope.table"] == b"runs"
    assert meta[b"trendscope.schema_version"] == str(RUNS.version).encode()


def test_a_whole_day_records_every_step_with_its_counts(config) -> None:
    drop_photos(config, "shibuya", DAY1)
    run_day(config, "shibuya", DAY1, run_id="scheduled__2026-11-02T00:00:00+00:00")

    rows = read_runs(config.data_root, "shibuya", DAY1)
    assert [(r["step"], r["shard"], r["status"]) for r in rows] == [
        ("ingest", None, "success"),
        ("analyze", "0/1", "success"),
        ("publish", None, "success"),
        ("trends", None, "success"),
    ]
    assert {r["run_id"] for r in rows} == {"scheduled__2026-11-02T00:00:00+00:00"}
    assert {r["config_hash"] for r in rows} == {config_hash(config)}
    ingest, analyze, publish, trends = rows
    published = storage.read_table(
        partition_path(config.data_root, DETECTIONS.name, "shibuya", DAY1)
    )
    assert published.num_rows > 0
    assert analyze["detections"] == publish["detections"] == published.num_rows
    assert (publish["posts"], publish["ok"]) == (ingest["posts"], ingest["ok"]) == (2, 2)
    assert analyze["posts"] is None and analyze["ok"] == 2
    assert all(trends[k] is None for k in ("posts", "ok", "detections"))
    assert ingest["ended_at"] <= analyze["started_at"] <= publish["started_at"]


def test_failed_publish_is_recorded_and_its_error_propagates(config) -> None:
    with pytest.raises(IncompleteStagingError, match="run ingest first"):
        run_step(config, "publish", "shibuya", DAY1, run_id="manual__retry")

    (row,) = read_runs(config.data_root, "shibuya", DAY1)
    assert row["status"] == "failed"
    assert row["error"] == (
        "IncompleteStagingError: no staged images for shibuya 2026-11-02: run ingest first"
    )
    assert row["step"] == "publish" and row["run_id"] == "manual__retry"
    assert all(row[k] is None for k in ("posts", "ok", "duplicate", "quarantined", "detections"))
    assert row["duration_s"] >= 0 and row["detector_sha256"] == DETECTOR_SHA


def test_an_unwritable_runs_table_never_hides_the_step(config, caplog) -> None:
    root = Path(config.data_root)
    root.mkdir(parents=True)
    (root / "runs").write_text("a file where the runs folder should be")
    drop_photos(config, "shibuya", DAY1)

    with caplog.at_level(logging.ERROR, logger="trendscope.pipeline.runs"):
        with pytest.raises(IncompleteStagingError):  # the step's own error, not the write's
            run_step(config, "publish", "shibuya", DAY1)
        assert "could not record the publish attempt of shibuya 2026-11-02" in caplog.text
        result = run_step(config, "ingest", "shibuya", DAY1)  # a success stays a success
    assert result.counts["ok"] == 2
    assert "could not record the ingest attempt" in caplog.text


def test_attempts_started_together_never_overwrite_each_other(config) -> None:
    started = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    paths = {
        Attempt(config, "analyze", "shibuya", DAY1, shard=f"{i}/2", started_at=started).finish()
        for i in range(2)
    }
    assert len(paths) == 2 and None not in paths
    rows = read_runs(config.data_root, "shibuya", DAY1)
    assert sorted(r["shard"] for r in rows) == ["0/2", "1/2"]
    assert len({r["attempt_id"] for r in rows}) == 2


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("bad shard"), "ValueError: bad shard"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (RuntimeError("  spaced out \n"), "RuntimeError: spaced out"),
    ],
)
def test_error_text_names_the_type(exc: BaseException, expected: str) -> None:
    assert error_text(exc) == expected


def test_error_text_keeps_the_head_of_a_long_message() -> None:
    text = error_text(RuntimeError("x" * 5000))
    assert text.startswith("RuntimeError: xxx")
    assert len(text) < MAX_ERROR_CHARS + 40
    assert text.endswith(f"[{len('RuntimeError: ') + 5000 - MAX_ERROR_CHARS} more characters]")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": "train"}, ValueError, "unknown step 'train'"),
        ({"step": "publish", "shard": Shard(0, 2)}, ValueError, "shard applies to the analyze"),
        ({"step": "trends", "source_dir": "/drop"}, ValueError, "source_dir applies to the ingest"),
        ({"step": "publish", "location": "paris"}, ConfigError, "location 'paris'"),
    ],
)
def test_misused_run_step_is_an_error_not_an_attempt(config, kwargs, error, match) -> None:
    args = {"location": "shibuya", **kwargs}
    step, location = args.pop("step"), args.pop("location")
    with pytest.raises(error, match=match):
        run_step(config, step, location, DAY1, **args)
    assert not storage.list_files(str(Path(config.data_root) / "runs"))


def test_publish_after_a_failed_ingest_names_the_ingest_error(config) -> None:
    """The follow-on failure points at its cause, read from the runs table."""
    drop_photos(config, "shibuya", DAY1)
    # a file where the day's staging folder must go (a leftover of a broken copy)
    blocker = Path(
        partition_path(config.data_root, "images", "shibuya", DAY1, area="staging")
    ).parent
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        run_step(config, "ingest", "shibuya", DAY1, run_id="scheduled__x")
    with pytest.raises(IncompleteStagingError, match=r"its ingest failed \(.*UTC\): \w+Error"):
        run_step(config, "publish", "shibuya", DAY1, run_id="scheduled__x")
