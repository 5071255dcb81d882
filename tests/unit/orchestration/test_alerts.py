"""Alert messages (failure, rising digest, deadline) and the times a day closes, without a server."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trendscope.config import TrendscopeConfig, load_config
from trendscope.orchestration import alerts
from trendscope.orchestration.alerts import (
    deadline_alert,
    deadline_message,
    deadline_skip_reason,
    describe_failure,
    digest_message,
    digest_rows,
    failure_message,
    send_rising_digest,
    task_failure_callback,
)
from trendscope.orchestration.schedule import (
    day_closes_at,
    deadline_at,
    latest_deadline_offset,
)
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import TRENDS_DAILY, to_table

DAY = date(2026, 11, 2)
SLUGS = ("shibuya", "brooklyn")


def _config(tmp_path: Path | None = None, **overrides: Any) -> TrendscopeConfig:
    base: dict[str, Any] = {"alerts.notifier": "smtp", "alerts.to": ["ops@example.com"]}
    if tmp_path is not None:
        base["data_dir"] = str(tmp_path / "data")
    return load_config(environ={}, overrides={**base, **overrides})


def _context(task: Any, *, rendered: str | None = None, **extra: Any) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="trendscope_daily",
        run_id="scheduled__2026-11-02T12:00:00+00:00",
        task_id=task.task_id,
        try_number=3,
        rendered_map_index=rendered,
        log_url="http://airflow.example.com/dags/trendscope_daily/runs/r/tasks/x?try_number=3",
    )
    return {
        "ti": ti,
        "task": task,
        "params": {"date": None},
        "logical_date": datetime(2026, 11, 2, 12, tzinfo=UTC),
        "exception": RuntimeError("drop zone unreadable"),
        **extra,
    }


ANALYZE_ARGS = ["analyze", "--location", "brooklyn", "--date", "2026-11-02", "--shard", "2/4"]


@pytest.mark.parametrize(
    ("task", "rendered", "location", "step"),
    [
        (
            SimpleNamespace(task_id="ingest", op_kwargs={"location": "shibuya"}),
            None,
            "shibuya",
            "ingest",
        ),
        # a local analyze shard: the CLI arguments it runs
        (
            SimpleNamespace(task_id="analyze", op_kwargs={"args": ANALYZE_ARGS}),
            None,
            "brooklyn",
            "analyze (shard 2/4)",
        ),
        # a Kubernetes pod shard
        (
            SimpleNamespace(task_id="analyze", arguments=ANALYZE_ARGS),
            None,
            "brooklyn",
            "analyze (shard 2/4)",
        ),
        # nothing but the UI's map index names the location
        (SimpleNamespace(task_id="publish"), "shibuya shard 2/4", "shibuya", "publish"),
    ],
)
def test_failure_message_names_location_day_step_and_error(
    task: Any, rendered: str | None, location: str, step: str
) -> None:
    message = failure_message(describe_failure(_context(task, rendered=rendered), SLUGS))

    assert message.subject == f"[trendscope] {step} failed for {location} 2026-11-02"
    for text in (message.text, message.html):
        for part in (location, "2026-11-02", step, "RuntimeError: drop zone unreadable"):
            assert part in text
    assert "Try:      3" in message.text
    assert (
        'href="http://airflow.example.com/dags/trendscope_daily/runs/r/tasks/x?try_number=3"'
        in (message.html)
    )


def test_failure_day_comes_from_params_date() -> None:
    task = SimpleNamespace(task_id="ingest", op_kwargs={"location": "shibuya"})
    context = _context(task, params={"date": "2026-10-31"})
    assert describe_failure(context).day == date(2026, 10, 31)


def test_failure_day_of_a_shard_without_a_run_day_comes_from_its_arguments() -> None:
    context = {"ti": None, "task": SimpleNamespace(task_id="analyze", arguments=ANALYZE_ARGS)}
    assert describe_failure(context).day == date(2026, 11, 2)


def test_failure_of_a_rollup_names_its_period() -> None:
    task = SimpleNamespace(
        task_id="rollup", op_kwargs={"location": "shibuya", "period": "2026-W45"}
    )
    message = failure_message(describe_failure(_context(task)))
    assert message.subject == "[trendscope] rollup failed for shibuya 2026-W45"
    assert "Period:   2026-W45" in message.text


def test_failure_html_escapes_the_error() -> None:
    task = SimpleNamespace(task_id="ingest", op_kwargs={"location": "shibuya"})
    context = _context(task, exception=ValueError("bad <b>tag</b> & {{ jinja }}"))
    message = failure_message(describe_failure(context))
    assert "bad &lt;b&gt;tag&lt;/b&gt; &amp; {{ jinja }}" in message.html
    assert "<b>tag</b>" not in message.html


def logged_errors(monkeypatch) -> list[str]:
    """What the alerts module logs with ``log.exception``, with the exception being handled.

    (Airflow reconfigures logging when a hook first runs, so pytest's caplog may see nothing.)
    """
    errors: list[str] = []

    def exception(msg: str, *args: Any, **kwargs: Any) -> None:
        errors.append(f"{msg % args}: {sys.exc_info()[1]!r}")

    monkeypatch.setattr(alerts.log, "exception", exception)
    return errors


def test_failure_callback_never_raises(monkeypatch) -> None:
    monkeypatch.setenv("TRENDSCOPE__ALERTS__NOTIFIER", "smtp")
    monkeypatch.setenv("TRENDSCOPE__ALERTS__TO", "[ops@example.com]")

    def broken(*args: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(alerts, "send_message", broken)
    errors = logged_errors(monkeypatch)
    task = SimpleNamespace(task_id="ingest", op_kwargs={"location": "shibuya"})
    task_failure_callback(_context(task))
    assert errors == [
        "the failure alert could not be sent: ConnectionRefusedError('mail server down')"
    ]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "TRENDSCOPE__ALERTS__NOTIFIER": "smtp",
            "TRENDSCOPE__ALERTS__TO": "[a@example.com]",
            "TRENDSCOPE__ALERTS__ON_FAILURE": "false",
        },
    ],
)
def test_failure_callback_sends_nothing_when_off(monkeypatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sent: list[Any] = []
    monkeypatch.setattr(alerts, "send_message", lambda *args: sent.append(args))
    task_failure_callback(_context(SimpleNamespace(task_id="ingest", op_kwargs={})))
    assert sent == []


# --- the rising digest ----------------------------------------------------------------------


def trend_row(label: str, trend: str, **kw: Any) -> dict[str, Any]:
    """One ``trends_daily`` row with sensible defaults."""
    row = {
        "location": "shibuya",
        "date": DAY,
        "kind": "object",
        "label": label,
        "fine_label": None,
        "images": 20,
        "objects": 25,
        "ok_images": 50,
        "share": 0.4,
        "rank": 1,
        "authors": 12,
        "baseline_images": 100,
        "baseline_ok_images": 1000,
        "baseline_share": 0.1,
        "baseline_days": 28,
        "expected_share": 0.1,
        "lift": 4.0,
        "p_adjusted": 0.0001,
        "trend": trend,
    }
    row.update(kw)
    return row


def _trends(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as read back from a published partition (through the contract)."""
    return to_table(TRENDS_DAILY, rows).to_pylist()


def test_digest_rows_pick_rising_and_new_strongest_first() -> None:
    rows = digest_rows(
        _trends(
            trend_row("person", "stable", lift=1.0),
            trend_row("dog", "falling", lift=0.2),
            trend_row("cat", "rising", lift=3.0),
            trend_row("cat", "rising", fine_label="tabby", lift=6.5),
            trend_row("bird", "new", expected_share=0.0, lift=None, share=0.1),
            trend_row("bus", "rising", location="brooklyn", lift=2.0),
            trend_row("food", "insufficient", kind="scene"),
        )
    )
    assert [(r.location, r.label, r.fine_label, r.trend) for r in rows] == [
        ("brooklyn", "bus", None, "rising"),
        ("shibuya", "cat", "tabby", "rising"),
        ("shibuya", "cat", None, "rising"),
        ("shibuya", "bird", None, "new"),
    ]


def test_digest_message_lists_each_label_with_its_evidence() -> None:
    rows = digest_rows(
        _trends(
            trend_row(
                "cat",
                "rising",
                fine_label="tabby",
                share=0.45,
                expected_share=0.1,
                lift=4.5,
                p_adjusted=1.9e-05,
                authors=21,
            ),
            trend_row("bird", "new", expected_share=0.0, lift=None, share=0.12, authors=4),
        )
    )
    message = digest_message(DAY, rows, "https://reports.example.com/trendscope/")

    assert message.subject == "[trendscope] rising on 2026-11-02: cat (shibuya), bird (shibuya)"
    for text in (message.text, message.html):
        for part in (
            "cat",
            "tabby",
            "shibuya",
            "45.0% vs 10.0%",
            "4.50x",
            "1.9e-05",
            "21",
            "12.0% vs new",
            "https://reports.example.com/trendscope/",
        ):
            assert part in text
    assert '<a href="https://reports.example.com/trendscope/">' in message.html
    assert "<table" in message.html


def _publish_trends(config: TrendscopeConfig, location: str, *rows: dict[str, Any]) -> None:
    rows = tuple({**r, "location": location} for r in rows)
    path = partition_path(config.data_root, TRENDS_DAILY.name, location, DAY)
    storage.write_table_atomic(to_table(TRENDS_DAILY, rows), path)


def test_rising_digest_reads_the_published_day_and_sends_once(tmp_path: Path, monkeypatch) -> None:
    config = _config(tmp_path)
    _publish_trends(config, "shibuya", trend_row("cat", "rising"), trend_row("dog", "stable"))
    _publish_trends(config, "brooklyn", trend_row("bus", "rising"))
    sent: list[Any] = []
    monkeypatch.setattr(alerts, "send_message", lambda *args: sent.append(args))

    assert send_rising_digest(config, DAY) == 2
    assert send_rising_digest(config, DAY, ["brooklyn"]) == 1
    assert [m.subject for _, m in sent] == [
        "[trendscope] rising on 2026-11-02: bus (brooklyn), cat (shibuya)",
        "[trendscope] rising on 2026-11-02: bus (brooklyn)",
    ]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"alerts.notifier": "none"}, {"alerts.rising_digest": False}],
)
def test_no_digest_without_rising_rows_or_when_off(
    tmp_path: Path, monkeypatch, overrides: dict[str, Any]
) -> None:
    config = _config(tmp_path, **overrides)
    _publish_trends(config, "shibuya", trend_row("dog", "stable"), trend_row("cat", "falling"))
    if overrides:  # alerts off: even a rising label sends nothing
        _publish_trends(config, "brooklyn", trend_row("bus", "rising"))
    sent: list[Any] = []
    monkeypatch.setattr(alerts, "send_message", lambda *args: sent.append(args))

    assert send_rising_digest(config, DAY) == 0
    assert send_rising_digest(config, DAY + timedelta(days=1)) == 0  # nothing published
    assert sent == []


# --- when a day closes, and its deadline ----------------------------------------------------


def _zones(*zones: str, **overrides: Any) -> TrendscopeConfig:
    locations = [{"slug": f"loc{i}", "timezone": z} for i, z in enumerate(zones)]
    return load_config(environ={}, overrides={"locations": locations, **overrides})


TOKYO_NY = ("Asia/Tokyo", "America/New_York")


@pytest.mark.parametrize(
    ("zones", "day", "closes"),
    [
        # New York's midnight (EST, UTC-5) is the last; Tokyo's came at 15:00 UTC
        (TOKYO_NY, date(2026, 11, 2), datetime(2026, 11, 3, 7, tzinfo=UTC)),
        # New York leaves daylight saving time on Sunday 2026-11-01 02:00
        (TOKYO_NY, date(2026, 10, 31), datetime(2026, 11, 1, 6, tzinfo=UTC)),  # EDT
        (TOKYO_NY, date(2026, 11, 1), datetime(2026, 11, 2, 7, tzinfo=UTC)),  # EST
        # and enters it on Sunday 2026-03-08 02:00
        (TOKYO_NY, date(2026, 3, 7), datetime(2026, 3, 8, 7, tzinfo=UTC)),  # EST
        (TOKYO_NY, date(2026, 3, 8), datetime(2026, 3, 9, 6, tzinfo=UTC)),  # EDT
        # Tokyo alone: its day ends before UTC's
        (("Asia/Tokyo",), date(2026, 11, 2), datetime(2026, 11, 2, 17, tzinfo=UTC)),
        (("UTC",), date(2026, 11, 2), datetime(2026, 11, 3, 2, tzinfo=UTC)),
    ],
)
def test_day_closes_when_it_has_ended_everywhere_plus_late_hours(
    zones: tuple[str, ...], day: date, closes: datetime
) -> None:
    config = _zones(*zones)  # late_hours 2, deadline_hours 12 (the defaults)
    assert day_closes_at(config, day) == closes
    assert deadline_at(config, day) == closes + timedelta(hours=12)


def test_late_and_deadline_hours_come_from_the_config() -> None:
    config = _zones(*TOKYO_NY, **{"airflow.late_hours": 0.5, "airflow.deadline_hours": 6})
    assert day_closes_at(config, DAY) == datetime(2026, 11, 3, 5, 30, tzinfo=UTC)
    assert deadline_at(config, DAY) == datetime(2026, 11, 3, 11, 30, tzinfo=UTC)


def test_latest_deadline_offset_is_never_early() -> None:
    config = _zones(*TOKYO_NY)
    # 24 h + New York's standard-time 5 h + late 2 h + deadline 12 h
    assert latest_deadline_offset(config) == timedelta(hours=43)
    for day in (date(2026, 7, 1), date(2026, 11, 2), date(2027, 1, 15)):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        assert midnight + latest_deadline_offset(config) >= deadline_at(config, day)


@pytest.mark.parametrize(
    "overrides", [{"alerts.notifier": "none", "alerts.to": []}, {"alerts.on_deadline": False}]
)
def test_deadline_alert_is_none_when_off(overrides: dict[str, Any]) -> None:
    assert deadline_alert(_config(**overrides)) is None


def test_deadline_alert_counts_from_the_logical_date() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference
    from airflow.sdk._shared.module_loading import import_string

    alert = deadline_alert(_config())
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(hours=43)  # the default Tokyo + New York config
    # a 12:00 UTC logical date (the "0 12 * * *" data interval's start) is 12 h nearer
    assert deadline_alert(_config(), logical_time=time(12)).interval == timedelta(hours=31)
    # the triggerer imports the callback by path and gets its kwargs from the serialized DAG
    assert isinstance(alert.callback, AsyncCallback)
    assert import_string(alert.callback.path) is alerts.deadline_missed
    assert json.loads(json.dumps(alert.callback.kwargs))["alerts"]["to"] == ["ops@example.com"]


def _dag_run(**kw: Any) -> dict[str, Any]:
    """A run as the scheduler passes it to a deadline callback (the REST API's JSON)."""
    run = {
        "dag_id": "trendscope_daily",
        "dag_run_id": "scheduled__2026-11-02T00:00:00+00:00",
        "logical_date": "2026-11-02T00:00:00Z",
        "queued_at": "2026-11-03T07:00:05Z",
        "run_after": "2026-11-03T00:00:00Z",
        "run_type": "scheduled",
        "state": "running",
        "conf": {},
    }
    run.update(kw)
    return run


DEADLINE = datetime(2026, 11, 3, 19, tzinfo=UTC)


def test_deadline_message_names_the_day_and_the_deadline() -> None:
    message = deadline_message(_dag_run(), DEADLINE, "http://airflow.example.com/")
    assert message.subject == (
        "[trendscope] trendscope_daily for 2026-11-02 not finished by 2026-11-03 19:00 UTC"
    )
    assert "State:    running" in message.text
    assert (
        "http://airflow.example.com/dags/trendscope_daily/runs/scheduled__2026-11-02T00%3A00%3A00%2B00%3A00"
        in message.html
    )


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (_dag_run(), None),
        (_dag_run(run_type="backfill"), "a backfill run"),
        (
            _dag_run(
                run_type="manual", queued_at="2026-11-20T09:00:00Z", conf={"date": "2026-11-02"}
            ),
            "queued at 2026-11-20 09:00 UTC, after its deadline",
        ),
    ],
)
def test_runs_created_after_their_deadline_are_not_alerted(
    run: dict[str, Any], reason: str | None
) -> None:
    assert deadline_skip_reason(run, DEADLINE) == reason
