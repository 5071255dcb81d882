"""Transient object-store faults are retried; a permanent one fails naming the object.

A real S3 API server (moto) on localhost sits behind a fault-injecting proxy (``s3_faults``)
that answers 500/503 to chosen requests, answers too late, or stalls mid-body.
"""

from __future__ import annotations

import re
import time

import pytest

from pipeline_days import DAY1, REPO, drop_photos
from s3_faults import FaultProxy, free_port, lake_behind_proxy
from trendscope.config import load_config
from trendscope.pipeline.run import run_step
from trendscope.pipeline.runs import read_runs
from trendscope.tables import storage
from trendscope.tables.schemas import RUN_FAILED

ATTEMPTS = 3
READ_TIMEOUT_S = 1.0
S3 = "s3://lake"


@pytest.fixture(scope="module")
def proxy() -> FaultProxy:
    with lake_behind_proxy() as proxy:
        yield proxy


@pytest.fixture
def faulty(proxy: FaultProxy) -> FaultProxy:
    """Storage pointed at the proxy: 3 tries of each request, 1 s read timeout."""
    proxy.reset()
    storage.configure(
        proxy.url,
        "us-east-1",
        max_attempts=ATTEMPTS,
        connect_timeout_s=1.0,
        read_timeout_s=READ_TIMEOUT_S,
    )
    return proxy


@pytest.mark.parametrize("kind", ["500", "503"])
def test_writes_and_reads_succeed_through_transient_faults(faulty, kind) -> None:
    key = f"faults/{kind}/data.parquet"
    faulty.fail("PUT", f"/lake/{key}$", kind, times=ATTEMPTS - 1)
    faulty.fail("GET", f"/lake/{key}$", kind, times=ATTEMPTS - 1)
    faulty.fail("HEAD", f"/lake/{key}$", kind, times=ATTEMPTS - 1)

    storage.write_bytes_atomic(b"payload", f"{S3}/{key}")
    assert faulty.count("PUT", key) == ATTEMPTS  # two faults, then the write
    assert storage.read_bytes(f"{S3}/{key}") == b"payload"
    assert faulty.count("GET", key) == ATTEMPTS
    assert storage.size(f"{S3}/{key}") == len(b"payload")
    assert faulty.count("HEAD", key) == ATTEMPTS


def test_listing_and_deleting_are_retried_too(faulty) -> None:
    storage.write_bytes_atomic(b"1", f"{S3}/listed/a.bin")
    faulty.fail("GET", r"/lake\?list-type=2", "503", times=ATTEMPTS - 1)
    faulty.fail("DELETE", "/lake/listed/a.bin", "500", times=ATTEMPTS - 1)

    assert storage.list_files(f"{S3}/listed") == [f"{S3}/listed/a.bin"]
    assert faulty.count("GET", r"/lake\?list-type=2") == ATTEMPTS
    storage.remove(f"{S3}/listed/a.bin")
    assert faulty.count("DELETE", "/lake/listed/a.bin") == ATTEMPTS
    assert storage.list_files(f"{S3}/listed") == []


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_a_response_slower_than_the_read_timeout_is_retried(faulty, method) -> None:
    key = f"slow/{method}.bin"
    storage.write_bytes_atomic(b"before", f"{S3}/{key}")
    faulty.reset()
    faulty.fail(method, f"/lake/{key}$", "slow", times=1, delay_s=READ_TIMEOUT_S + 1.0)

    started = time.monotonic()
    if method == "PUT":
        storage.write_bytes_atomic(b"after", f"{S3}/{key}")
    assert storage.read_bytes(f"{S3}/{key}") == (b"after" if method == "PUT" else b"before")
    assert time.monotonic() - started >= READ_TIMEOUT_S  # it did wait for the slow answer
    assert faulty.count(method, key) == 2


def test_a_body_that_stalls_after_the_headers_is_fetched_again(faulty) -> None:
    key = "stall/data.bin"
    payload = bytes(range(256)) * 64
    storage.write_bytes_atomic(payload, f"{S3}/{key}")
    faulty.fail("GET", f"/lake/{key}$", "stall", times=1, delay_s=READ_TIMEOUT_S + 1.0)

    assert storage.read_bytes(f"{S3}/{key}") == payload
    assert faulty.count("GET", key) == 2


@pytest.mark.parametrize(
    ("operation", "method", "call", "pattern"),
    [
        ("write", "PUT", lambda p: storage.write_bytes_atomic(b"x", p), "/lake/perm/"),
        ("read", "GET", storage.read_bytes, "/lake/perm/"),
        ("stat", "HEAD", storage.exists, "/lake/perm/"),
        ("list", "GET", lambda p: storage.list_files(p.rsplit("/", 1)[0]), r"list-type=2"),
        ("delete", "DELETE", storage.remove, "/lake/perm/"),
    ],
)
def test_a_permanent_failure_names_the_object_after_max_attempts(
    faulty, operation, method, call, pattern
) -> None:
    path = f"{S3}/perm/location=shibuya/date=2026-11-02/data.parquet"
    storage.write_bytes_atomic(b"x", path)
    faulty.reset()
    faulty.fail(method, pattern, "500")

    with pytest.raises(storage.StorageError) as failed:
        call(path)
    expected = path if operation != "list" else f"{S3}/perm/location=shibuya/date=2026-11-02/"
    assert f"could not {operation} {expected}: " in str(failed.value)
    assert "500" in str(failed.value) and f"after {ATTEMPTS} attempt(s)" in str(failed.value)
    assert faulty.count(method, pattern) == ATTEMPTS
    assert not isinstance(failed.value, OSError)  # never taken for an unreadable file


def test_a_missing_object_still_reads_as_not_found(faulty) -> None:
    path = f"{S3}/nowhere/data.parquet"
    with pytest.raises(FileNotFoundError, match=re.escape(f"not found: {path}")):
        storage.read_bytes(path)
    with pytest.raises(FileNotFoundError, match="partition not found"):
        storage.read_table(path)
    with pytest.raises(FileNotFoundError):
        storage.size(path)
    assert not storage.exists(path)
    assert faulty.count("GET", "nowhere") == 2 and faulty.count("HEAD", "nowhere") == 2  # no retry


def test_an_unreachable_endpoint_names_the_object(faulty) -> None:
    storage.configure(f"http://127.0.0.1:{free_port()}", "us-east-1", max_attempts=2)
    with pytest.raises(storage.StorageError, match=r"could not write s3://lake/a/b\.bin: .*"):
        storage.write_bytes_atomic(b"x", f"{S3}/a/b.bin")


def test_a_permanent_failure_fails_the_step_naming_the_key(faulty, tmp_path) -> None:
    config = load_config(  # the drop zone stays local; the data root is behind the proxy
        environ={},
        overrides={
            "data_dir": f"{S3}/steps",
            "source.path": str(tmp_path / "dropzone"),
            "models_dir": str(REPO / "models"),
            "storage.endpoint_url": faulty.url,
            "storage.region": "us-east-1",
            "storage.max_attempts": ATTEMPTS,
            "storage.read_timeout_s": READ_TIMEOUT_S,
        },
    )
    drop_photos(config, "shibuya", DAY1)
    staged = f"{S3}/steps/staging/images/location=shibuya/date=2026-11-02/data.parquet"
    faulty.fail("PUT", "/lake/steps/staging/images/", "500")

    with pytest.raises(
        storage.StorageError, match=re.escape(f"could not write {staged}: InternalError")
    ):
        run_step(config, "ingest", "shibuya", DAY1, run_id="manual__faulty")
    assert faulty.count("PUT", "/lake/steps/staging/images/") == ATTEMPTS

    (row,) = read_runs(config.data_root, "shibuya", DAY1)  # the failed attempt is recorded
    assert row["status"] == RUN_FAILED
    assert row["error"].startswith(f"StorageError: could not write {staged}")
