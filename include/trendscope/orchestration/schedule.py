"""When a day is over in every location, and when its run should have finished.

A location's day ends at its local midnight, so the same calendar day closes at different UTC
times in Tokyo and New York, and New York's moves by an hour with daylight saving time. The
daily DAG waits for :func:`day_closes_at` and is judged by :func:`deadline_at`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from trendscope.config import Location, TrendscopeConfig


def day_ends_at(location: Location, day: date) -> datetime:
    """The UTC time of the local midnight that ends ``day`` in ``location``.

    A midnight that does not exist (a zone springing forward at 00:00) resolves to the first
    instant of the next local day.
    """
    local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=location.tz)
    return local.astimezone(UTC)


def day_closes_at(config: TrendscopeConfig, day: date) -> datetime:
    """The UTC time when ``day`` has ended in every configured location, plus ``late_hours``.

    Example: Asia/Tokyo and America/New_York (EST), late_hours 2: 2026-11-02 closes at
    2026-11-03 07:00 UTC (New York's midnight is 05:00 UTC).
    """
    last_end = max(day_ends_at(loc, day) for loc in config.locations)
    return last_end + timedelta(hours=config.airflow.late_hours)


def deadline_at(config: TrendscopeConfig, day: date) -> datetime:
    """The UTC time by which ``day``'s run should have finished (closed + ``deadline_hours``)."""
    return day_closes_at(config, day) + timedelta(hours=config.airflow.deadline_hours)


def midnight_utc(day: date) -> datetime:
    """``day`` 00:00 UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def latest_deadline_offset(config: TrendscopeConfig) -> timedelta:
    """The latest :func:`deadline_at` of any day, as a time after that day's 00:00 UTC.

    Taken over the year from ``start_date``, so daylight saving time never makes it early: a
    fixed offset from the logical date (what a deadline alert takes) is at most the DST shift
    (an hour) later than :func:`deadline_at` in the other half of the year.
    """
    days = (config.start_date + timedelta(days=i) for i in range(366))
    return max(deadline_at(config, d) - midnight_utc(d) for d in days)
