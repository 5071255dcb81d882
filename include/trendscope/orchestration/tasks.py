"""What an Airflow task body calls: resolve the run's day, run one step, log a summary.

Kept free of Airflow imports so it is testable without a scheduler; the context is the plain
mapping Airflow passes to a task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig, load_config

log = logging.getLogger(__name__)


def partition_date(context: Mapping[str, Any]) -> date:
    """The day a DAG run processes.

    ``params.date`` (a manual trigger's choice) wins; otherwise the run's logical date in UTC,
    which for the daily timetable is the start of the day-long data interval; a run without a
    logical date processes the day before it ran.
    """
    params = context.get("params") or {}
    if params.get("date"):
        return date.fromisoformat(str(params["date"]))
    logical: datetime | None = context.get("logical_date")
    if logical is not None:
        return logical.date() if logical.tzinfo is None else logical.astimezone(UTC).date()
    run_after: datetime | None = getattr(context.get("dag_run"), "run_after", None)
    if run_after is None:
        raise ValueError("cannot tell the run's day: no params.date, logical_date or run_after")
    return (run_after - timedelta(days=1)).date()


def task_config() -> TrendscopeConfig:
    """The config inside a running task, with object-store credentials from its Airflow connection.

    The connection is looked up here, when the task runs, never while the DAG file is parsed.
    """
    config = load_config()
    conn_id = config.storage.aws_conn_id
    if conn_id:
        from airflow.sdk import BaseHook

        from trendscope.tables import storage

        conn = BaseHook.get_connection(conn_id)
        storage.set_credentials(
            conn.login or "",
            conn.password or "",
            (conn.extra_dejson or {}).get("aws_session_token"),
        )
    return config


@contextmanager
def failing_fast_on_bad_data() -> Iterator[None]:
    """A partition that failed its expectation suite fails the task without retries.

    Retrying would validate the same staged data again; the summary (which expectations failed
    on which columns) is the task's error, and the staged data waits for someone to look.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from trendscope.quality.gate import ValidationFailedError

    try:
        yield
    except ValidationFailedError as exc:
        raise AirflowFailException(str(exc)) from exc


def run_location_step(step: str, location: str, context: Mapping[str, Any]) -> str:
    """Run pipeline ``step`` for ``location`` on the run's day; return the location for mapping."""
    from trendscope.pipeline.run import run_step

    day = partition_date(context)
    with failing_fast_on_bad_data():
        result = run_step(task_config(), step, location, day, run_id=context.get("run_id"))
    log.info("%s", result.summary())
    for path in result.outputs:
        log.info("wrote %s", path)
    return location


def rollup_location_period(location: str, period: str) -> dict[str, Any]:
    """Recompute and publish one (location, week or month) rollup."""
    from trendscope.pipeline.rollup import rollup_period

    with failing_fast_on_bad_data():
        result = rollup_period(task_config(), location, period)
    log.info("%s", result.summary())
    return result.to_dict()


def refresh_location_trends(location: str, days: Sequence[str]) -> dict[str, Any]:
    """Recompute ``trends_daily`` of the published days whose window holds ``days`` (YYYY-MM-DD).

    ``days`` are the location-days a daily run (re)published; each of them and the published
    days up to ``trends.window_days`` after it are recomputed from what is published now.
    """
    from trendscope.pipeline.trends import refresh_trends

    changed = sorted(date.fromisoformat(d) for d in days)
    with failing_fast_on_bad_data():
        results = refresh_trends(task_config(), location, changed)
    refreshed = [r.date.isoformat() for r in results]
    log.info(
        "refresh %s: %d changed day(s) -> %d day(s) recomputed%s",
        location,
        len(changed),
        len(refreshed),
        f": {refreshed[0]} .. {refreshed[-1]}" if refreshed else "",
    )
    return {
        "location": location,
        "changed": [d.isoformat() for d in changed],
        "refreshed": refreshed,
    }


def ingest_location(location: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Ingest ``location`` on the run's day; return how many analyze shards it needs."""
    from trendscope.pipeline.run import run_step

    day = partition_date(context)
    result = run_step(task_config(), "ingest", location, day, run_id=context.get("run_id"))
    log.info("%s", result.summary())
    return {"location": location, "date": day.isoformat(), "shards": result.counts["shards"]}


def plan_analysis(
    ingested: Mapping[str, Any] | Sequence[Mapping[str, Any]], run_id: str | None = None
) -> list[list[str]]:
    """One ``trendscope`` argument list per analyze shard of every ingested location.

    ``ingested`` holds the locations whose ingest succeeded; a location missing from it has no
    shard, and its publish fails with the reason instead of holding back the others.
    """
    from trendscope.orchestration.k8s import analyze_args
    from trendscope.pipeline.shards import Shard

    ingested = [ingested] if isinstance(ingested, Mapping) else list(ingested)
    plan = []
    for item in ingested:
        day = date.fromisoformat(item["date"])
        n = int(item["shards"])
        plan += [analyze_args(item["location"], day, Shard(i, n), run_id) for i in range(n)]
    log.info("analysis plan: %d shard(s) of %d location(s)", len(plan), len(ingested))
    return plan


def run_cli(args: Sequence[str]) -> None:
    """Run a ``trendscope`` command in-process, exactly as the Kubernetes pod runs it."""
    from trendscope.cli import main

    task_config()  # credentials from the Airflow connection, as for the other tasks
    code = main(list(args))
    if code != 0:
        raise RuntimeError(f"`trendscope {' '.join(args)}` exited with {code}")


def record_trends_event(
    context: Mapping[str, Any], location: str, day: date | None = None
) -> dict[str, str]:
    """Name the location-day in the ``trends_daily`` asset event, for the rollup DAG.

    Each mapped ``trends`` task emits its own event; its ``extra`` says which partition changed,
    so a backfill of past days refreshes exactly the weeks and months it touched.
    """
    from airflow.sdk import Asset

    from trendscope.orchestration.dag_settings import TRENDS_DAILY_ASSET

    day = day or partition_date(context)
    extra = {"location": location, "date": day.isoformat()}
    context["outlet_events"][Asset(TRENDS_DAILY_ASSET)].extra = extra
    return extra


def finish_day(trended: str | Sequence[str], context: Mapping[str, Any]) -> dict[str, Any]:
    """After a daily run: the rising digest, then fail naming the locations that did not publish.

    ``trended`` holds the locations whose ``trends`` task succeeded (a failed one leaves no
    result). The digest goes out first, so a partial day still reports what it found. With a
    single location Airflow may pass the one result itself rather than a list of one.
    """
    trended = [trended] if isinstance(trended, str) else list(trended)
    from airflow.sdk.exceptions import AirflowFailException

    from trendscope.orchestration.alerts import send_rising_digest

    config = task_config()
    day = partition_date(context)
    done = [loc for loc in config.location_slugs if loc in set(trended)]
    missing = [loc for loc in config.location_slugs if loc not in set(trended)]
    sent = send_rising_digest(config, day, done) if done else 0
    log.info("%s: published %s; rising digest rows sent: %d", day, done or "nothing", sent)
    if missing:
        raise AirflowFailException(
            f"{day}: {', '.join(missing)} did not publish (see the failed task of each in this "
            f"run; `trendscope status --from {day} --to {day}`); published: {', '.join(done) or 'none'}"
        )
    return {"date": day.isoformat(), "published": done, "digest_rows": sent}
