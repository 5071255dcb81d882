"""File modification times on local disk and on S3 (a real S3 API server on localhost)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_days import DAY1
from s3_faults import CREDENTIALS, moto_server
from trendscope.pipeline.runs import Attempt, read_runs
from trendscope.tables import storage


def test_local_times_are_the_files_mtime_in_utc(tmp_path) -> None:
    old, new = tmp_path / "a" / "old.jpg", tmp_path / "a" / "b" / "new.jpg"
    new.parent.mkdir(parents=True)
    old.write_bytes(b"1")
    new.write_bytes(b"2")
    (tmp_path / "a" / ".hidden").write_bytes(b"3")
    when = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    os.utime(old, (when.timestamp(), when.timestamp()))

    assert storage.modified_time(str(old)) == when
    assert storage.list_modified(str(tmp_path / "a")) == {
        str(new): storage.modified_time(str(new)),
        str(old): when,
    }
    with pytest.raises(FileNotFoundError):
        storage.modified_time(str(tmp_path / "nope.jpg"))


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A real S3 API server on localhost (moto) with the bucket ``lake``; storage pointed at it."""
    for var, value in CREDENTIALS.items():
        monkeypatch.setenv(var, value)
    with moto_server() as endpoint:
        storage.configure(endpoint, "us-east-1")
        storage._client().create_bucket(Bucket="lake")
        yield endpoint
    storage.configure(None, None)


def test_s3_times_come_from_last_modified(s3_endpoint) -> None:
    s3 = "s3://lake"
    before = datetime.now(UTC) - timedelta(seconds=5)
    storage.write_bytes_atomic(b"x", f"{s3}/drop/shibuya/2026-11-02/a.jpg")
    storage.write_bytes_atomic(b"y", f"{s3}/drop/shibuya/2026-11-02/.part")
    when = storage.modified_time(f"{s3}/drop/shibuya/2026-11-02/a.jpg")
    assert when.tzinfo is not None and before <= when <= datetime.now(UTC) + timedelta(seconds=5)
    assert storage.list_modified(f"{s3}/drop") == {f"{s3}/drop/shibuya/2026-11-02/a.jpg": when}
    with pytest.raises(FileNotFoundError):
        storage.modified_time(f"{s3}/drop/nope.jpg")


def test_runs_rows_on_s3(s3_endpoint, config) -> None:
    cfg = config.model_copy(
        update={
            "data_dir": "s3://lake/trendscope",
            "storage": config.storage.model_copy(update={"endpoint_url": s3_endpoint}),
        }
    )
    Attempt(cfg, "ingest", "shibuya", DAY1, run_id="r1").finish()
    Attempt(cfg, "publish", "shibuya", DAY1).finish(error=RuntimeError("boom"))
    rows = read_runs(cfg.data_root, "shibuya", DAY1)
    assert [(r["step"], r["status"], r["error"]) for r in rows] == [
        ("ingest", "success", None),
        ("publish", "failed", "RuntimeError: boom"),
    ]
