"""Where each location-day stands: published, failed, stale, in staging or missing.

Read from what is on the data root (published and staged partitions, the ``runs`` table) and
the source (its files' modification times), never from Airflow, so ``trendscope status``, the
HTML report and a monitor see the same answer whatever ran the steps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.ingest.dropzone import Post, discover_posts
from trendscope.ingest.sources import discover
from trendscope.pipeline.runs import read_runs
from trendscope.pipeline.shards import analysis_dir
from trendscope.tables import storage
from trendscope.tables.commit import read_intent
from trendscope.tables.paths import partition_dir, partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES, RUN_FAILED, TRENDS_DAILY

PUBLISHED = "published"
FAILED = "failed"
STALE = "stale"
STAGING = "staging"
MISSING = "missing"
STATES = (PUBLISHED, FAILED, STALE, STAGING, MISSING)

LEGEND = {
    PUBLISHED: "images, detections and trends_daily are published and the source has nothing newer",
    FAILED: "a step's latest attempt failed and the day was not published after it",
    STALE: "published, but the source has files newer than the publish (or not in it): re-run it",
    STAGING: "in the pipeline: staged, published without all three tables yet, or a publish "
    "cut short (`trendscope recover` finishes it)",
    MISSING: "nothing published or staged, and no failed attempt",
}
"""One line per state, for people reading the grid."""

PUBLISHED_TABLES = (IMAGES.name, DETECTIONS.name, TRENDS_DAILY.name)
DEFAULT_DAYS = 14


@dataclass(frozen=True)
class Failure:
    """A step (and shard) whose latest attempt failed."""

    step: str
    shard: str | None
    started_at: datetime
    ended_at: datetime
    error: str | None
    run_id: str | None
    attempt_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "shard": self.shard,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "error": self.error,
            "run_id": self.run_id,
            "attempt_id": self.attempt_id,
        }


@dataclass(frozen=True)
class DayStatus:
    """The state of one location-day, and what it was judged from."""

    location: str
    date: date
    state: str
    published_at: datetime | None = None  # when its images partition was last written
    tables: tuple[str, ...] = ()  # which of PUBLISHED_TABLES are published
    staged: bool = False
    failures: tuple[Failure, ...] = ()  # open failures, newest first
    attempts: int = 0  # attempts recorded in the runs table
    source_newer: int = 0  # source files modified after the publish
    source_unpublished: int = 0  # source files not among the published images
    source_newest: datetime | None = None

    @property
    def detail(self) -> str:
        """One line saying why the day has its state."""
        if self.state == FAILED:
            f = self.failures[0]
            shard = f" shard {f.shard}" if f.shard else ""
            return f"{f.step}{shard} failed at {_when(f.started_at)}: {f.error or '?'}"
        if self.state == STALE:
            parts = []
            if self.source_newer:
                parts.append(f"{self.source_newer} source file(s) changed after the publish")
            if self.source_unpublished:
                parts.append(
                    f"{self.source_unpublished} source file(s) not in the published images"
                )
            return f"{', '.join(parts)} (published {_when(self.published_at)})"
        if self.state == PUBLISHED:
            return f"published {_when(self.published_at)}"
        if self.state == STAGING:
            if self.tables:
                missing = [t for t in PUBLISHED_TABLES if t not in self.tables]
                return f"{', '.join(self.tables)} published; not yet {', '.join(missing)}"
            return "staged, not published yet"
        return "nothing staged or published"

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "date": self.date.isoformat(),
            "state": self.state,
            "detail": self.detail,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "tables": list(self.tables),
            "staged": self.staged,
            "attempts": self.attempts,
            "failures": [f.to_dict() for f in self.failures],
            "source_newer": self.source_newer,
            "source_unpublished": self.source_unpublished,
            "source_newest": self.source_newest.isoformat() if self.source_newest else None,
        }


@dataclass(frozen=True)
class StatusGrid:
    """Every location-day of a range; ``ok`` when all are published and fresh."""

    start: date
    end: date
    locations: list[str]
    cells: list[DayStatus] = field(default_factory=list)

    @property
    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    @property
    def ok(self) -> bool:
        return all(c.state == PUBLISHED for c in self.cells)

    def cell(self, location: str, day: date) -> DayStatus:
        return next(c for c in self.cells if c.location == location and c.date == day)

    def counts(self) -> dict[str, int]:
        """How many location-days are in each state (every state listed)."""
        found = Counter(c.state for c in self.cells)
        return {s: found.get(s, 0) for s in STATES}

    def in_state(self, state: str) -> list[DayStatus]:
        return [c for c in self.cells if c.state == state]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "locations": self.locations,
            "ok": self.ok,
            "counts": self.counts(),
            "legend": LEGEND,
            "cells": [c.to_dict() for c in self.cells],
        }


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def status_range(
    config: TrendscopeConfig,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
) -> tuple[date, date]:
    """The range to show: by default the last :data:`DEFAULT_DAYS` days up to yesterday (UTC),
    not before ``start_date``; a bound given is kept as given.

    Raises:
        ValueError: The range ends before it starts.
    """
    yesterday = (today or datetime.now(UTC).date()) - timedelta(days=1)
    if end is None:
        end = max(start, yesterday) if start else yesterday
    if start is None:
        start = max(end - timedelta(days=DEFAULT_DAYS - 1), config.start_date)
        if end < start:
            raise ValueError(
                f"no days to show: start_date ({config.start_date}) is after {end}; "
                "pass --from and --to"
            )
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return start, end


def open_failures(attempts: list[dict[str, Any]], published_at: datetime | None) -> list[Failure]:
    """Steps (and shards) whose latest attempt failed after the day was last published."""
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for a in sorted(attempts, key=lambda r: r["started_at"]):
        latest[(a["step"], a["shard"])] = a
    failed = [
        a
        for a in latest.values()
        if a["status"] == RUN_FAILED and (published_at is None or a["ended_at"] > published_at)
    ]
    return [
        Failure(
            a["step"],
            a["shard"],
            a["started_at"],
            a["ended_at"],
            a["error"],
            a["run_id"],
            a["attempt_id"],
        )
        for a in sorted(failed, key=lambda r: r["started_at"], reverse=True)
    ]


def _source_posts(config: TrendscopeConfig, location: str, day: date) -> list[Post] | None:
    """The source's posts of the day as ingest finds them, without fetching anything new;
    ``None`` when the source is not there to look at."""
    try:
        if config.source.type == "scraper":  # discover() would scrape; downloads are a drop zone
            return discover_posts(config.source_root, config.location(location), day)
        return discover(config, location, day, config.source_root)
    except FileNotFoundError:
        return None


def _modified(uri: str, listed: dict[str, datetime]) -> datetime | None:
    if uri in listed:
        return listed[uri]
    try:
        return storage.modified_time(uri)
    except FileNotFoundError:
        return None


def day_status(
    config: TrendscopeConfig,
    location: str,
    day: date,
    source_files: dict[str, datetime] | None = None,
) -> DayStatus:
    """The state of one location-day (see :data:`LEGEND`).

    Args:
        config: The config.
        location: Location slug.
        day: The day.
        source_files: Source files with their modification times, from one listing of the
            source (:func:`~trendscope.tables.storage.list_modified`); others are looked up.
    """
    root = config.data_root
    images_path = partition_path(root, IMAGES.name, location, day)
    tables = tuple(
        t for t in PUBLISHED_TABLES if storage.exists(partition_path(root, t, location, day))
    )
    published_at = storage.modified_time(images_path) if IMAGES.name in tables else None
    attempts = read_runs(root, location, day)
    failures = tuple(open_failures(attempts, published_at))
    complete = len(tables) == len(PUBLISHED_TABLES)
    cell = DayStatus(
        location,
        day,
        MISSING,
        published_at=published_at,
        tables=tables,
        staged=_staged(root, location, day) if failures or not complete else False,
        failures=failures,
        attempts=len(attempts),
    )
    if failures:
        return replace(cell, state=FAILED)
    if read_intent(root, location, day) is not None:  # a publish under way, or interrupted
        return replace(cell, state=STAGING, staged=True)
    if not complete:
        return replace(cell, state=STAGING if cell.staged or tables else MISSING)
    assert published_at is not None
    posts = _source_posts(config, location, day)
    if posts is None:  # no source to compare with: what is published stands
        return replace(cell, state=PUBLISHED)
    listed = source_files or {}
    times = [t for p in posts if p.readable and (t := _modified(p.source_uri, listed))]
    uris = storage.read_table(images_path, columns=["source_uri"])["source_uri"].to_pylist()
    newer = sum(1 for t in times if t > published_at)
    unpublished = len({p.source_uri for p in posts} - set(uris))
    return replace(
        cell,
        state=STALE if newer or unpublished else PUBLISHED,
        source_newer=newer,
        source_unpublished=unpublished,
        source_newest=max(times, default=None),
    )


def _staged(root: str, location: str, day: date) -> bool:
    """Whether anything of the location-day waits in staging (partitions or analyze shards)."""
    folders = [partition_dir(root, t, location, day, area="staging") for t in PUBLISHED_TABLES]
    folders.append(analysis_dir(root, location, day))
    return any(storage.list_files(folder, limit=1) for folder in folders)


def status_grid(
    config: TrendscopeConfig,
    start: date,
    end: date,
    locations: list[str] | None = None,
) -> StatusGrid:
    """The state of every location-day from ``start`` to ``end`` (inclusive).

    Args:
        config: The config.
        start: First day.
        end: Last day.
        locations: Location slugs (default: every configured location).

    Raises:
        ConfigError: A location is not configured.
        ValueError: The range ends before it starts.
    """
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    storage.use(config.storage)
    slugs = list(locations) if locations else config.location_slugs
    for slug in slugs:
        config.location(slug)
    source = config.source_root
    # on object storage one listing gives every file's time (instead of a request per file)
    source_files = storage.list_modified(source) if storage.is_s3(source) else None
    cells = [
        day_status(config, loc, day, source_files)
        for loc in slugs
        for day in days_between(start, end)
    ]
    return StatusGrid(start, end, slugs, cells)
