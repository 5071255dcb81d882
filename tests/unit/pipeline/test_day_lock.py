"""Two runs of the same location-day in two processes never interleave (local root and S3).

Each run is a real process (``lock_harness.py``: the real ``run_step``/``run_day`` with steps
that only log when they start and end, or the real ``trendscope`` CLI), so the lease is taken,
renewed and released across processes exactly as Airflow tasks and pods do it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from pipeline_days import DAY1
from s3_faults import CREDENTIALS, moto_server
from trendscope.cli import main as cli_main
from trendscope.pipeline.runs import read_runs
from trendscope.tables import locks, storage
from trendscope.tables.paths import partition_path

HARNESS = Path(__file__).with_name("lock_harness.py")
STEPS = ["ingest", "analyze", "publish", "trends"]


@pytest.fixture(scope="module")
def s3_endpoint():
    mp = pytest.MonkeyPatch()
    for var, value in CREDENTIALS.items():
        mp.setenv(var, value)
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="lake"
        )
        yield endpoint
    storage.configure(None, None)
    mp.undo()


class Day:
    """A data root (local or S3) and the processes started on it."""

    def __init__(self, root: str, endpoint: str, events: Path) -> None:
        self.root, self.endpoint, self.events = root, endpoint, events
        self.env = {**os.environ, **CREDENTIALS}
        if endpoint:
            self.env["TRENDSCOPE_S3_ENDPOINT_URL"] = endpoint

    def start(self, run_id: str, steps: str = "day", step_s: float = 0.3, wait_s: float = 30):
        args = [str(self.events), self.root, run_id, steps, str(step_s), str(wait_s)]
        return subprocess.Popen(
            [sys.executable, str(HARNESS), *args, self.endpoint],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cli(self, *args: str, wait_s: float) -> subprocess.CompletedProcess:
        env = {**self.env, "TRENDSCOPE__LOCKS__WAIT_S": str(wait_s)}
        return subprocess.run(
            [sys.executable, "-m", "trendscope", *args, "--data-dir", self.root],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def lease(self) -> locks.Lease | None:
        return locks.read_lease(self.root, "shibuya", DAY1)

    def held_by(self, owner: str | None, timeout_s: float = 30) -> locks.Lease:
        """The lease once ``owner`` (anyone, when ``None``) holds it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lease = self.lease()
            if lease is not None and owner in (None, lease.owner):
                return lease
            time.sleep(0.05)
        raise AssertionError(f"{owner or 'nobody'} took the lease")

    def started(self, who: str, step: str, timeout_s: float = 30) -> None:
        """Wait until ``who`` logged the start of ``step``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(e[1:] == (who, step, "start") for e in self.log()):
                return
            time.sleep(0.05)
        raise AssertionError(f"{who} never started {step}")

    def log(self) -> list[tuple[float, str, str, str]]:
        if not self.events.exists():
            return []
        rows = [line.split() for line in self.events.read_text().splitlines()]
        return sorted((float(t), who, step, what) for t, who, step, what in rows)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.fixture(params=["local", "s3"])
def day(request, tmp_path, monkeypatch) -> Day:
    if request.param == "local":
        storage.configure(None, None)
        return Day(str(tmp_path / "data"), "", tmp_path / "events.txt")
    endpoint = request.getfixturevalue("s3_endpoint")
    storage.configure(endpoint, "us-east-1")
    monkeypatch.setenv("TRENDSCOPE_S3_ENDPOINT_URL", endpoint)  # for the CLI run in-process
    return Day(f"s3://lake/{tmp_path.name}", endpoint, tmp_path / "events.txt")


def test_a_second_run_waits_for_the_first_and_never_interleaves(day) -> None:
    first = day.start("scheduled__2026-11-02", step_s=1.5)  # 6 s: the second comes meanwhile
    day.held_by("scheduled__2026-11-02")
    second = day.start("manual__2026-11-05")

    assert finish(first)[0] == 0
    code, err = finish(second)
    assert code == 0, err
    assert "shibuya 2026-11-02 is held by run 'scheduled__2026-11-02'" in err  # it waited
    log = day.log()
    assert [(who, step, what) for _, who, step, what in log] == [
        (run, step, what)
        for run in ("scheduled__2026-11-02", "manual__2026-11-05")
        for step in STEPS
        for what in ("start", "end")
    ]  # one whole run, then the other: never a step of both at once
    assert day.lease() is None  # released by the second run's trends


def test_a_run_that_cannot_wait_fails_naming_the_holder_and_writes_nothing(day) -> None:
    first = day.start("scheduled__2026-11-02", step_s=1.5)
    holder = day.held_by("scheduled__2026-11-02")

    second = day.cli(
        "ingest",
        "--location",
        "shibuya",
        "--date",
        "2026-11-02",
        "--run-id",
        "manual__x",
        wait_s=0.5,
    )
    assert second.returncode == 1
    assert "error: shibuya 2026-11-02 is being processed by another run: run " in second.stderr
    for part in (
        "'scheduled__2026-11-02' (running ",
        f"on host {holder.host}, pid {holder.pid}, since ",
        holder.acquired_at.isoformat().replace("+00:00", "Z"),
        "lease expires ",
        "trendscope unlock --location shibuya --date 2026-11-02",
    ):
        assert part in second.stderr
    assert finish(first)[0] == 0
    # the refused run wrote nothing: no staging, no attempt of its own in the runs table
    assert not storage.exists(partition_path(day.root, "images", "shibuya", DAY1, "staging"))
    runs = {r["run_id"] for r in read_runs(day.root, "shibuya", DAY1)}
    assert runs == {"scheduled__2026-11-02"}
    assert {who for _, who, _, _ in day.log()} == {"scheduled__2026-11-02"}


def test_the_steps_of_one_run_re_enter_from_other_processes(day) -> None:
    assert finish(day.start("scheduled__r", steps="ingest"))[0] == 0
    assert day.held_by("scheduled__r").step == "ingest"  # held between the run's tasks

    code, err = finish(day.start("manual__other", steps="ingest", wait_s=0))
    assert code == 1 and "run 'scheduled__r' (last step ingest on host" in err

    code, err = finish(day.start("scheduled__r", steps="analyze,publish,trends", wait_s=0))
    assert code == 0, err
    assert day.lease() is None  # trends released it
    assert finish(day.start("manual__other", wait_s=0))[0] == 0


def test_an_expired_lease_of_a_killed_run_is_taken_over(day) -> None:
    dead = day.start("scheduled__dead", step_s=30)
    held = day.held_by("scheduled__dead")
    day.started("scheduled__dead", "ingest")
    dead.send_signal(signal.SIGKILL)
    dead.wait()

    code, err = finish(day.start("manual__next", wait_s=0))
    assert code == 1 and "run 'scheduled__dead' (last step ingest" in err  # not expired yet
    # the lease's time passes
    past = datetime.now(UTC) - timedelta(seconds=1)
    aged = replace(held, renewed_at=past - timedelta(minutes=180), expires_at=past)
    storage.write_bytes_atomic(aged.to_bytes(), locks.lock_path(day.root, "shibuya", DAY1))

    code, err = finish(day.start("manual__next", wait_s=0))
    assert code == 0, err
    assert "took over the lease of shibuya 2026-11-02 (expired) from run 'scheduled__dead'" in err
    log = [(who, step, what) for _, who, step, what in day.log()]
    assert log[0] == ("scheduled__dead", "ingest", "start")  # killed inside its first step
    assert log[1:] == [("manual__next", s, w) for s in STEPS for w in ("start", "end")]
    assert day.lease() is None


def test_a_cli_run_without_a_run_id_holds_the_day_only_while_it_runs(day) -> None:
    assert finish(day.start("-", steps="ingest", wait_s=0))[0] == 0
    assert day.lease() is None  # nobody could resume it: released at once
    first = day.start("-", step_s=1.0)
    assert day.held_by(None).owner.startswith("cli-")  # a generated owner for the whole run
    code, err = finish(day.start("scheduled__x", steps="ingest", wait_s=0))
    assert code == 1 and "run 'cli-" in err
    assert finish(first)[0] == 0
    assert day.lease() is None


def test_a_failed_run_does_not_block_the_re_run_of_the_day(day) -> None:
    code, err = finish(day.start("scheduled__broken", steps="ingest!", wait_s=0))
    assert code == 1 and "ingest failed as planned" in err
    held = day.lease()
    assert (held.owner, held.failed, held.running) == ("scheduled__broken", ("ingest",), ())

    code, err = finish(day.start("manual__fixed", wait_s=0))  # the cause fixed, the day re-run
    assert code == 0, err
    assert (
        "took over the lease of shibuya 2026-11-02 (its ingest failed and nothing of it runs) "
        "from run 'scheduled__broken'"
    ) in err
    assert day.lease() is None


def test_a_killed_cli_run_does_not_block_the_next_one_on_its_host(day) -> None:
    killed = day.start("-", step_s=30)
    lease = day.held_by(None)
    assert lease.scope == "process" and lease.pid == killed.pid
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    code, err = finish(day.start("-", wait_s=0))
    assert code == 0, err
    assert f"took over the lease of shibuya 2026-11-02 (abandoned) from run '{lease.owner}'" in err
    assert day.lease() is None


def test_unlock_breaks_a_dead_runs_lease(day, capsys) -> None:
    dead = day.start("scheduled__dead", step_s=30)
    day.held_by("scheduled__dead")
    dead.send_signal(signal.SIGKILL)
    dead.wait()

    args = ["unlock", "--location", "shibuya", "--date", "2026-11-02", "--data-dir", day.root]
    assert cli_main(args) == 0
    assert "removed the lease of run 'scheduled__dead' (last step ingest" in capsys.readouterr().out
    assert day.lease() is None
    assert cli_main(args) == 0
    assert "no lease to remove" in capsys.readouterr().out
