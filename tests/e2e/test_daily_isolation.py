"""One broken location-day through the real daily DAG: it fails alone, alerts say so, status too.

The demo drop zone (real photos, real models) runs through ``trendscope_daily`` with
``local_airflow`` as ``make run`` does, with alerts going to an SMTP server on localhost. On the
last day a regular file sits where brooklyn's staging directory must be created (a leftover of a
broken copy of the data directory), so its ingest cannot write and fails. Shibuya still
publishes that day and its rising cats are mailed; the failure is mailed and shown by
``trendscope status`` until the file is removed and the day re-run. Brooklyn's folder that day
also holds a photo whose file name is not UTF-8 (``caf\\xe9.jpg``: Latin-1 bytes, as a copy from
an older system or a zip archive keeps them): bad input, so it is published as a quarantined
row, and it fails nothing.

Four demo days are the fewest that give the cat trend: it is planted from day 4 (2026-11-05),
judged against the three days before it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from e2e_data import RECIPIENT, REPO, Inbox, readable
from trendscope.cli import main
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e

DAYS = [date(2026, 11, 2) + timedelta(days=k) for k in range(4)]
BROKEN = DAYS[-1]  # the first day of the planted cat trend in shibuya
BAD_NAME = b"caf\xe9.jpg"  # Latin-1 bytes: not a UTF-8 file name
STORED_NAME = "caf\\xe9.jpg"  # how ``images.source_uri`` names it: the byte escaped
TABLES = ("images", "detections", "trends_daily")


def _env(tmp_path: Path, models_dir: Path) -> dict[str, str]:
    home = tmp_path / "airflow_home"
    home.mkdir()
    return {
        **os.environ,  # AIRFLOW_CONN_SMTP_DEFAULT from the inbox fixture
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # The DAG retries a failed task twice with exponential backoff from 5 minutes; this caps
        # the backoff (not a fixed retry_delay) at 1 s, so DAG.test does not sit in the delay.
        "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "1",
        "TRENDSCOPE_DATA_DIR": str(tmp_path / "data"),
        "TRENDSCOPE_SOURCE_DIR": str(tmp_path / "dropzone"),
        "TRENDSCOPE_MODELS_DIR": str(models_dir),
        "TRENDSCOPE__ALERTS__NOTIFIER": "smtp",
        "TRENDSCOPE__ALERTS__TO": f"[{RECIPIENT}]",
        # Airflow 3.3.2's DAG.test crashes when a run with a DeadlineAlert succeeds (it looks the
        # alert up by its serialized dict, not its id); no scheduler here would send one anyway.
        "TRENDSCOPE__ALERTS__ON_DEADLINE": "false",
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=1800
    )


def _status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    span = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]
    return _run(env, "-m", "trendscope", "status", *span, *args)


def _published(data: Path, location: str, day: date) -> list[bool]:
    return [Path(partition_path(str(data), t, location, day)).is_file() for t in TABLES]


def _rising_days(data: Path) -> set[date]:
    """Days whose published trends hold a label the digest lists (rising or new)."""
    found = set()
    for path in data.glob("tables/trends_daily/location=*/date=*/*.parquet"):
        trends = pq.read_table(path, columns=["date", "trend"]).to_pylist()
        found |= {r["date"] for r in trends if r["trend"] in ("rising", "new")}
    return found


def _by_kind(messages: list[tuple[list[str], EmailMessage]]) -> dict[str, list[EmailMessage]]:
    kinds: dict[str, list[EmailMessage]] = {}
    for to, message in messages:
        assert to == [RECIPIENT]
        kinds.setdefault(message["X-Trendscope-Alert"], []).append(message)
    return kinds


def test_a_broken_location_day_fails_alone_and_is_reported(
    tmp_path: Path, models_dir: Path, inbox: Inbox, capsys
) -> None:
    env = _env(tmp_path, models_dir)
    data, dropzone = tmp_path / "data", tmp_path / "dropzone"
    assert main(["demo-data", "--out", str(dropzone), "--days", str(len(DAYS))]) == 0
    capsys.readouterr()
    day_dir = dropzone / "brooklyn" / BROKEN.isoformat()
    shutil.copyfile(os.fsencode(min(day_dir.iterdir())), os.fsencode(day_dir) + b"/" + BAD_NAME)
    staging = Path(partition_path(str(data), "images", "brooklyn", BROKEN, area="staging")).parent
    staging.parent.mkdir(parents=True)
    staging.write_bytes(b"")  # a file where ingest must create the day's staging directory
    error = f"FileExistsError: [Errno 17] File exists: '{staging}'"

    migrate = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    days = ["--start", DAYS[0].isoformat(), "--days", str(len(DAYS))]
    run = _run(env, "-m", "trendscope.orchestration.local_airflow", *days)
    logs = (run.stdout + run.stderr)[-8000:]
    assert run.returncode == 1, logs
    for day in DAYS:
        state = "failed" if day == BROKEN else "success"
        assert f"trendscope_daily {day}: {state}" in run.stdout, logs

    # brooklyn's broken day published nothing; everything else, shibuya that day too, did
    assert _published(data, "brooklyn", BROKEN) == [False] * 3
    for location in ("shibuya", "brooklyn"):
        for day in DAYS:
            if (location, day) != ("brooklyn", BROKEN):
                assert _published(data, location, day) == [True] * 3, (location, day)

    # one alert per failed task of the broken day, none for another day or for shibuya
    alerts = _by_kind(inbox.take())
    failures = {m["Subject"]: m for m in alerts.pop("task-failure")}
    assert all(s.endswith(BROKEN.isoformat()) and "shibuya" not in s for s in failures), failures
    text = readable(failures[f"[trendscope] ingest failed for brooklyn {BROKEN}"])
    for part in (
        "Location brooklyn",
        f"Day {BROKEN}",
        "Step ingest",
        f"Error {error}",
    ):
        assert part in text, text
    # the rising digest: the partial day still reports shibuya's cats; quiet days send nothing
    digests = {m["Subject"].split(":")[0]: m for m in alerts.pop("rising-digest")}
    assert alerts == {}
    assert set(digests) == {f"[trendscope] rising on {d}" for d in _rising_days(data)}
    assert set(DAYS) - _rising_days(data)  # the days before the trend have no digest
    digest = digests[f"[trendscope] rising on {BROKEN}"]
    assert "cat (shibuya)" in digest["Subject"]
    assert re.search(r"shibuya cat \S+ rising", readable(digest))
    assert "brooklyn" not in readable(digest)  # it did not publish

    # trendscope status: the broken day failed with its step and error, shibuya published
    status = _status(env)
    assert status.returncode == 1, status.stdout + status.stderr
    assert re.search(rf"^{BROKEN}\s+\w+\s+published\s+failed\s*$", status.stdout, re.M)
    assert re.search(rf"brooklyn {BROKEN}  ingest, .*\n\s+{re.escape(error)}", status.stdout), (
        status.stdout
    )
    grid = json.loads(_status(env, "--json").stdout)
    assert grid["ok"] is False
    assert grid["counts"]["failed"] == 1
    assert grid["counts"]["published"] == 2 * len(DAYS) - 1
    cell = next(c for c in grid["cells"] if (c["location"], c["date"]) == ("brooklyn", str(BROKEN)))
    assert cell["state"] == "failed"
    ingest = next(f for f in cell["failures"] if f["step"] == "ingest")
    assert ingest["error"] == error

    # the user removes the stray file and re-runs the day: every location-day is published
    staging.unlink()
    rerun = _run(env, "-m", "trendscope.orchestration.local_airflow", "--dates", str(BROKEN))
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-8000:]
    status = _status(env)
    assert status.returncode == 0, status.stdout
    images = pq.read_table(partition_path(str(data), "images", "brooklyn", BROKEN)).to_pylist()
    quarantined = {
        r["source_uri"].rsplit("/", 1)[1]: r["reason"]
        for r in images
        if r["status"] == "quarantined"
    }
    assert quarantined == {STORED_NAME: "file name is not valid UTF-8"}
    assert sum(r["status"] == "ok" for r in images) > 0  # the day's photos as always
    assert "task-failure" not in _by_kind(inbox.take())
