"""Run a DAG through Airflow in-process, one run per day (``make run``), no server needed.

Uses ``DAG.test`` against the SQLite metadata DB under ``AIRFLOW_HOME``; every task runs in this
process, so models load once and are reused across days. Each daily run triggers a
``trendscope_rollup`` run for its day; ``--rollup`` runs those after the daily runs
(``--rollup-each-day``: after every daily run, as the scheduler would); ``--dates`` runs days in
any order.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from trendscope.cli import print_period_trends, print_status, print_trends
from trendscope.cli.insights import print_colour_trends, print_engagement_summary
from trendscope.config import TrendscopeConfig, load_config
from trendscope.orchestration.dag_settings import ROLLUP_DAG_ID
from trendscope.tables import storage

log = logging.getLogger(__name__)


def _dag(dag_id: str, dags_folder: str):
    import os

    from airflow.dag_processing.dagbag import DagBag

    # No scheduler runs here to send a deadline alert, and Airflow 3.3.2's DAG.test fails a run
    # whose DAG has one (it looks the serialized alert up as a database id): leave it out.
    os.environ["TRENDSCOPE__ALERTS__ON_DEADLINE"] = "false"

    bag = DagBag(dag_folder=dags_folder)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"DAG {dag_id!r} not found in {dags_folder}")
    return dag


def _queued_rollups() -> list[tuple[datetime, dict]]:
    """(logical date, conf) of the ``trendscope_rollup`` runs the daily runs triggered, oldest first.

    In a deployment the scheduler starts them; ``DAG.test`` does not, so they wait as queued.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with settings.Session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == ROLLUP_DAG_ID, DagRun.state == DagRunState.QUEUED)
            .order_by(DagRun.run_after, DagRun.id)
        ).all()
        return [(r.logical_date, dict(r.conf or {})) for r in runs]


def run_rollup(dags_folder: str) -> str:
    """Run the queued ``trendscope_rollup`` runs, one at a time, as the scheduler would.

    ``DAG.test`` replaces a queued run with the same logical date by a running one with the
    same conf, so each triggered run is the one that runs.
    """
    queued = _queued_rollups()
    if not queued:
        return "skipped (no rollup run triggered)"
    dag = _dag(ROLLUP_DAG_ID, dags_folder)
    states = []
    for logical, conf in queued:
        log.info("running %s for %s", ROLLUP_DAG_ID, conf)
        run = dag.test(logical_date=logical, run_conf=conf)
        states.append(str(getattr(run, "state", run)))
    failed = [s for s in states if not _ok(s)]
    return failed[0] if failed else states[-1]


def run_day(dag, day: date) -> str:
    """Run ``dag`` for ``day`` (logical date = that day 00:00 UTC); return the run's state."""
    logical = datetime(day.year, day.month, day.day, tzinfo=UTC)
    log.info("running %s for %s", dag.dag_id, day)
    run = dag.test(logical_date=logical)
    state = str(getattr(run, "state", run))
    log.info("%s %s: %s", dag.dag_id, day, state)
    return state


def run_days(
    dag_id: str, days: Sequence[date], dags_folder: str, *, rollup_each_day: bool = False
) -> list[tuple[str, date, str]]:
    """Run ``dag_id`` once per day, in the order given; return ``(dag_id, day, state)`` per run.

    With ``rollup_each_day``, ``trendscope_rollup`` runs after every daily run on its events,
    as the scheduler would start it (one rollup run at a time).
    """
    dag = _dag(dag_id, dags_folder)
    runs = []
    for day in days:
        runs.append((dag_id, day, run_day(dag, day)))
        if rollup_each_day:
            runs.append((ROLLUP_DAG_ID, day, run_rollup(dags_folder)))
    return runs


def print_rising(config: TrendscopeConfig, days: Sequence[date]) -> None:
    """Every label-day flagged rising or falling over ``days``, for all locations."""
    from trendscope.display import format_rows
    from trendscope.orchestration.alerts import read_trends_day

    cols = [
        "location",
        "date",
        "trend",
        "kind",
        "label",
        "fine_label",
        "share",
        "expected_share",
        "authors",
        "top_author_share",
        "p_adjusted",
    ]
    rows = [
        r
        for day in days
        for r in read_trends_day(config, day, columns=cols)
        if r["trend"] in ("rising", "falling")
    ]
    rows.sort(
        key=lambda r: (r["location"], r["date"], r["trend"] != "rising", r["kind"], r["label"])
    )
    print(f"\nRising and falling, {days[0]} to {days[-1]} (vs each day's trailing baseline)")
    print(format_rows(rows, cols) if rows else "(nothing significant)")


def _week_path(config: TrendscopeConfig, location: str, day: date) -> str:
    from trendscope.tables.paths import period_partition_path
    from trendscope.trends.calendar import period_key

    return period_partition_path(
        config.data_root, "trends_weekly", location, period_key(day, "week")
    )


def print_summary(config: TrendscopeConfig, days: Sequence[date]) -> None:
    """The last day's trend tables, the period's rising/falling labels, the last day's colours and
    engagement lifts, the status grid, and where the tables are."""
    from trendscope.pipeline.status import status_grid

    for slug in config.location_slugs:
        print_trends(config, slug, days[-1], top=12)
        if storage.exists(_week_path(config, slug, days[-1])):
            print_period_trends(config, slug, days[-1], "week", top=8)
    print_rising(config, days)
    print_colour_trends(config, days[-1])
    print_engagement_summary(config, days[-1])
    print()
    print_status(status_grid(config, min(days), max(days)), config.data_root)
    print(
        f"\nTables: {config.data_root}/tables/<table>/location=<slug>/date=<YYYY-MM-DD>/data.parquet"
    )


def _ok(state: str) -> bool:
    return state.endswith("success") or state.startswith("skipped")


def _dates(text: str) -> list[date]:
    return [date.fromisoformat(d.strip()) for d in text.split(",") if d.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag-id", default="trendscope_daily")
    parser.add_argument("--dags-folder", default="dags")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: start_date)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument(
        "--dates", type=_dates, help="run these days in this order (D1,D2,...) instead"
    )
    parser.add_argument("--show-trends", action="store_true", help="print the last day's trends")
    parser.add_argument("--report-only", action="store_true", help="print the trends, run nothing")
    parser.add_argument(
        "--rollup", action="store_true", help="then run trendscope_rollup on the runs' events"
    )
    parser.add_argument(
        "--rollup-each-day",
        action="store_true",
        help="run trendscope_rollup after every daily run, as the scheduler would",
    )
    args = parser.parse_args(argv)
    config = load_config()
    start = args.start or config.start_date
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    days = args.dates or [start + timedelta(days=i) for i in range(args.days)]
    if args.report_only:
        print_summary(config, sorted(days))
        return 0
    runs = run_days(args.dag_id, days, args.dags_folder, rollup_each_day=args.rollup_each_day)
    if args.rollup:  # the days that did publish still roll up
        runs.append((ROLLUP_DAG_ID, days[-1], run_rollup(args.dags_folder)))
    failed = [(dag_id, d) for dag_id, d, state in runs if not _ok(state)]
    for dag_id, d, state in runs:
        print(f"{dag_id} {d}: {state}")
    if args.show_trends and not failed:
        print_summary(config, sorted(days))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
