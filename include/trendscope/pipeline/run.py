"""A whole location-day without Airflow: the same step functions the DAG tasks call."""

from __future__ import annotations

from datetime import date

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.shards import Shard
from trendscope.pipeline.trends import trends_day

STEPS = {
    "ingest": ingest_day,
    "analyze": analyze_day,
    "publish": publish_day,
    "trends": trends_day,
}


def run_step(config: TrendscopeConfig, step: str, location: str, day: date) -> StepResult:
    """Run one named step for a location-day."""
    try:
        fn = STEPS[step]
    except KeyError:
        raise ValueError(f"unknown step {step!r} (known: {', '.join(STEPS)})") from None
    return fn(config, location, day)


def run_day(
    config: TrendscopeConfig, location: str, day: date, source_dir: str | None = None
) -> list[StepResult]:
    """Ingest, analyze (every shard, one after another), publish and compute trends of a day."""
    ingested = ingest_day(config, location, day, source_dir=source_dir)
    results = [ingested]
    n = ingested.counts["shards"]
    results += [analyze_day(config, location, day, Shard(i, n)) for i in range(n)]
    for step in ("publish", "trends"):
        results.append(run_step(config, step, location, day))
    return results
