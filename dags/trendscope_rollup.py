"""
### trendscope_rollup

Runs whenever `trendscope_daily` publishes `trends_daily` (scheduled on its asset; each daily
`trends` task names its `location` and `date` in the event's `extra`), one run at a time:

1. **plan_refresh** / **refresh** (one task per location): recompute `trends_daily` of every
   changed day and of the published days up to `trends.window_days` after it, whose baseline
   window holds it (`refresh_trends`).
2. **plan** / **rollup** (one task per location and period): recompute the weeks
   (`trends_weekly`, ISO `YYYY-Www`) and months (`trends_monthly`, `YYYY-MM`) that contain the
   changed days, plus the later published periods whose baseline includes them, from the
   image-level partitions (`trendscope rollup --location L --period P` runs the same function).
   A period with no published day is skipped.

**Why the result does not depend on the order of the daily runs.** A backfill
(`max_active_runs=4`) may compute day D before D-1 is published, and a re-run or a late day
changes the baseline of the days after it. But every publish of a day is followed by that
day's event, and the run of this DAG that consumes it starts later and runs alone, so it
recomputes every day whose window holds that day from what is published by then. The last
write of each `trends_daily` partition therefore reads the final version of every day of its
window: the same rows an in-order run gives. Rollups follow the same rule.

A manual trigger may pass `{"date": "YYYY-MM-DD"}` (and optionally `locations`) to refresh the
daily trends after that day and the day's week and month.
"""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task

from trendscope.orchestration.dag_settings import (
    DEFAULT_ARGS,
    TAGS,
    TRENDS_DAILY_ASSET,
    dag_config,
    start_datetime,
)

CONFIG = dag_config()


@dag(
    dag_id="trendscope_rollup",
    schedule=[Asset(TRENDS_DAILY_ASSET)],
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md=__doc__,
    params={
        "date": Param(None, type=["null", "string"], description="refresh from this day on"),
        "locations": Param(None, type=["null", "array"], description="default: all locations"),
    },
)
def trendscope_rollup() -> None:
    @task
    def plan_refresh(**context) -> list[dict]:
        from trendscope.orchestration.tasks import task_config
        from trendscope.pipeline.rollup import plan_refresh

        return plan_refresh(
            task_config(), context.get("triggering_asset_events"), context.get("params")
        )

    @task
    def refresh(location: str, days: list[str]) -> dict:
        from trendscope.orchestration.tasks import refresh_location_trends

        return refresh_location_trends(location, days)

    @task
    def plan(**context) -> list[dict[str, str]]:
        from trendscope.orchestration.tasks import task_config
        from trendscope.pipeline.rollup import plan_rollups

        return plan_rollups(
            task_config(), context.get("triggering_asset_events"), context.get("params")
        )

    @task
    def rollup(location: str, period: str) -> dict:
        from trendscope.orchestration.tasks import rollup_location_period

        return rollup_location_period(location, period)

    refresh.expand_kwargs(plan_refresh())
    rollup.expand_kwargs(plan())


trendscope_rollup()
