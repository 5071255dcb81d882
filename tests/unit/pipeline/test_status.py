"""The status of location-days on a real data root: published, failed, stale, staging, missing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline_days import DAY1, DAY2, DAY3, drop_photos, fail_publish, make_config
from trendscope.config import ConfigError
from trendscope.photos import sample_photo_path
from trendscope.pipeline.run import run_day, run_step
from trendscope.pipeline.status import (
    FAILED,
    LEGEND,
    MISSING,
    PUBLISHED,
    STAGING,
    STALE,
    STATES,
    open_failures,
    status_grid,
    status_range,
)
from trendscope.tables import storage
from trendscope.tables.paths import partition_path

EXPECTED = {
    ("shibuya", DAY1): PUBLISHED,
    ("shibuya", DAY2): STAGING,  # ingested, never analyzed
    ("shibuya", DAY3): STALE,  # a photo edited after the publish
    ("brooklyn", DAY1): FAILED,  # published before it was analyzed
    ("brooklyn", DAY2): MISSING,  # photos in the drop zone, never run
    ("brooklyn", DAY3): PUBLISHED,
}


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Three days of two locations in every state, from real step runs."""
    config = make_config(tmp_path_factory.mktemp("status"))
    photos = {
        (location, day): drop_photos(config, location, day)
        for location in ("shibuya", "brooklyn")
        for day in (DAY1, DAY2, DAY3)
    }
    run_day(config, "shibuya", DAY1, run_id="manual__1")
    run_step(config, "ingest", "shibuya", DAY2)
    run_day(config, "shibuya", DAY3)
    edited = photos[("shibuya", DAY3)][0]
    edited.write_bytes(edited.read_bytes())  # edited in place after the publish
    published = storage.modified_time(partition_path(config.data_root, "images", "shibuya", DAY3))
    later = (published + timedelta(minutes=5)).timestamp()
    os.utime(edited, (later, later))
    fail_publish(config, "brooklyn", DAY1, run_id="scheduled__2026-11-02T00:00:00+00:00")
    run_day(config, "brooklyn", DAY3)
    return config


def test_every_state_from_real_runs(week) -> None:
    grid = status_grid(week, DAY1, DAY3)
    assert grid.locations == ["shibuya", "brooklyn"] and grid.days == [DAY1, DAY2, DAY3]
    assert {(c.location, c.date): c.state for c in grid.cells} == EXPECTED
    assert grid.counts() == {PUBLISHED: 2, FAILED: 1, STALE: 1, STAGING: 1, MISSING: 1}
    assert not grid.ok
    assert set(LEGEND) == set(STATES)


def test_a_failed_day_names_the_step_and_error_and_the_other_location_is_published(week) -> None:
    grid = status_grid(week, DAY1, DAY1)
    failed, published = grid.cell("brooklyn", DAY1), grid.cell("shibuya", DAY1)
    assert published.state == PUBLISHED and published.attempts == 4
    assert published.tables == ("images", "detections", "trends_daily")
    assert failed.state == FAILED and failed.staged  # its ingest output waits in staging
    (f,) = failed.failures
    assert f.step == "publish" and f.shard is None
    assert f.run_id == "scheduled__2026-11-02T00:00:00+00:00"
    assert f.error.startswith("IncompleteStagingError: analysis of brooklyn 2026-11-02 is missing")
    assert failed.detail.startswith("publish failed at ")
    assert "IncompleteStagingError" in failed.detail


def test_stale_counts_the_changed_files(week) -> None:
    cell = status_grid(week, DAY3, DAY3, ["shibuya"]).cell("shibuya", DAY3)
    assert (cell.state, cell.source_newer, cell.source_unpublished) == (STALE, 1, 0)
    assert cell.source_newest > cell.published_at
    assert "1 source file(s) changed after the publish" in cell.detail


def test_a_new_file_with_an_old_time_is_stale_too(week) -> None:
    added = os.path.join(week.source_root, "brooklyn", DAY3.isoformat(), "late.jpg")
    shutil.copy2(sample_photo_path("astronaut"), added)  # keeps the package file's old mtime
    try:
        cell = status_grid(week, DAY3, DAY3, ["brooklyn"]).cell("brooklyn", DAY3)
    finally:
        os.remove(added)
    assert (cell.state, cell.source_newer, cell.source_unpublished) == (STALE, 0, 1)
    assert status_grid(week, DAY3, DAY3, ["brooklyn"]).ok


def test_one_location_and_an_unknown_one(week) -> None:
    grid = status_grid(week, DAY1, DAY3, ["brooklyn"])
    assert [c.state for c in grid.cells] == [FAILED, MISSING, PUBLISHED]
    with pytest.raises(ConfigError, match="location 'paris' is not configured"):
        status_grid(week, DAY1, DAY3, ["paris"])


def test_to_dict_holds_every_cell(week) -> None:
    data = status_grid(week, DAY1, DAY3).to_dict()
    assert (data["from"], data["to"], data["ok"]) == ("2026-11-02", "2026-11-04", False)
    cells = {(c["location"], c["date"]): c for c in data["cells"]}
    assert {k: c["state"] for k, c in cells.items()} == {
        (loc, day.isoformat()): state for (loc, day), state in EXPECTED.items()
    }
    failure = cells[("brooklyn", "2026-11-02")]["failures"][0]
    assert failure["step"] == "publish" and failure["error"].startswith("IncompleteStagingError")
    datetime.fromisoformat(failure["started_at"])


def _attempt(step: str, status: str, minute: int, shard: str | None = None) -> dict:
    at = datetime(2026, 11, 3, 1, minute, tzinfo=UTC)
    return {
        "step": step,
        "shard": shard,
        "status": status,
        "started_at": at,
        "ended_at": at + timedelta(seconds=30),
        "error": "boom" if status == "failed" else None,
        "run_id": None,
        "attempt_id": f"{step}{minute}",
    }


PUBLISH_AT = datetime(2026, 11, 3, 1, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "published_at", "open_steps"),
    [
        ([_attempt("publish", "failed", 1)], None, ["publish"]),
        ([_attempt("publish", "failed", 1), _attempt("publish", "success", 2)], None, []),
        # a retry of shard 0 does not clear shard 1
        (
            [
                _attempt("analyze", "failed", 1, "0/2"),
                _attempt("analyze", "failed", 2, "1/2"),
                _attempt("analyze", "success", 3, "0/2"),
            ],
            None,
            ["analyze 1/2"],
        ),
        ([_attempt("trends", "failed", 10)], PUBLISH_AT, []),  # published after the failure
        ([_attempt("trends", "failed", 30)], PUBLISH_AT, ["trends"]),  # failed after it
        (
            [_attempt("ingest", "failed", 1), _attempt("publish", "failed", 5)],
            None,
            ["publish", "ingest"],  # newest first
        ),
    ],
)
def test_open_failures(attempts, published_at, open_steps) -> None:
    found = open_failures(attempts, published_at)
    assert [f"{f.step} {f.shard}" if f.shard else f.step for f in found] == open_steps


@pytest.mark.parametrize(
    ("start", "end", "today", "expected"),
    [
        (None, None, date(2026, 12, 2), (date(2026, 11, 18), date(2026, 12, 1))),
        (None, None, date(2026, 11, 6), (date(2026, 11, 2), date(2026, 11, 5))),  # start_date
        (date(2026, 11, 20), None, date(2026, 12, 2), (date(2026, 11, 20), date(2026, 12, 1))),
        (None, date(2026, 11, 8), date(2026, 12, 2), (date(2026, 11, 2), date(2026, 11, 8))),
        (
            date(2026, 10, 1),
            date(2026, 10, 3),
            date(2026, 12, 2),
            (date(2026, 10, 1), date(2026, 10, 3)),
        ),
    ],
)
def test_status_range(config, start, end, today, expected) -> None:
    assert config.start_date == date(2026, 11, 2)
    assert status_range(config, start, end, today) == expected


@pytest.mark.parametrize(
    ("start", "end", "today", "match"),
    [
        (date(2026, 11, 8), date(2026, 11, 2), None, r"ends \(2026-11-02\) before it starts"),
        (None, None, date(2026, 11, 2), r"start_date \(2026-11-02\) is after 2026-11-01"),
    ],
)
def test_status_range_errors(config, start, end, today, match) -> None:
    with pytest.raises(ValueError, match=match):
        status_range(config, start, end, today)
