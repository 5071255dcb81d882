"""Settings the DAG files read at parse time: cheap (a YAML file), no connections, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig, load_config

TAGS = ["trendscope"]
OWNER = "trendscope"
# Daily at 12:00 UTC for the day-long interval that ended then: by that time the calendar day of
# the interval's start has ended in every timezone (UTC-12 included), so late posts are in.
DAILY_CRON = "0 12 * * *"
TRENDS_DAILY_ASSET = "trendscope://tables/trends_daily"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}


def dag_config() -> TrendscopeConfig:
    """The config as the DAG sees it (the same loader every task uses)."""
    return load_config()


def start_datetime(config: TrendscopeConfig) -> datetime:
    return datetime(
        config.start_date.year, config.start_date.month, config.start_date.day, 12, tzinfo=UTC
    )
