"""Settings the DAG files read at parse time: cheap (a YAML file), no connections, no network."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig, load_config

TAGS = ["trendscope"]
OWNER = "trendscope"
# One run per UTC calendar day: its logical date is the day's midnight, so
# `airflow backfill create --from-date A --to-date B` covers the days A..B inclusive. The run is
# created when the day ends in UTC; its first task then waits (deferred, on the triggerer) until
# the day has ended in every configured location, plus `airflow.late_hours` for late posts.
DAILY_CRON = "0 0 * * *"
TRENDS_DAILY_ASSET = "trendscope://tables/trends_daily"
ROLLUP_DAG_ID = "trendscope_rollup"


def default_args(config: TrendscopeConfig) -> dict[str, Any]:
    """Owner, bounded retries, a timeout on every task and the failure alert."""
    from trendscope.orchestration.alerts import task_failure_callback

    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": config.airflow.retries,
        "retry_delay": timedelta(minutes=config.airflow.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=config.airflow.task_timeout_minutes),
    }
    if config.alerts.notifier != "none" and config.alerts.on_failure:
        args["on_failure_callback"] = task_failure_callback
    return args


def analyze_timeout(config: TrendscopeConfig) -> timedelta:
    return timedelta(minutes=config.airflow.analyze_timeout_minutes)


def dag_config() -> TrendscopeConfig:
    """The config as the DAG sees it (the same loader every task uses)."""
    return load_config()


def start_datetime(config: TrendscopeConfig) -> datetime:
    """Midnight UTC of ``start_date``: the logical date of the first day's run."""
    return datetime(
        config.start_date.year, config.start_date.month, config.start_date.day, tzinfo=UTC
    )


def shard_label(args: Sequence[str]) -> str:
    """``shibuya shard 2/4`` from an analyze argument list (``--shard 1/4`` is 0-based)."""
    opts = dict(zip(args[1::2], args[2::2], strict=False))
    index, _, count = str(opts.get("--shard", "0/1")).partition("/")
    return f"{opts.get('--location', '?')} shard {int(index) + 1}/{count}"


def template_macros(config: TrendscopeConfig) -> dict[str, Callable[..., Any]]:
    """Jinja macros of the daily DAG: the run's day, when it has ended everywhere, shard labels."""
    from trendscope.orchestration.schedule import day_closes_at
    from trendscope.orchestration.tasks import partition_date

    def run_day(params: Mapping[str, Any], logical_date: datetime | None) -> str:
        return partition_date({"params": params, "logical_date": logical_date}).isoformat()

    def closes_at(params: Mapping[str, Any], logical_date: datetime | None) -> str:
        day = partition_date({"params": params, "logical_date": logical_date})
        return day_closes_at(config, day).isoformat()

    return {"run_day": run_day, "day_closes_at": closes_at, "shard_label": shard_label}
