"""Through Airflow, days run out of order end with the trends an in-order run gives.

Two Airflow homes and data roots are fed the same demo drop zone (real photos, real models) at
the same time: one runs ``trendscope_daily`` day after day; the other runs the days shuffled,
each followed by a ``trendscope_rollup`` run on that run's ``trends_daily`` asset events, as the
scheduler starts it. Every ``trends_daily`` partition must match row for row.

The demo is cut to one location and three days to keep this under a few minutes: every
published partition passes a Great Expectations suite (~8 s each here).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from e2e_data import MODELS_DIR, REPO
from trendscope.config import DEFAULT_CONFIG_PATH, load_config
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e

LOCATION = "shibuya"  # the demo's trend location: cats rise from its day 4
START = date(2026, 11, 2)
DAYS = [START + timedelta(days=k) for k in range(3)]
SHUFFLED = [DAYS[2], DAYS[0], DAYS[1]]  # a day before its window, then two late days


@pytest.fixture(scope="module")
def setup(tmp_path_factory, models_dir) -> Path:
    """The one-location config, the demo drop zone and a migrated Airflow metadata DB."""
    from trendscope.demo import build_demo

    root = tmp_path_factory.mktemp("order")
    raw = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    raw["locations"] = [loc for loc in raw["locations"] if loc["slug"] == LOCATION]
    (root / "trendscope.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(root / "trendscope.yaml", environ={})
    build_demo(
        root / "dropzone",
        start=START,
        days=len(DAYS),
        posts_per_day=12,
        locations={loc.slug: loc.timezone for loc in config.locations},
    )
    (root / "home").mkdir()
    migrate = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=_env(root, "home"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return root


def _env(root: Path, name: str) -> dict[str, str]:
    home = root / name
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "TRENDSCOPE_CONFIG": str(root / "trendscope.yaml"),
        "TRENDSCOPE_DATA_DIR": str(home / "data"),
        "TRENDSCOPE_SOURCE_DIR": str(root / "dropzone"),
        "TRENDSCOPE_MODELS_DIR": str(MODELS_DIR),
    }


def _start(root: Path, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start ``local_airflow`` in its own copy of the migrated Airflow home; log to a file."""
    if name != "home":
        shutil.copytree(root / "home", root / name)
    log = root / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trendscope.orchestration.local_airflow", *args],
            env=_env(root, name), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return proc, log


def _trends(data: Path) -> dict[date, pd.DataFrame]:
    out = {}
    for day in DAYS:
        path = Path(partition_path(str(data), "trends_daily", LOCATION, day))
        assert path.is_file(), path
        out[day] = pq.read_table(path).to_pandas()
    return out


def _images(data: Path, day: date) -> list[tuple[str, str]]:
    rows = pq.read_table(partition_path(str(data), "images", LOCATION, day)).to_pylist()
    return sorted((r["image_id"], r["status"]) for r in rows)


def test_shuffled_days_with_rollup_runs_end_as_an_in_order_run(setup: Path) -> None:
    dates = ",".join(d.isoformat() for d in SHUFFLED)
    in_order, in_order_log = _start(setup, "in_order", "--start", START.isoformat(), "--days", "3")
    shuffled, shuffled_log = _start(setup, "home", "--dates", dates, "--rollup-each-day")
    for proc, log in ((in_order, in_order_log), (shuffled, shuffled_log)):
        assert proc.wait(timeout=1500) == 0, log.read_text()[-5000:]
    out = shuffled_log.read_text()
    for day in SHUFFLED:
        assert f"trendscope_daily {day}: success" in out
        assert f"trendscope_rollup {day}: success" in out
    # the first day ran before any day of its window was published ...
    assert re.search(rf"trends {LOCATION} {DAYS[2]}: 28 window day\(s\) not published", out)
    # ... and the rollup run on each daily run's asset event recomputed it after each late day
    for first in DAYS[:2]:
        assert f"refresh {LOCATION}: 1 changed day(s) -> 2 day(s) recomputed: {first} .. " in out

    got, want = _trends(setup / "home" / "data"), _trends(setup / "in_order" / "data")
    for day in DAYS:
        # the same posts reached the tables (the demo has no repost across days)
        assert _images(setup / "home" / "data", day) == _images(setup / "in_order" / "data", day)
        # floats to 1e-12: DuckDB's double sums depend on how many days one query reads
        pd.testing.assert_frame_equal(
            got[day], want[day], check_exact=False, rtol=1e-12, atol=1e-12, obj=f"trends {day}"
        )
    assert (want[DAYS[2]].baseline_days == 2).all()  # the last day's baseline holds both others
