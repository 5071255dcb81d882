"""A whole location-day without Airflow: the same step functions the DAG tasks call.

:func:`run_step` is the one place every step goes through (the CLI, the Airflow tasks, the
pods, :func:`run_day`), so it is where each attempt is recorded in the ``runs`` table.
"""

from __future__ import annotations

from datetime import date

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.runs import Attempt
from trendscope.pipeline.shards import Shard
from trendscope.pipeline.trends import trends_day

STEPS = {
    "ingest": ingest_day,
    "analyze": analyze_day,
    "publish": publish_day,
    "trends": trends_day,
}


def run_step(
    config: TrendscopeConfig,
    step: str,
    location: str,
    day: date,
    *,
    shard: Shard | None = None,
    source_dir: str | None = None,
    run_id: str | None = None,
) -> StepResult:
    """Run one named step for a location-day and record the attempt in the ``runs`` table.

    Args:
        config: The config.
        step: ``ingest``, ``analyze``, ``publish`` or ``trends``.
        location: Location slug.
        day: The day.
        shard: The analyze shard (default: the whole day as one shard); analyze only.
        source_dir: The drop zone (default: ``source.path``); ingest only.
        run_id: The Airflow run id, recorded with the attempt.

    Returns:
        The step's result. A step that raises is recorded as failed and its exception
        propagates unchanged.
    """
    try:
        fn = STEPS[step]
    except KeyError:
        raise ValueError(f"unknown step {step!r} (known: {', '.join(STEPS)})") from None
    if shard is not None and step != "analyze":
        raise ValueError(f"shard applies to the analyze step, not {step!r}")
    if source_dir is not None and step != "ingest":
        raise ValueError(f"source_dir applies to the ingest step, not {step!r}")
    config.location(location)  # an unknown location is a config error, not an attempt
    attempt = Attempt(
        config,
        step,
        location,
        day,
        shard=str(shard or Shard()) if step == "analyze" else None,
        run_id=run_id,
    )
    extra = {"ingest": {"source_dir": source_dir}, "analyze": {"shard": shard}}.get(step, {})
    try:
        result = fn(config, location, day, **extra)
    except BaseException as exc:  # a task timeout or an interrupt is a failed attempt too
        attempt.finish(error=exc)
        raise
    attempt.finish(result)
    return result


def run_day(
    config: TrendscopeConfig,
    location: str,
    day: date,
    source_dir: str | None = None,
    *,
    run_id: str | None = None,
) -> list[StepResult]:
    """Ingest, analyze (every shard, one after another), publish and compute trends of a day."""
    ingested = run_step(config, "ingest", location, day, source_dir=source_dir, run_id=run_id)
    n = ingested.counts["shards"]
    results = [ingested]
    results += [
        run_step(config, "analyze", location, day, shard=Shard(i, n), run_id=run_id)
        for i in range(n)
    ]
    for step in ("publish", "trends"):
        results.append(run_step(config, step, location, day, run_id=run_id))
    return results
