from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from trendscope.orchestration.tasks import partition_date


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {
                "params": {"date": "2026-10-31"},
                "logical_date": datetime(2026, 11, 5, 12, tzinfo=UTC),
            },
            date(2026, 10, 31),
        ),
        (
            {"params": {"date": None}, "logical_date": datetime(2026, 11, 5, 12, tzinfo=UTC)},
            date(2026, 11, 5),
        ),
        # a logical date given in another zone still names its UTC day
        (
            {"logical_date": datetime(2026, 11, 6, 1, tzinfo=timezone(timedelta(hours=9)))},
            date(2026, 11, 5),
        ),
        (
            {
                "logical_date": None,
                "dag_run": SimpleNamespace(run_after=datetime(2026, 11, 6, 12, tzinfo=UTC)),
            },
            date(2026, 11, 5),
        ),
    ],
)
def test_partition_date(context: dict, expected: date) -> None:
    assert partition_date(context) == expected


def test_partition_date_without_any_date_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot tell the run's day"):
        partition_date({})
