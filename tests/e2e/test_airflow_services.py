"""The DAGs under real Airflow services: a backfill through the scheduler on PostgreSQL.

PostgreSQL (Debian's package), then ``airflow db migrate`` and the API server, scheduler,
dag-processor and triggerer (LocalExecutor), with the repository's ``dags/`` and a small demo
drop zone (one location, three days). Unpausing ``trendscope_daily`` makes the scheduler start
the latest finished day (``catchup=False``), whose ``wait_for_day_end`` sensor defers to the
triggerer; the demo's last day is that one, and ``airflow backfill create --from-date A
--to-date B`` asks for the two days before it, as the README writes it. Every day must run and
succeed, the backfill must process exactly A..B, every daily run must start one
``trendscope_rollup`` run for its day and those must succeed and write the week and month,
the UI must label mapped tasks by location, and ``trends_daily`` must equal an in-order run of
the same days in this process.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from airflow_services import (
    Services,
    airflow,
    airflow_env,
    airflow_services,
    free_port,
    postgres_bin,
)
from airflow_services import postgres as postgres_cluster

from e2e_data import REPO
from trendscope.config import DEFAULT_CONFIG_PATH, load_config
from trendscope.tables.paths import partition_path, period_partition_path
from trendscope.trends.calendar import periods_touched

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(postgres_bin() is None, reason="needs Debian's postgresql (make setup)"),
]

LOCATION = "shibuya"
DAILY, ROLLUP = "trendscope_daily", "trendscope_rollup"
TERMINAL = {"success", "failed"}


def _latest_finished_day(now: datetime) -> date:
    """The day of the latest daily interval that has ended (UTC midnight to midnight)."""
    return now.astimezone(UTC).date() - timedelta(days=1)


def _day(run: dict) -> date:
    return datetime.fromisoformat(run["logical_date"]).astimezone(UTC).date()


def _wait_for_runs(services: Services, days: int, timeout: float) -> tuple[list, list]:
    """Until ``days`` daily runs and the rollup runs they triggered have ended."""
    deadline = time.monotonic() + timeout
    while True:
        services.check_alive()
        daily, rollup = services.dag_runs(DAILY), services.dag_runs(ROLLUP)
        runs = daily + rollup
        if len(daily) >= days and len(rollup) >= days and all(r["state"] in TERMINAL for r in runs):
            return daily, rollup
        if time.monotonic() > deadline:
            states = [(r["run_type"], r.get("logical_date"), r["state"]) for r in runs]
            raise TimeoutError(f"runs not done in {timeout:.0f} s: {states}")
        time.sleep(5)


def _map_labels(services: Services, run: dict) -> dict[str, list[str]]:
    """The labels the UI shows for each mapped task of a run (its rendered map indexes)."""
    tis = services.get(f"/api/v2/dags/{DAILY}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100")[
        "task_instances"
    ]
    labels: dict[str, list[str]] = {}
    for ti in tis:
        if ti["map_index"] >= 0:
            labels.setdefault(ti["task_id"], []).append(ti.get("rendered_map_index"))
    return labels


def _trends(data: Path, day: date) -> pd.DataFrame:
    path = Path(partition_path(str(data), "trends_daily", LOCATION, day))
    assert path.is_file(), path
    return pq.read_table(path).to_pandas()


def test_backfill_through_the_scheduler_on_postgres(tmp_path: Path, models_dir: Path) -> None:
    from trendscope.demo import build_demo
    from trendscope.pipeline.run import run_day

    last = _latest_finished_day(datetime.now(UTC))
    days = [last - timedelta(days=2), last - timedelta(days=1), last]
    requested = days[:2]
    raw = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    raw["locations"] = [loc for loc in raw["locations"] if loc["slug"] == LOCATION]
    raw["start_date"] = days[0].isoformat()
    (tmp_path / "trendscope.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "trendscope.yaml", environ={})
    build_demo(
        tmp_path / "dropzone",
        start=days[0],
        days=len(days),
        posts_per_day=12,
        locations={loc.slug: loc.timezone for loc in config.locations},
    )
    trendscope_env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "TRENDSCOPE_CONFIG": str(tmp_path / "trendscope.yaml"),
        "TRENDSCOPE_DATA_DIR": str(tmp_path / "airflow-data"),
        "TRENDSCOPE_SOURCE_DIR": str(tmp_path / "dropzone"),
        "TRENDSCOPE_MODELS_DIR": str(models_dir),
    }
    started = time.monotonic()
    with postgres_cluster() as sql_conn:
        home = tmp_path / "airflow_home"
        env = airflow_env(home, sql_conn, free_port(), trendscope_env)
        with airflow_services(env, home) as services:
            try:
                services.wait_ready()
                services.wait_dags([DAILY, ROLLUP])
                for dag_id in (ROLLUP, DAILY):
                    airflow(env, "dags", "unpause", dag_id)
                airflow(env, "backfill", "create", "--dag-id", DAILY,
                        "--from-date", requested[0].isoformat(),
                        "--to-date", requested[-1].isoformat(),
                        "--max-active-runs", "2")  # fmt: skip
                daily, rollup = _wait_for_runs(services, len(days), timeout=420)
                labels = _map_labels(services, daily[-1])
                print(
                    "runs:",
                    [
                        (
                            r["run_type"],
                            r.get("logical_date"),
                            r["state"],
                            r.get("start_date"),
                            r.get("end_date"),
                        )
                        for r in daily + rollup
                    ],
                )
                print("map index labels:", labels)
            except BaseException:
                print(services.logs_tail())
                raise
    print(f"Airflow services part: {time.monotonic() - started:.0f} s")

    states = {(r["run_type"], _day(r)): r["state"] for r in daily}
    assert states == {
        ("backfill", requested[0]): "success",
        ("backfill", requested[1]): "success",
        ("scheduled", days[2]): "success",
    }
    assert rollup and all(r["state"] == "success" for r in rollup), rollup
    # every daily run started exactly one rollup run for its own day
    assert sorted(r["conf"]["date"] for r in rollup) == [d.isoformat() for d in days]
    # the UI names mapped tasks by location and shard, not [0], [1]
    assert labels["ingest"] == [LOCATION]
    assert labels["analyze"] == [f"{LOCATION} shard 1/1"]
    assert labels["location.publish"] == [LOCATION]
    assert labels["location.trends"] == [LOCATION]

    data = tmp_path / "airflow-data"
    for kind, table in (("week", "trends_weekly"), ("month", "trends_monthly")):
        for period in periods_touched(days)[kind]:
            assert Path(period_partition_path(str(data), table, LOCATION, period)).is_file()

    reference = load_config(
        tmp_path / "trendscope.yaml",
        environ={},
        overrides={
            "data_dir": str(tmp_path / "in-order"),
            "source.path": str(tmp_path / "dropzone"),
            "models_dir": str(models_dir),
        },
    )
    for day in days:
        list(run_day(reference, LOCATION, day))
    for day in days:
        pd.testing.assert_frame_equal(
            _trends(data, day), _trends(tmp_path / "in-order", day),
            check_exact=False, rtol=1e-12, atol=1e-12, obj=f"trends {day}",
        )  # fmt: skip
