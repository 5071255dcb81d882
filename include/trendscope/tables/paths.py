"""The one place that builds partition paths (Hive style ``location=<slug>/date=<YYYY-MM-DD>``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

Area = Literal["tables", "staging"]
PARTITION_FILE = "data.parquet"


def join(root: str, *parts: str) -> str:
    """Join path parts with '/' for local paths and URIs alike."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def partition_dir(root: str, table: str, location: str, day: date, area: Area = "tables") -> str:
    """Directory of one partition, e.g. ``<root>/tables/images/location=shibuya/date=2026-11-02``."""
    return join(root, area, table, f"location={location}", f"date={day.isoformat()}")


def partition_path(root: str, table: str, location: str, day: date, area: Area = "tables") -> str:
    """The single Parquet file that holds a partition."""
    return join(partition_dir(root, table, location, day, area), PARTITION_FILE)


def table_glob(root: str, table: str, area: Area = "tables") -> str:
    """A glob over every partition of a table (for DuckDB ``read_parquet``)."""
    return join(root, area, table, "location=*", "date=*", PARTITION_FILE)


def period_partition_path(
    root: str, table: str, location: str, period: str, area: Area = "tables"
) -> str:
    """The Parquet file of one (location, period) partition of a rollup table.

    Example: ``<root>/tables/trends_weekly/location=shibuya/period=2026-W45/data.parquet``.
    """
    return join(root, area, table, f"location={location}", f"period={period}", PARTITION_FILE)


def key_part(key: date | str) -> str:
    """The partition folder name of a day (``date=YYYY-MM-DD``) or a period (``period=...``)."""
    if isinstance(key, date):
        return f"date={key.isoformat()}"
    # not date.fromisoformat: it also reads "2026-W45" as a day
    return f"{'date' if _DAY.fullmatch(key) else 'period'}={key}"


def keyed_partition_path(
    root: str, table: str, location: str, key: date | str, area: Area = "tables"
) -> str:
    """The partition file for a day (a ``date`` or ``YYYY-MM-DD``) or a week/month period key."""
    return join(root, area, table, f"location={location}", key_part(key), PARTITION_FILE)


RUNS_AREA = "runs"
"""Beside ``tables/`` and ``staging/``: the runs table, one small file per step attempt."""


def runs_dir(root: str, location: str, day: date) -> str:
    """Folder of a location-day's step attempts: ``<root>/runs/location=<L>/date=<YYYY-MM-DD>``."""
    return join(root, RUNS_AREA, f"location={location}", f"date={day.isoformat()}")


def runs_path(
    root: str, location: str, day: date, started_at: datetime, step: str, attempt_id: str
) -> str:
    """The Parquet file of one step attempt; the attempt id keeps concurrent attempts apart.

    Example: ``<root>/runs/location=shibuya/date=2026-11-02/`` +
    ``20261103T011500123456Z-publish-<id>.parquet`` (``started_at`` in UTC, so the names sort
    in the order the attempts started).
    """
    started = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return join(runs_dir(root, location, day), f"{started}-{step}-{attempt_id}.parquet")


def runs_glob(root: str) -> str:
    """A glob over every attempt file of the runs table (for DuckDB ``read_parquet``)."""
    return join(root, RUNS_AREA, "location=*", "date=*", "*.parquet")
