"""SQL over the published tables: one DuckDB view per table, Hive partitions as columns.

``images``, ``detections``, ``trends_daily`` and ``engagement`` are partitioned by ``location``
and ``date`` (so are ``colors`` and ``tags``);
``trends_weekly`` and ``trends_monthly`` by ``location`` and ``period``. A table without any
published partition yet gets no view (a query naming it fails with DuckDB's "does not exist").
A location-day whose publish is under way or was interrupted is read from that publish's
complete new version (:mod:`trendscope.tables.commit`), never half old and half new.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from trendscope.tables import storage
from trendscope.tables.commit import pending_intents
from trendscope.tables.paths import PARTITION_FILE, join, table_glob
from trendscope.tables.schemas import (
    COLORS,
    DETECTIONS,
    ENGAGEMENT,
    IMAGES,
    TAGS,
    TRENDS_DAILY,
    TRENDS_MONTHLY,
    TRENDS_WEEKLY,
)
from trendscope.trends.rollups import period_table_glob

DAILY_TABLES = (IMAGES.name, DETECTIONS.name, TRENDS_DAILY.name, ENGAGEMENT.name)
DAILY_TABLES += (COLORS.name, TAGS.name)
PERIOD_TABLES = (TRENDS_WEEKLY.name, TRENDS_MONTHLY.name)


def table_globs(data_root: str) -> dict[str, str]:
    """The ``read_parquet`` glob of every published table."""
    globs = {name: table_glob(data_root, name) for name in DAILY_TABLES}
    globs |= {name: period_table_glob(data_root, name) for name in PERIOD_TABLES}
    return globs


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(data_root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per published table that has data.

    Args:
        data_root: The data root holding ``tables/``.

    Returns:
        The connection; the caller closes it.
    """
    con = duckdb.connect()
    pending = pending_intents(data_root)
    for name, glob in table_globs(data_root).items():
        if not storage.list_files(join(data_root, "tables", name), limit=1):
            continue
        source = _quote(glob)
        replaced = {(i.location, i.key): i.files[name] for i in pending if name in i.files}
        if replaced:  # a publish is under way or was interrupted: read its complete new version
            source = (
                "[" + ", ".join(_quote(f) for f in _files_with(data_root, name, replaced)) + "]"
            )
        con.execute(
            f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet('
            f"{source}, hive_partitioning = true, union_by_name = true)"
        )
    return con


def _files_with(data_root: str, table: str, replaced: dict[tuple[str, str], str]) -> list[str]:
    """The table's partition files, with those of pending publishes swapped for their copies."""
    files = []
    for path in storage.list_files(join(data_root, "tables", table)):
        parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
        key = (parts.get("location", ""), parts.get("date") or parts.get("period", ""))
        if path.endswith(PARTITION_FILE) and key not in replaced:
            files.append(path)
    return sorted(files) + sorted(replaced.values())


def run_query(data_root: str, sql: str) -> pa.Table:
    """Run ``sql`` against the published tables and return the result as an Arrow table."""
    con = connect(data_root)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
