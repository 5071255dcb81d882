"""SQL over the published tables: one DuckDB view per table, Hive partitions as columns.

``images``, ``detections`` and ``trends_daily`` are partitioned by ``location`` and ``date``;
``trends_weekly`` and ``trends_monthly`` by ``location`` and ``period``. A table without any
published partition yet gets no view (a query naming it fails with DuckDB's "does not exist").
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from trendscope.tables import storage
from trendscope.tables.paths import join, table_glob
from trendscope.tables.schemas import (
    DETECTIONS,
    IMAGES,
    TRENDS_DAILY,
    TRENDS_MONTHLY,
    TRENDS_WEEKLY,
)
from trendscope.trends.rollups import period_table_glob

DAILY_TABLES = (IMAGES.name, DETECTIONS.name, TRENDS_DAILY.name)
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
    for name, glob in table_globs(data_root).items():
        if not storage.list_files(join(data_root, "tables", name), limit=1):
            continue
        con.execute(
            f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet('
            f"{_quote(glob)}, hive_partitioning = true, union_by_name = true)"
        )
    return con


def run_query(data_root: str, sql: str) -> pa.Table:
    """Run ``sql`` against the published tables and return the result as an Arrow table."""
    con = connect(data_root)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
