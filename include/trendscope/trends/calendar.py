"""The calendar of trend tables: day, ISO-week and month keys, and the periods around them.

Keys: a day ``2026-11-02``, an ISO week ``2026-W45`` (Monday to Sunday), a month ``2026-11``.
This is the one home of period arithmetic; counting, comparing and planning all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

Period = Literal["day", "week", "month"]

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_key(day: date, period: Period) -> str:
    """The period a day falls in: ``2026-11-02``, ISO week ``2026-W45`` or month ``2026-11``."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"unknown period {period!r} (known: day, week, month)")


def period_kind(key: str) -> Period:
    """Which kind of period a key names, from its format."""
    if _WEEK.match(key):
        return "week"
    if _MONTH.match(key):
        return "month"
    date.fromisoformat(key)
    return "day"


def period_start(key: str) -> date:
    """First day of a period key (the Monday of an ISO week)."""
    kind = period_kind(key)
    if kind == "week":
        year, week = map(int, _WEEK.match(key).groups())  # type: ignore[union-attr]
        return date.fromisocalendar(year, week, 1)
    if kind == "month":
        year, month = map(int, _MONTH.match(key).groups())  # type: ignore[union-attr]
        return date(year, month, 1)
    return date.fromisoformat(key)


def period_end(key: str) -> date:
    """Last day of a period key (a day, an ISO week or a month)."""
    kind, start = period_kind(key), period_start(key)
    if kind == "day":
        return start
    if kind == "week":
        return start + timedelta(days=6)
    months = start.year * 12 + start.month  # the month after, 0-based
    return date(months // 12, months % 12 + 1, 1) - timedelta(days=1)


def period_days(key: str) -> list[date]:
    """Every calendar day of a period key."""
    start = period_start(key)
    return [start + timedelta(days=k) for k in range((period_end(key) - start).days + 1)]


def previous_periods(key: str, n: int) -> list[str]:
    """The ``n`` period keys before ``key``, most recent first."""
    kind, start = period_kind(key), period_start(key)
    out = []
    for k in range(1, n + 1):
        if kind == "day":
            out.append(period_key(start - timedelta(days=k), "day"))
        elif kind == "week":
            out.append(period_key(start - timedelta(weeks=k), "week"))
        else:
            months = start.year * 12 + start.month - 1 - k
            out.append(f"{months // 12}-{months % 12 + 1:02d}")
    return out


def next_periods(key: str, n: int) -> list[str]:
    """The ``n`` period keys after ``key``, nearest first (those whose baseline includes it)."""
    kind: Period = period_kind(key)
    out, day = [], period_end(key)
    for _ in range(n):
        day += timedelta(days=1)
        out.append(period_key(day, kind))
        day = period_end(out[-1])
    return out


def periods_touched(days: Iterable[date]) -> dict[str, set[str]]:
    """The ISO weeks and months that contain ``days``: ``{"week": {...}, "month": {...}}``."""
    days = list(days)
    return {
        "week": {period_key(d, "week") for d in days},
        "month": {period_key(d, "month") for d in days},
    }


def window_days(day: date, n: int) -> list[date]:
    """The ``n`` days before ``day``, oldest first (a day's baseline window)."""
    return [day - timedelta(days=k) for k in range(n, 0, -1)]
