"""The trendscope_daily DAG through a real Airflow (in-process DAG.test, SQLite metadata DB)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from e2e_data import DAY
from trendscope.cli import main
from trendscope.tables.paths import partition_path, period_partition_path

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _airflow_env(tmp_path: Path, e2e_config) -> dict[str, str]:
    home = tmp_path / "airflow_home"
    home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "TRENDSCOPE_DATA_DIR": e2e_config.data_root,
        "TRENDSCOPE_SOURCE_DIR": e2e_config.source_root,
        "TRENDSCOPE_MODELS_DIR": str(e2e_config.models_dir),
    }
    return env


def test_daily_dag_run_publishes_every_location(tmp_path: Path, e2e_config, capsys) -> None:
    env = _airflow_env(tmp_path, e2e_config)
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "trendscope.orchestration.local_airflow",
            "--start",
            DAY.isoformat(),
            "--days",
            "1",
            "--rollup",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert "trendscope_daily 2026-11-02: success" in run.stdout
    assert "trendscope_rollup 2026-11-02: success" in run.stdout
    logs = run.stdout + run.stderr
    assert "data docs: file://" in logs  # every validation links its Data Docs in the task log

    for location, ok in (("shibuya", 6), ("brooklyn", 3)):
        for table in ("images", "detections", "trends_daily"):
            assert Path(partition_path(e2e_config.data_root, table, location, DAY)).is_file()
        images = pq.read_table(partition_path(e2e_config.data_root, "images", location, DAY))
        assert images.column("status").to_pylist().count("ok") == ok
        assert not list(Path(e2e_config.data_root, "staging").rglob("*.parquet"))  # all published
        # the rollup DAG (on the trends_daily asset) refreshed the week and the month of the day
        for table, period in (("trends_weekly", "2026-W45"), ("trends_monthly", "2026-11")):
            path = period_partition_path(e2e_config.data_root, table, location, period)
            rows = pq.read_table(path).to_pylist()
            assert {r["ok_images"] for r in rows} == {ok}  # one day of data in the period
            assert {r["days"] for r in rows} == {1}
        # every published partition passed its suite, and the result is kept beside the tables
        for table, key in (("images", "date=2026-11-02"), ("trends_weekly", "period=2026-W45")):
            kept = Path(e2e_config.data_root, "quality", "results", table, f"location={location}")
            assert '"success": true' in (kept / key / "latest.json").read_text()
    assert Path(e2e_config.data_root, "quality", "gx", "docs", "index.html").is_file()

    # the DAG task and the CLI call the same functions: the same input gives the same rows
    dag_rows = pq.read_table(
        partition_path(e2e_config.data_root, "trends_daily", "shibuya", DAY)
    ).to_pylist()
    cli_data = tmp_path / "cli-data"
    assert main(["run", "--location", "shibuya", "--date", DAY.isoformat(), "--data-dir", str(cli_data),
                 "--source-dir", e2e_config.source_root]) == 0  # fmt: skip
    capsys.readouterr()
    cli_rows = pq.read_table(
        partition_path(str(cli_data), "trends_daily", "shibuya", DAY)
    ).to_pylist()
    assert cli_rows == dag_rows


def test_a_day_without_posts_publishes_empty_tables_and_its_week_rolls_up(
    tmp_path: Path, e2e_config
) -> None:
    """The scheduler's first run after unpausing is often a quiet day: nothing may jam on it."""
    env = _airflow_env(tmp_path, e2e_config)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, timeout=600, check=True
    )
    empty = date(2026, 11, 16)  # a Monday: its ISO week 2026-W47 holds no post at all
    run = subprocess.run(
        [sys.executable, "-m", "trendscope.orchestration.local_airflow",
         "--dates", empty.isoformat(), "--rollup"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert f"trendscope_daily {empty}: success" in run.stdout
    assert f"trendscope_rollup {empty}: success" in run.stdout
    root = e2e_config.data_root
    for location in ("shibuya", "brooklyn"):
        images = pq.read_table(partition_path(root, "images", location, empty))
        assert images.num_rows == 0
        trends = pq.read_table(partition_path(root, "trends_daily", location, empty)).to_pylist()
        assert all(r["trend"] == "insufficient" for r in trends)
        week = pq.read_table(period_partition_path(root, "trends_weekly", location, "2026-W47"))
        assert week.num_rows == 0  # an empty period is a valid rollup
