"""A whole location-day without Airflow: the same step functions the DAG tasks call.

:func:`run_step` is the one place every step goes through (the CLI, the Airflow tasks, the
pods, :func:`run_day`), so it is where each attempt is recorded in the ``runs`` table, and where
the location-day's lease (:mod:`trendscope.tables.locks`) keeps two runs of one day apart: each
step takes or renews it for its run before it starts, and a successful ``trends`` releases it.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.runs import Attempt
from trendscope.pipeline.shards import Shard
from trendscope.pipeline.trends import trends_day
from trendscope.tables import locks, storage

log = logging.getLogger(__name__)

STEPS = {
    "ingest": ingest_day,
    "analyze": analyze_day,
    "publish": publish_day,
    "trends": trends_day,
}
LAST_STEP = "trends"
"""The day's last step: its success ends the run's hold on the location-day."""


def day_lock(
    config: TrendscopeConfig, location: str, day: date, run_id: str | None
) -> locks.DayLock:
    """The lease of a location-day for the run ``run_id``, with the config's TTL and wait.

    Without a run id the run lives in this process only: a new owner whose lease a later run
    on this host may take over once this process is gone.
    """
    storage.use(config.storage)
    return locks.DayLock(
        config.data_root,
        location,
        day,
        run_id or locks.new_owner(),
        ttl=timedelta(minutes=config.locks.ttl_minutes),
        wait_s=config.locks.wait_s,
        process=run_id is None,
    )


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
        run_id: The Airflow run id, recorded with the attempt; it owns the location-day's lease
            from the run's first step to its ``trends``. Without one the step is a run of its
            own, holding the lease only while it runs.

    Returns:
        The step's result. A step that raises is recorded as failed and its exception
        propagates unchanged.

    Raises:
        DayLockedError: Another run held the location-day for longer than ``locks.wait_s``
            (no attempt is recorded: the step never started).
    """
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r} (known: {', '.join(STEPS)})")
    if shard is not None and step != "analyze":
        raise ValueError(f"shard applies to the analyze step, not {step!r}")
    if source_dir is not None and step != "ingest":
        raise ValueError(f"source_dir applies to the ingest step, not {step!r}")
    config.location(location)  # an unknown location is a config error, not an attempt
    if run_id is not None:  # a retry or the next step of this run takes the lease on
        lock = day_lock(config, location, day, run_id)
        return _locked_step(config, lock, step, location, day, shard, source_dir, run_id)
    with day_lock(config, location, day, None) as lock:  # nobody can resume it: released
        return _locked_step(config, lock, step, location, day, shard, source_dir, run_id)


def _locked_step(
    config: TrendscopeConfig,
    lock: locks.DayLock,
    step: str,
    location: str,
    day: date,
    shard: Shard | None,
    source_dir: str | None,
    run_id: str | None,
) -> StepResult:
    """Take or renew the day's lease, run the step as a recorded attempt, release after trends.

    A failed step stays noted on the lease: once nothing of its run runs, another run may take
    the day over (a fix and a re-run are never blocked by the failed run).
    """
    lock.acquire(step if shard is None else f"{step} {shard}")
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
        result = STEPS[step](config, location, day, **extra)
    except BaseException as exc:  # a task timeout or an interrupt is a failed attempt too
        attempt.finish(error=exc)
        _let_go(lock, failed=True)
        raise
    attempt.finish(result)
    _let_go(lock, failed=False, last=step == LAST_STEP)
    return result


def _let_go(lock: locks.DayLock, *, failed: bool, last: bool = False) -> None:
    """End the step's hold on the lease (release it after the day's last step); an object store
    that refuses only leaves the lease to expire, it never changes the step's outcome."""
    try:
        if last:
            lock.release()
        else:
            lock.finish(failed=failed)
    except Exception:
        log.exception("could not update the lease %s; it expires by itself", lock.path)


def run_day(
    config: TrendscopeConfig,
    location: str,
    day: date,
    source_dir: str | None = None,
    *,
    run_id: str | None = None,
) -> list[StepResult]:
    """Ingest, analyze (every shard, one after another), publish and compute trends of a day.

    The steps hold the location-day's lease as one run: ``run_id``'s, or without one a new
    owner's that is released however the run ends (nothing could resume it).
    """
    lock = day_lock(config, location, day, run_id)
    try:
        ingested = _locked_step(config, lock, "ingest", location, day, None, source_dir, run_id)
        n = ingested.counts["shards"]
        results = [ingested]
        results += [
            _locked_step(config, lock, "analyze", location, day, Shard(i, n), None, run_id)
            for i in range(n)
        ]
        for step in ("publish", LAST_STEP):
            results.append(_locked_step(config, lock, step, location, day, None, None, run_id))
    finally:
        if run_id is None:
            lock.release()
    return results
