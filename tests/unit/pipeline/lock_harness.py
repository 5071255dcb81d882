"""One run of a location-day in its own process, for ``test_day_lock``.

The real ``run_step``/``run_day`` (lease, runs table and all) run steps that only append
``<time> <run> <step> start|end`` to an events file and sleep in between, so two processes'
steps can be checked for overlap. Usage::

    python lock_harness.py EVENTS DATA_ROOT RUN_ID|- day|STEP[,STEP...] STEP_S WAIT_S [ENDPOINT]

A step written ``STEP!`` fails (raises) after it started.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import date

from trendscope.config import load_config
from trendscope.pipeline import run
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.shards import Shard

DAY = date(2026, 11, 2)


def main(
    events: str, root: str, run_id: str, steps: str, step_s: str, wait_s: str, endpoint: str = ""
) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    overrides = {"data_dir": root, "locks.wait_s": float(wait_s)}
    if endpoint:
        overrides |= {"storage.endpoint_url": endpoint, "storage.region": "us-east-1"}
    config = load_config(environ={}, overrides=overrides)
    who = run_id if run_id != "-" else "cli"
    failing = {s.rstrip("!") for s in steps.split(",") if s.endswith("!")}

    def fake(step: str):
        def step_fn(config, location, day, **kwargs) -> StepResult:
            with open(events, "a") as fh:
                fh.write(f"{time.time():.6f} {who} {step} start\n")
            time.sleep(float(step_s))
            if step in failing:
                raise RuntimeError(f"{step} failed as planned")
            with open(events, "a") as fh:
                fh.write(f"{time.time():.6f} {who} {step} end\n")
            return StepResult(step=step, location=location, date=day, counts={"shards": 1})

        return step_fn

    for name in run.STEPS:
        run.STEPS[name] = fake(name)
    rid = None if run_id == "-" else run_id
    if steps == "day":
        run.run_day(config, "shibuya", DAY, run_id=rid)
        return
    for step in steps.replace("!", "").split(","):
        shard = Shard(0, 1) if step == "analyze" else None
        run.run_step(config, step, "shibuya", DAY, shard=shard, run_id=rid)


if __name__ == "__main__":
    main(*sys.argv[1:])
