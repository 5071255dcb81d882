"""Alerts received by a real SMTP server on localhost, sent through Airflow's SMTP provider.

The server (aiosmtpd) keeps every message it accepts; Airflow finds it through the connection
``smtp_default`` given as ``AIRFLOW_CONN_SMTP_DEFAULT``, as a user would configure it. The
assertions read what a recipient reads: the subject and the rendered text of the HTML body.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from e2e_data import RECIPIENT, REPO, SENDER, Inbox, free_port, readable, smtp_connection
from trendscope.config import TrendscopeConfig, load_config
from trendscope.orchestration.alerts import (
    deadline_alert,
    send_rising_digest,
    task_failure_callback,
)

pytestmark = pytest.mark.e2e


def _config(tmp_path: Path) -> TrendscopeConfig:
    return load_config(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "alerts.notifier": "smtp",
            "alerts.to": [RECIPIENT],
            "alerts.report_url": "https://reports.example.com/trendscope/",
        },
    )


FAILING_DAG = """
from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from trendscope.orchestration.alerts import task_failure_callback


@dag(
    dag_id="alerts_probe",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    default_args={"on_failure_callback": task_failure_callback, "retries": 0},
)
def alerts_probe():
    @task(map_index_template="{{ task.op_kwargs['location'] }}")
    def ingest(location: str) -> None:
        raise RuntimeError(f"drop zone for {location} is unreadable")

    @task
    def analyze(args: list[str]) -> None:
        raise MemoryError("CUDA out of memory")

    ingest.expand(location=["brooklyn"])
    analyze.expand(
        args=[["analyze", "--location", "shibuya", "--date", "2026-11-02", "--shard", "2/4"]]
    )


alerts_probe()
"""

RUN_PROBE = """
import sys
from datetime import UTC, datetime

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.get_dag("alerts_probe").test(logical_date=datetime(2026, 11, 2, 12, tzinfo=UTC))
print("run state:", run.state)
"""


def test_a_failed_task_mails_its_location_day_step_and_error(tmp_path: Path, inbox: Inbox) -> None:
    """Two mapped tasks fail in a real ``DAG.test`` run; each failure arrives as one e-mail."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alerts_probe.py").write_text(FAILING_DAG)
    home = tmp_path / "airflow_home"
    home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__BASE_URL": "http://airflow.example.com",
        "TRENDSCOPE__ALERTS__NOTIFIER": "smtp",
        "TRENDSCOPE__ALERTS__TO": f"[{RECIPIENT}]",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN_PROBE), str(dags)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "run state: failed" in run.stdout, (run.stdout + run.stderr)[-5000:]

    received = {m["Subject"]: (to, m) for to, m in inbox.take()}
    assert set(received) == {
        "[trendscope] ingest failed for brooklyn 2026-11-02",
        "[trendscope] analyze (shard 2/4) failed for shibuya 2026-11-02",
    }
    to, message = received["[trendscope] ingest failed for brooklyn 2026-11-02"]
    assert to == [RECIPIENT]
    assert message["From"] == SENDER
    text = readable(message)
    for part in (
        "Location brooklyn",
        "Day 2026-11-02",
        "Step ingest",
        "Try 1",
        "Error RuntimeError: drop zone for brooklyn is unreadable",
        "DAG alerts_probe",
        "http://airflow.example.com/dags/alerts_probe/runs/",
    ):
        assert part in text
    text = readable(received["[trendscope] analyze (shard 2/4) failed for shibuya 2026-11-02"][1])
    assert "Step analyze (shard 2/4)" in text
    assert "Error MemoryError: CUDA out of memory" in text


def test_a_broken_mail_server_does_not_raise_from_the_callback(monkeypatch) -> None:
    from trendscope.orchestration import alerts

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(free_port()))  # nobody there
    monkeypatch.setenv("TRENDSCOPE__ALERTS__NOTIFIER", "smtp")
    monkeypatch.setenv("TRENDSCOPE__ALERTS__TO", f"[{RECIPIENT}]")
    context = {
        "dag_run": None,
        "run_id": "manual__2026-11-03",
        "params": {"date": "2026-11-02"},
        "exception": RuntimeError("publish failed"),
    }
    errors: list[BaseException | None] = []  # Airflow's logging setup hides records from caplog
    monkeypatch.setattr(alerts.log, "exception", lambda *a, **k: errors.append(sys.exc_info()[1]))
    task_failure_callback(context)  # must not raise
    assert [type(e) for e in errors] == [ConnectionRefusedError]


def test_the_rising_digest_lists_the_day_s_rising_labels(tmp_path: Path, inbox: Inbox) -> None:
    from published_history import STEP_DAY, published_history

    config = _config(tmp_path)
    quiet_day = date(2026, 10, 20)  # in the flat weeks before the step
    published_history(config, trend_days=[STEP_DAY, quiet_day])

    assert send_rising_digest(config, quiet_day) == 0
    assert inbox.take() == []  # nothing rises: no e-mail at all

    sent = send_rising_digest(config, STEP_DAY)
    (to, message), *others = inbox.take()
    assert others == []
    assert to == [RECIPIENT]
    assert message["Subject"].startswith("[trendscope] rising on 2026-11-02: cat (shibuya)")
    assert "brooklyn" not in message["Subject"]  # flat there
    text = readable(message)
    # one table row per rising label: location, label, fine label, trend, share vs expected, ...
    rows = re.findall(r"shibuya cat (\S+) rising (\d+\.\d% vs \d+\.\d%) (\d+\.\d+x)", text)
    assert len(rows) == sent >= 2
    assert "tabby" in [fine for fine, _, _ in rows]
    assert "Report: https://reports.example.com/trendscope/" in text


def test_a_missed_deadline_mails_the_late_day(inbox: Inbox) -> None:
    """The deadline callback run the way the triggerer runs it (a ``CallbackTrigger``)."""
    from airflow.models.trigger import Trigger
    from airflow.triggers.callback import CallbackTrigger

    alert = deadline_alert(
        load_config(environ={}, overrides={"alerts.notifier": "smtp", "alerts.to": [RECIPIENT]})
    )
    deadline_time = datetime(2026, 11, 3, 19, tzinfo=UTC)
    context = {  # what the scheduler adds (airflow.models.deadline.Deadline.handle_miss)
        "dag_run": {
            "dag_id": "trendscope_daily",
            "dag_run_id": "scheduled__2026-11-02T00:00:00+00:00",
            "logical_date": "2026-11-02T00:00:00Z",
            "queued_at": "2026-11-03T07:00:02Z",
            "run_after": "2026-11-03T00:00:00Z",
            "run_type": "scheduled",
            "state": "running",
            "conf": {},
        },
        "deadline": {"id": "0199", "deadline_time": deadline_time},
    }
    # stored in the trigger table and read back by the triggerer
    row = Trigger.from_object(
        CallbackTrigger(alert.callback.path, {**alert.callback.kwargs, "context": context})
    )
    trigger = CallbackTrigger(**row.kwargs)

    async def run() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    *_, last = asyncio.run(run())
    assert last["state"] == "success", last

    ((to, message),) = inbox.take()
    assert to == [RECIPIENT]
    assert message["Subject"] == (
        "[trendscope] trendscope_daily for 2026-11-02 not finished by 2026-11-03 19:00 UTC"
    )
    assert "State running" in readable(message)
