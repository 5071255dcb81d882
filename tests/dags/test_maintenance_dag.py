"""The maintenance DAG: one daily gc task, bounded like every task, with the configured limit."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from test_dag_integrity import _parse

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.gc import STAGING, collect_garbage
from trendscope.tables import storage
from trendscope.tables.paths import keyed_partition_path


@pytest.fixture(scope="module")
def maintenance(tmp_path_factory) -> dict:
    parsed = _parse(tmp_path_factory, "local", TRENDSCOPE__RETENTION__DAYS="7")
    assert parsed["errors"] == {}
    assert parsed["heavy"] == []
    return parsed["dags"]["trendscope_maintenance"]


def test_one_daily_gc_task(maintenance: dict) -> None:
    assert maintenance["tasks"] == ["gc"]
    assert maintenance["operators"] == {"gc": "@task"}
    assert maintenance["timetable"] in ("CronTriggerTimetable", "CronDataIntervalTimetable")
    assert maintenance["catchup"] is False and maintenance["max_active_runs"] == 1
    assert "trendscope" in maintenance["tags"] and maintenance["doc_md"]
    assert maintenance["owners"] == ["trendscope"] and maintenance["retries"] == [2]
    assert maintenance["timeouts"] == {"gc": 60 * 60}


def _staged(config: TrendscopeConfig, location: str, age: timedelta) -> str:
    path = keyed_partition_path(config.data_root, "images", location, "2026-10-01", "staging")
    storage.write_bytes_atomic(b"x", path)
    when = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (when, when))
    return path


def test_the_task_keeps_retention_days(config) -> None:
    """What the task calls, without a limit, removes what is older than ``retention.days``."""
    config = config.model_copy(
        update={"retention": config.retention.model_copy(update={"days": 7})}
    )
    old = _staged(config, "shibuya", timedelta(days=8))
    recent = _staged(config, "brooklyn", timedelta(days=6))
    report = collect_garbage(config)
    assert report.older_than == timedelta(days=7)
    assert [(r.kind, r.files) for r in report.removed] == [(STAGING, (old,))]
    assert storage.exists(recent)
