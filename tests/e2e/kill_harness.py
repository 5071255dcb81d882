"""Kill ``trendscope run`` with SIGKILL at chosen points, re-run the day, compare with a clean run.

Used by ``tests/e2e/test_kill.py`` (a few trials in ``make test``) and by
``benchmarks/bench_kill.py`` (the full run recorded in ``benchmarks/RESULTS.md``).

A clean run is timed first and its runs table gives when each step ended; each trial then
picks a step (ingest, analyze, publish, trends, in turn) and a random instant inside it, kills
the process there, checks that what is published is whole (a day's ``images`` and
``detections`` from one publish, or a pending publish that readers follow), re-runs the day
with the same run id (as an Airflow retry does) and compares every published table with the
clean run's, row for row.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

PHASES = ("ingest", "analyze", "publish", "trends")
TABLES = ("images", "detections", "colors", "tags", "trends_daily")
KEYS = {  # what identifies a row of each table
    "images": ("source_uri",),
    "detections": ("image_id", "detection"),
    "colors": ("image_id", "detection", "rank"),
    "tags": ("image_id", "kind", "tag"),
    "trends_daily": ("kind", "label", "fine_label"),
}


@dataclass
class Trial:
    """One kill and re-run; ``problems`` is empty when everything held."""

    index: int
    phase: str
    kill_after_s: float
    killed: bool  # False: the run had already finished when the signal was due
    republish: bool = False  # the day was already published before this run
    steps_done_at_kill: list[str] = field(default_factory=list)
    pending_publish_at_kill: bool = False
    rerun_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _command(location: str, day: date, data: Path, source: Path, run_id: str) -> list[str]:
    return [sys.executable, "-m", "trendscope", "run", "--location", location,
            "--date", day.isoformat(), "--data-dir", str(data), "--source-dir", str(source),
            "--run-id", run_id]  # fmt: skip


def _run(cmd: list[str], env: dict[str, str], timeout: float = 600) -> float:
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def _rows(data: Path, location: str, day: date) -> dict[str, list[dict]]:
    """Every published table of the location-day, rows sorted, as plain values."""
    from trendscope.tables.paths import partition_path

    out = {}
    for table in TABLES:
        path = Path(partition_path(str(data), table, location, day))
        rows = pq.read_table(path).to_pylist() if path.is_file() else []
        keys = KEYS[table]
        out[table] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        # sums of floats (e.g. author entropy) may differ in the last bit with the order DuckDB
        # adds them in; anything beyond rounding is a different value
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


def same_rows(got: list[dict], want: list[dict]) -> bool:
    """The same rows (keys and values), floats equal up to rounding."""
    return len(got) == len(want) and all(
        g.keys() == w.keys() and all(_same(g[k], w[k]) for k in g)
        for g, w in zip(got, want, strict=True)
    )


def _phase_ends(data: Path, location: str, day: date, started_wall: float) -> dict[str, float]:
    """Seconds from the process start to the end of each step, from the runs table."""
    from trendscope.pipeline.runs import read_runs

    ends: dict[str, float] = {}
    for row in read_runs(str(data), location, day):
        t = row["ended_at"].timestamp() - started_wall
        if t >= 0:  # attempts of this process only (a copied root holds earlier ones)
            ends[row["step"]] = max(ends.get(row["step"], 0.0), t)
    return ends


def _whole(data: Path, location: str, day: date) -> list[str]:
    """What a reader would get that is not one version of the day (empty: all is well)."""
    from trendscope.tables.commit import InconsistentDayError, read_together
    from trendscope.tables.schemas import COLORS, DETECTIONS, IMAGES, TAGS

    try:
        read_together(
            str(data), location, day, [(t, None) for t in (IMAGES, DETECTIONS, COLORS, TAGS)]
        )
    except FileNotFoundError:
        return []  # nothing published yet: fine
    except InconsistentDayError as exc:
        return [f"half-published day: {exc}"]
    return []


def _leftovers(data: Path, location: str, day: date) -> list[str]:
    """Staging files of the day still there after a successful re-run."""
    staging = data / "staging"
    left = [p for p in staging.rglob("*") if p.is_file() and f"date={day.isoformat()}" in str(p)]
    left += [p for p in (staging / "commits").rglob("*") if p.is_file()]
    left += [p for p in (data / "commits").rglob("*.json")]
    return [str(p.relative_to(data)) for p in left]


def clean_run(
    location: str, day: date, source: Path, work: Path, env: dict[str, str]
) -> tuple[Path, dict[str, float]]:
    """An uninterrupted run: its data root and when each step ended (seconds from start)."""
    data = work / "clean"
    started_wall = time.time()
    _run(_command(location, day, data, source, "clean"), env)
    return data, _phase_ends(data, location, day, started_wall)


def run_trials(
    n: int,
    location: str,
    day: date,
    source: Path,
    work: Path,
    env: dict[str, str],
    *,
    seed: int = 0,
) -> tuple[list[Trial], dict[str, float]]:
    """``n`` kill-and-re-run trials, phases in turn; also returns the clean run's step ends.

    Every other trial starts from a copy of the clean run's data root, so the kill hits a day
    that is already published (a re-run), where a mix of the old and new version would show.
    """
    rng = random.Random(seed)
    clean, ends = clean_run(location, day, source, work, env)
    expected = _rows(clean, location, day)
    bounds = [0.0] + [ends[p] for p in PHASES]
    trials = []
    for i in range(n):
        phase = PHASES[i % len(PHASES)]
        k = PHASES.index(phase)
        lo, hi = bounds[k], bounds[k + 1]
        if phase == "ingest":
            lo = max(lo, 0.5 * hi)  # the first half is the interpreter and imports starting
        at = rng.uniform(lo, hi)
        data = work / f"trial-{i:02d}"
        republish = i % 8 >= 4  # each phase, first on an empty root, then over a published day
        if republish:
            shutil.copytree(clean, data)
        trial = Trial(index=i, phase=phase, kill_after_s=round(at, 3), killed=False)
        trial.republish = republish
        cmd = _command(location, day, data, source, f"trial-{i}")
        started_wall = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=at)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            trial.killed = True
        done = _phase_ends(data, location, day, started_wall) if (data / "runs").exists() else {}
        trial.steps_done_at_kill = [p for p in PHASES if p in done]
        trial.pending_publish_at_kill = any((data / "commits").rglob("*.json"))
        trial.problems += _whole(data, location, day)
        trial.rerun_s = round(_run(cmd, env), 2)
        got = _rows(data, location, day)
        for table in TABLES:
            if not same_rows(got[table], expected[table]):
                trial.problems.append(
                    f"{table}: {len(got[table])} rows after the re-run, {len(expected[table])} "
                    "in the clean run, or different values"
                )
        trial.problems += [f"left in staging: {p}" for p in _leftovers(data, location, day)]
        trial.problems += _whole(data, location, day)
        trials.append(trial)
        shutil.rmtree(data, ignore_errors=True)
    return trials, ends
