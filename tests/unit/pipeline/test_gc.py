"""``trendscope gc`` and ``trendscope recover``: old staging, results and Data Docs go; published
tables, the runs table, latest.json and live days stay; interrupted publishes are finished."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from row_builders import image_row
from s3_faults import CREDENTIALS, moto_server
from trendscope.cli import main
from trendscope.config import TrendscopeConfig
from trendscope.pipeline.gc import (
    COMMIT_COPIES,
    DATA_DOCS,
    RESULTS_KIND,
    STAGING,
    GcReport,
    collect_garbage,
    parse_age,
)
from trendscope.quality.gate import validate_partition
from trendscope.quality.suites import SuiteContext
from trendscope.tables import storage
from trendscope.tables.commit import Intent, commit_copy_path, intent_path, publish_id_of, tagged
from trendscope.tables.locks import DayLock, Lease
from trendscope.tables.paths import join, keyed_partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, to_table

OLD, FRESH = date(2026, 10, 1), date(2026, 11, 30)
DAYS_40 = timedelta(days=40)


def _put(path: str, age: timedelta = timedelta(0), data: bytes = b"x" * 10) -> str:
    """Write ``path`` as last modified ``age`` ago (local files only)."""
    storage.write_bytes_atomic(data, path)
    when = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (when, when))
    return path


def _staged(root: str, location: str, day: date, age: timedelta) -> list[str]:
    """What ingest and one analyze shard leave in staging for a location-day."""
    images = keyed_partition_path(root, "images", location, day, area="staging")
    analysis = join(root, "staging", "analysis", f"location={location}", f"date={day}")
    return [
        _put(images, age),
        _put(images.rsplit("/", 1)[0] + "/posts_in.json", age),
        _put(f"{analysis}/shard-000-of-001/images.parquet", age),
        _put(f"{analysis}/shard-000-of-001/detections.parquet", age),
    ]


def _expired() -> bytes:
    """A lease a dead run left, expired long ago."""
    when = datetime.now(UTC) - DAYS_40
    return Lease("run-0", "host", 1, "analyze", when, when, when + timedelta(hours=3)).to_bytes()


def _tree(config: TrendscopeConfig) -> dict[str, list[str]]:
    """A data root holding one of each thing gc looks at; the paths of each, by fate."""
    root, q = config.data_root, join(config.data_root, "quality")
    results = join(q, "results", "images", "location=shibuya", f"date={OLD}")
    docs_run = f"images/shibuya_{OLD}_staging/20261001T000000.000000Z"
    fresh_run = f"images/shibuya_{FRESH}_staging/20261130T000000.000000Z"
    gone = {
        STAGING: _staged(root, "shibuya", OLD, DAYS_40),
        RESULTS_KIND: [_put(f"{results}/20261001T000000000000Z.json", DAYS_40)],
        DATA_DOCS: [
            _put(f"{q}/gx/results/{docs_run}/trendscope-images.json", DAYS_40),
            _put(f"{q}/gx/docs/validations/{docs_run}/trendscope-images.html", DAYS_40),
        ],
    }
    kept = [
        # published partitions, the runs table and a lease, however old
        _put(keyed_partition_path(root, "images", "shibuya", OLD), DAYS_40),
        _put(keyed_partition_path(root, "trends_weekly", "shibuya", "2026-W40"), DAYS_40),
        _put(join(root, "runs", "location=shibuya", f"date={OLD}", "a-ingest-1.parquet"), DAYS_40),
        _put(join(root, "locks", "location=shibuya", f"date={OLD}.json"), DAYS_40, _expired()),
        # a day being processed: fresh staging, and an old day with one fresh shard file
        *_staged(root, "brooklyn", FRESH, timedelta(0)),
        *_staged(root, "brooklyn", OLD, DAYS_40),
        _put(join(root, "staging", "analysis", "location=brooklyn", f"date={OLD}", "x.parquet")),
        # each partition's latest summary and the run it names, and fresh runs
        _put(f"{results}/latest.json", DAYS_40),
        _put(f"{results}/20261002T000000000000Z.json", DAYS_40),
        # the Data Docs index, its static files and a fresh run
        _put(f"{q}/gx/docs/index.html", DAYS_40),
        _put(f"{q}/gx/docs/static/styles/data_docs_default_styles.css", DAYS_40),
        _put(f"{q}/gx/results/{fresh_run}/trendscope-images.json"),
        _put(f"{q}/gx/docs/validations/{fresh_run}/trendscope-images.html"),
    ]
    return {**gone, "kept": kept}


def _snapshot(root: str) -> dict[str, float]:
    """Every file and its time (hidden ones aside: reading a lease makes its guard file)."""
    files = Path(root).rglob("*")
    return {str(p): p.stat().st_mtime for p in files if p.is_file() and p.name[0] != "."}


def _listed(report: GcReport) -> list[tuple[str, str, tuple[str, ...], int]]:
    return [(r.kind, r.path, r.files, r.bytes) for r in report.removed]


def test_old_staging_results_and_docs_go_the_rest_stays(config) -> None:
    tree = _tree(config)
    before = _snapshot(config.data_root)

    dry = collect_garbage(config, timedelta(days=30), dry_run=True)
    assert _snapshot(config.data_root) == before  # a dry run removes nothing
    removed = {
        kind: sorted(f for r in dry.removed if r.kind == kind for f in r.files) for kind in tree
    }
    assert removed == {kind: sorted(paths) for kind, paths in tree.items() if kind != "kept"} | {
        "kept": []
    }
    staged = [r.path for r in dry.removed if r.kind == STAGING]
    assert staged == [
        join(config.data_root, "staging", t, "location=shibuya", f"date={OLD}")
        for t in ("analysis", "images")
    ]
    assert dry.totals()[STAGING] == {"count": 2, "files": 4, "bytes": 40}

    done = collect_garbage(config, timedelta(days=30))
    assert _listed(done) == _listed(dry)  # the same list, now removed
    left = _snapshot(config.data_root)
    assert all(path in left for path in tree["kept"])
    assert not any(
        path in left for kind in (STAGING, RESULTS_KIND, DATA_DOCS) for path in tree[kind]
    )
    assert not done.dry_run and done.files == 7 and done.bytes == 70


def test_a_day_a_live_run_holds_keeps_its_staging(config) -> None:
    staged = _staged(config.data_root, "shibuya", OLD, DAYS_40)
    lock = DayLock(config.data_root, "shibuya", OLD, "run-1", ttl=timedelta(hours=1), wait_s=0)
    lock.acquire("analyze")
    assert collect_garbage(config, timedelta(days=30)).removed == []
    assert all(storage.exists(p) for p in staged)
    lock.release()
    assert [r.kind for r in collect_garbage(config, timedelta(days=30)).removed] == [STAGING] * 2


def test_location_limits_what_goes(config) -> None:
    _staged(config.data_root, "shibuya", OLD, DAYS_40)
    brooklyn = _staged(config.data_root, "brooklyn", OLD, DAYS_40)
    report = collect_garbage(config, timedelta(days=30), location="brooklyn")
    assert {f for r in report.removed for f in r.files} == set(brooklyn)


def _interrupted_publish(config: TrendscopeConfig) -> tuple[str, pa.Table]:
    """A publish of shibuya's OLD day that wrote its commit copies and intent, then died."""
    root, publish_id = config.data_root, "20261001T000000000000Z-deadbeef"
    old = to_table(IMAGES, [image_row("a" * 64, date=OLD)])
    storage.write_table_atomic(
        tagged(old, "before"), keyed_partition_path(root, "images", "shibuya", OLD)
    )
    new = to_table(IMAGES, [image_row("b" * 64, date=OLD), image_row("c" * 64, date=OLD)])
    files = {}
    for contract, table in ((IMAGES, new), (DETECTIONS, to_table(DETECTIONS, []))):
        files[contract.name] = commit_copy_path(root, publish_id, contract.name, "shibuya", OLD)
        storage.write_table_atomic(tagged(table, publish_id), files[contract.name])
    intent = Intent(publish_id, "shibuya", OLD.isoformat(), files, "2026-10-01T00:00:00+00:00")
    storage.write_bytes_atomic(intent.to_json(), intent_path(root, "shibuya", OLD))
    return publish_id, new


def test_an_interrupted_publish_is_rolled_forward_first(config) -> None:
    root = config.data_root
    publish_id, new = _interrupted_publish(config)
    orphan = _put(
        commit_copy_path(root, "20261001T000000000000Z-0rphan00", "images", "brooklyn", OLD),
        DAYS_40,
    )

    dry = collect_garbage(config, timedelta(days=30), dry_run=True)
    assert [p.publish_id for p in dry.recovered] == [publish_id]
    assert storage.exists(intent_path(root, "shibuya", OLD))  # not on a dry run
    assert [(r.kind, r.files) for r in dry.removed] == [(COMMIT_COPIES, (orphan,))]

    done = collect_garbage(config, timedelta(days=30))
    assert [(p.publish_id, p.tables) for p in done.recovered] == [
        (publish_id, ("detections", "images"))
    ]
    assert _listed(done) == _listed(dry)
    published = storage.read_table(keyed_partition_path(root, "images", "shibuya", OLD))
    assert publish_id_of(published) == publish_id and published.num_rows == new.num_rows
    assert storage.exists(keyed_partition_path(root, "detections", "shibuya", OLD))
    assert not storage.exists(intent_path(root, "shibuya", OLD))
    assert storage.list_files(join(root, "staging", "commits")) == []


def test_a_publish_under_way_is_left_to_its_run(config) -> None:
    publish_id, _ = _interrupted_publish(config)
    lock = DayLock(config.data_root, "shibuya", OLD, "run-1", ttl=timedelta(hours=1), wait_s=0)
    lock.acquire("publish")
    report = collect_garbage(config, timedelta(days=30))
    assert report.recovered == [] and [p.publish_id for p in report.in_progress] == [publish_id]
    assert storage.exists(intent_path(config.data_root, "shibuya", OLD))
    assert report.removed == []  # nor are the copies it names


def test_the_data_docs_index_still_builds_after_gc(config) -> None:
    """Old runs' pages and results go together; the next validation rebuilds a whole index."""
    table = to_table(IMAGES, [image_row("a" * 64, width=9, height=9)])
    docs = Path(config.data_root) / "quality" / "gx"
    ctx = SuiteContext(location="shibuya", key="2026-11-01")
    validate_partition(config, IMAGES, table, ctx, area="staging")
    old = int((datetime.now(UTC) - DAYS_40).timestamp())
    for path in [*docs.rglob("*"), *(Path(config.data_root) / "quality" / "results").rglob("*")]:
        if path.is_file():
            os.utime(path, (old, old))
    report = collect_garbage(config, timedelta(days=30))
    assert [r.kind for r in report.removed] == [DATA_DOCS]  # latest.json and its run stay
    assert not list((docs / "docs" / "validations").rglob("*.html"))

    ctx = SuiteContext(location="shibuya", key="2026-11-02")
    assert validate_partition(config, IMAGES, table, ctx, area="staging").success
    index = (docs / "docs" / "index.html").read_text()
    assert "2026-11-02" in index and "shibuya_2026-11-01" not in index


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        (" 7d ", timedelta(days=7)),
        ("30", ValueError),
        ("1w", ValueError),
        ("0d", ValueError),
        ("-1d", ValueError),
        ("1.5d", ValueError),
    ],
)
def test_parse_age(text: str, expected: timedelta | type[Exception]) -> None:
    if isinstance(expected, timedelta):
        assert parse_age(text) == expected
    else:
        with pytest.raises(expected, match="30d, 12h or 90m"):
            parse_age(text)


def test_cli_gc_dry_run_and_recover(config, capsys) -> None:
    root = config.data_root
    _tree(config)
    publish_id, _ = _interrupted_publish(config)
    before = _snapshot(root)

    assert main(["gc", "--older-than", "30d", "--dry-run", "--data-dir", root]) == 0
    out = capsys.readouterr().out
    assert _snapshot(root) == before
    assert "dry run, nothing removed" in out
    assert f"would finish publish {publish_id} of shibuya {OLD} (detections, images)" in out
    staged = join(root, "staging", "images", "location=shibuya", f"date={OLD}")
    assert f"would remove  {STAGING:<18}  {staged}  (2 files, 20 B)" in out
    assert "total: would remove 7 files, 70 B" in out

    with pytest.raises(SystemExit):
        main(["gc", "--older-than", "1w", "--data-dir", root])
    assert "30d, 12h or 90m" in capsys.readouterr().err

    assert main(["recover", "--location", "shibuya", "--data-dir", root]) == 0
    assert capsys.readouterr().out == (
        f"finished publish {publish_id} of shibuya {OLD} (detections, images)\n"
    )
    published = storage.read_table(keyed_partition_path(root, "images", "shibuya", OLD))
    assert publish_id_of(published) == publish_id
    assert not storage.exists(intent_path(root, "shibuya", OLD))
    assert all(storage.exists(p) for p in before if "/commits/" not in p)  # nothing else
    assert main(["recover", "--data-dir", root]) == 0
    assert capsys.readouterr().out == "no interrupted publish\n"


@pytest.fixture
def s3_config(config, monkeypatch):
    """``config`` with its data root in a bucket of a moto S3 server on localhost."""
    for var, value in CREDENTIALS.items():
        monkeypatch.setenv(var, value)
    with moto_server() as endpoint:
        storage.configure(endpoint, "us-east-1")
        storage._client().create_bucket(Bucket="lake")
        yield config.model_copy(
            update={
                "data_dir": "s3://lake/trendscope",
                "storage": config.storage.model_copy(update={"endpoint_url": endpoint}),
            }
        )
    storage.configure(None, None)


def test_gc_on_s3(s3_config) -> None:
    """The same rules by S3's LastModified: objects written 3 s apart, a limit of 2 s."""
    root, q = s3_config.data_root, join(s3_config.data_root, "quality")
    results = join(q, "results", "images", "location=shibuya", f"date={OLD}")
    write = lambda path: storage.write_bytes_atomic(b"x" * 10, path)  # noqa: E731
    old = [
        *[
            write(keyed_partition_path(root, t, "shibuya", OLD, area="staging"))
            for t in ("images", "detections")
        ],
        write(f"{results}/20261001T000000000000Z.json"),
    ]
    kept = [
        write(keyed_partition_path(root, "images", "shibuya", OLD)),
        write(join(root, "runs", "location=shibuya", f"date={OLD}", "a-ingest-1.parquet")),
        write(f"{results}/20261002T000000000000Z.json"),
        write(f"{results}/latest.json"),
    ]
    time.sleep(3)
    kept.append(write(keyed_partition_path(root, "images", "brooklyn", FRESH, area="staging")))
    now = datetime.now(UTC)

    dry = collect_garbage(s3_config, timedelta(seconds=2), dry_run=True, now=now)
    assert sorted(f for r in dry.removed for f in r.files) == sorted(old)
    assert all(storage.exists(p) for p in old + kept)
    done = collect_garbage(s3_config, timedelta(seconds=2), now=now)
    assert _listed(done) == _listed(dry)
    assert [p for p in old + kept if storage.exists(p)] == kept
