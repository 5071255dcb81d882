"""Run a DAG through Airflow in-process, one run per day (``make run``), no server needed.

Uses ``DAG.test`` against the SQLite metadata DB under ``AIRFLOW_HOME``; every task runs in this
process, so models load once and are reused across days.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from trendscope.cli import print_period_trends, print_trends
from trendscope.config import TrendscopeConfig, load_config
from trendscope.tables import storage

log = logging.getLogger(__name__)


def _dag(dag_id: str, dags_folder: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"DAG {dag_id!r} not found in {dags_folder}")
    return dag


def run_rollup(day: date, dags_folder: str) -> str:
    """Run ``trendscope_rollup`` once for the week and month of ``day`` (as a manual trigger).

    In a deployment the scheduler starts it from the ``trends_daily`` asset events; ``DAG.test``
    runs one DAG at a time, so the local run triggers it explicitly.
    """
    run = _dag("trendscope_rollup", dags_folder).test(
        logical_date=None, run_conf={"date": day.isoformat()}
    )
    return str(getattr(run, "state", run))


def run_days(dag_id: str, days: Sequence[date], dags_folder: str) -> dict[date, str]:
    """Run ``dag_id`` once per day (logical date = that day 12:00 UTC); return each run's state."""
    dag = _dag(dag_id, dags_folder)
    states: dict[date, str] = {}
    for day in days:
        logical = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        log.info("running %s for %s", dag_id, day)
        run = dag.test(logical_date=logical)
        states[day] = str(getattr(run, "state", run))
        log.info("%s %s: %s", dag_id, day, states[day])
    return states


def print_rising(config: TrendscopeConfig, days: Sequence[date]) -> None:
    """Every label-day flagged rising or falling over ``days``, for all locations."""
    from trendscope.display import format_rows
    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import TRENDS_DAILY

    rows = []
    for slug in config.location_slugs:
        for day in days:
            path = partition_path(config.data_root, TRENDS_DAILY.name, slug, day)
            if storage.exists(path):
                rows += [
                    r
                    for r in storage.read_table(path).to_pylist()
                    if r["trend"] in ("rising", "falling")
                ]
    rows.sort(
        key=lambda r: (r["location"], r["date"], r["trend"] != "rising", r["kind"], r["label"])
    )
    cols = [
        "location",
        "date",
        "trend",
        "kind",
        "label",
        "fine_label",
        "share",
        "baseline_share",
        "lift",
        "p_adjusted",
    ]
    print(f"\nRising and falling, {days[0]} to {days[-1]} (vs each day's trailing baseline)")
    print(format_rows(rows, cols) if rows else "(nothing significant)")


def _week_path(config: TrendscopeConfig, location: str, day: date) -> str:
    from trendscope.tables.paths import period_partition_path
    from trendscope.trends.calendar import period_key

    return period_partition_path(
        config.data_root, "trends_weekly", location, period_key(day, "week")
    )


def print_summary(config: TrendscopeConfig, days: Sequence[date]) -> None:
    """The last day's trend tables, the period's rising/falling labels, and where the tables are."""
    for slug in config.location_slugs:
        print_trends(config, slug, days[-1], top=12)
        if storage.exists(_week_path(config, slug, days[-1])):
            print_period_trends(config, slug, days[-1], "week", top=8)
    print_rising(config, days)
    print(
        f"\nTables: {config.data_root}/tables/<table>/location=<slug>/date=<YYYY-MM-DD>/data.parquet"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag-id", default="trendscope_daily")
    parser.add_argument("--dags-folder", default="dags")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: start_date)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--show-trends", action="store_true", help="print the last day's trends")
    parser.add_argument("--report-only", action="store_true", help="print the trends, run nothing")
    parser.add_argument(
        "--rollup", action="store_true", help="then run trendscope_rollup for the last day"
    )
    args = parser.parse_args(argv)
    config = load_config()
    start = args.start or config.start_date
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    days = [start + timedelta(days=i) for i in range(args.days)]
    if args.report_only:
        print_summary(config, days)
        return 0
    states = run_days(args.dag_id, days, args.dags_folder)
    failed = [d for d, s in states.items() if not s.endswith("success")]
    for d, s in states.items():
        print(f"{args.dag_id} {d}: {s}")
    if args.rollup and not failed:
        state = run_rollup(days[-1], args.dags_folder)
        print(f"trendscope_rollup {days[-1]}: {state}")
        if not state.endswith("success"):
            failed.append(days[-1])
    if args.show_trends and not failed:
        print_summary(config, days)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
