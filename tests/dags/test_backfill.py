"""`airflow backfill create` over past dates plans one run per day, each owning its own day."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from trendscope.orchestration.tasks import partition_date

REPO = Path(__file__).resolve().parents[2]


def test_backfill_plans_one_run_per_day(tmp_path: Path) -> None:
    home = tmp_path / "airflow_home"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    for cmd in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow, *cmd], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    plan = subprocess.run(
        [airflow, "backfill", "create", "--dag-id", "trendscope_daily",
         "--from-date", "2026-10-01", "--to-date", "2026-10-04", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-2000:]
    logical = [
        datetime.fromisoformat(m)
        for m in re.findall(r"\| (\d{4}-\d{2}-\d{2} 12:00:00\+00:00) ", plan.stdout)
    ]
    days = [partition_date({"logical_date": ts}) for ts in logical]
    assert days == [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
