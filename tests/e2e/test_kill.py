"""SIGKILL a ``trendscope run`` in each step, re-run the day: the tables equal a clean run's.

A few trials here (one kill in each of ingest, analyze, publish and trends, on an empty root
and over an already published day); ``benchmarks/bench_kill.py`` runs the full set and its
figures are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kill_harness import PHASES, run_trials

from e2e_data import DAY

pytestmark = pytest.mark.e2e


def test_killed_runs_leave_whole_days_and_a_rerun_restores_them(
    tmp_path: Path, dropzone: Path, models_dir: Path
) -> None:
    env = {**os.environ, "TRENDSCOPE_MODELS_DIR": str(models_dir)}
    trials, ends = run_trials(8, "shibuya", DAY, dropzone, tmp_path, env, seed=1)
    print("clean run, seconds to the end of each step:", ends)
    for t in trials:
        print(t.to_dict())
    assert [t.phase for t in trials] == [*PHASES, *PHASES]
    assert sum(t.killed for t in trials) >= 6  # the rest ended before their instant came
    # the kills landed in different steps (how many steps had finished varies from 0 up)
    done_at_kill = {len(t.steps_done_at_kill) for t in trials if t.killed}
    assert 0 in done_at_kill and len(done_at_kill) >= 3, done_at_kill
    assert [t.problems for t in trials] == [[]] * len(trials)
