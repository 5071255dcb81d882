"""Kill tests, full run: SIGKILL ``trendscope run`` in every step, re-run, compare (issue 13).

    .venv/bin/python benchmarks/bench_kill.py [--trials 24] [--seed 7]

Builds one demo day of 40 posts (real photos) for shibuya, times a clean
run, then kills and re-runs it ``--trials`` times (see ``tests/e2e/kill_harness.py``), and
writes ``benchmarks/results/kill.json``. Exit code 1 when any trial found a problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from kill_harness import run_trials  # noqa: E402

from trendscope.demo import build_demo  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "kill.json"))
    args = parser.parse_args()
    day = date(2026, 11, 5)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_demo(
            work / "dropzone",
            start=day,
            days=1,
            posts_per_day=40,
            locations={"shibuya": "Asia/Tokyo"},
        )
        env = {**os.environ, "TRENDSCOPE_MODELS_DIR": str(REPO / "models")}
        trials, ends = run_trials(
            args.trials, "shibuya", day, work / "dropzone", work, env, seed=args.seed
        )
    summary = {
        "trials": len(trials),
        "killed": sum(t.killed for t in trials),
        "by_phase": Counter(t.phase for t in trials if t.killed),
        "steps_done_at_kill": Counter(len(t.steps_done_at_kill) for t in trials if t.killed),
        "pending_publish_at_kill": sum(t.pending_publish_at_kill for t in trials),
        "over_a_published_day": sum(t.republish for t in trials),
        "with_problems": sum(bool(t.problems) for t in trials),
        "clean_run_step_ends_s": {k: round(v, 2) for k, v in ends.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"summary": summary, "trials": [t.to_dict() for t in trials]}, indent=1, default=str
        )
    )
    print(json.dumps(summary, indent=1, default=str))
    for t in trials:
        if t.problems:
            print(f"trial {t.index} ({t.phase}): {t.problems}")
    return 1 if summary["with_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
