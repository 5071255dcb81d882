"""Which days ``airflow backfill create --from-date A --to-date B`` processes.

The backfill takes the runs whose *logical date* lies in ``[from, to]`` (Airflow's own
``_get_info_list``, which ``airflow backfill create`` calls). A daily run's logical date is
midnight UTC of the day it processes, so ``--from-date A --to-date B`` processes A..B, both
included, as an engineer reads it (the README's example).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from trendscope.orchestration.tasks import partition_date

REPO = Path(__file__).resolve().parents[2]

CASES = [
    # (--from-date, --to-date, days processed)
    ("2026-11-02", "2026-11-08", [date(2026, 11, d) for d in range(2, 9)]),  # a week, both ends
    ("2026-10-01", "2026-10-31", [date(2026, 10, d) for d in range(1, 32)]),  # README example
    ("2026-10-31", "2026-11-01", [date(2026, 10, 31), date(2026, 11, 1)]),  # across a month
    ("2026-11-05", "2026-11-05", [date(2026, 11, 5)]),  # one day
    ("2026-03-28", "2026-03-30", [date(2026, 3, d) for d in (28, 29, 30)]),  # over a DST change
]

# Airflow's backfill run selection on the serialized DAG, as the scheduler stores it.
_PROBE = r"""
import json, sys
from airflow._shared.timezones.timezone import parse
from airflow.dag_processing.dagbag import DagBag
from airflow.models.backfill import _get_info_list
from airflow.serialization.serialized_objects import DagSerialization
dag = DagBag(dag_folder=sys.argv[1]).dags["trendscope_daily"]
dag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
out = {}
for a, b in json.loads(sys.argv[2]):
    infos = _get_info_list(dag=dag, from_date=parse(a), to_date=parse(b), reverse=False)
    out[f"{a}..{b}"] = [i.logical_date.isoformat() for i in infos]
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[str, list[datetime]]:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    ranges = json.dumps([[a, b] for a, b, _ in CASES])
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(REPO / "dags"), ranges],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE"))
    return {k: [datetime.fromisoformat(t) for t in v] for k, v in json.loads(line[5:]).items()}


@pytest.mark.parametrize(("from_date", "to_date", "days"), CASES)
def test_backfill_processes_the_days_named(
    planned: dict[str, list[datetime]], from_date: str, to_date: str, days: list[date]
) -> None:
    logical = planned[f"{from_date}..{to_date}"]
    assert [partition_date({"logical_date": ts}) for ts in logical] == days
