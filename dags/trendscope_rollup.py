"""
### trendscope_rollup

Started by every `trendscope_daily` run (its `trigger_rollup` task, with `{"date": day}`), one
run at a time; the runs queue in the order the daily runs end:

1. **plan_refresh** / **refresh** (one task per location): recompute `trends_daily` of the day
   and of the published days up to `trends.window_days` after it, whose baseline window holds
   it (`refresh_trends`).
2. **plan** / **rollup** (one task per location and period): recompute the week
   (`trends_weekly`, ISO `YYYY-Www`) and month (`trends_monthly`, `YYYY-MM`) that contain the
   day, plus the later published periods whose baseline includes them, from the image-level
   partitions (`trendscope rollup --location L --period P` runs the same function). A period
   with no published day is skipped; a day with no posts is a valid (empty) part of its period.

Each task is isolated: one location-period failing (after `airflow.rollup_retries` retries and
its `execution_timeout`) fails that task alone, and the next queued run starts when this one
ends, so one bad period never holds back the others.

**Why the result does not depend on the order of the daily runs.** A backfill
(`max_active_runs=4`) may compute day D before D-1 is published, and a re-run or a late day
changes the baseline of the days after it. But every daily run is followed by a run of this DAG
for its day, which starts after it and runs alone, so it recomputes every day whose window
holds that day from what is published by then. The last write of each `trends_daily` partition
therefore reads the final version of every day of its window: the same rows an in-order run
gives. Rollups follow the same rule.

Trigger it by hand with `{"date": "YYYY-MM-DD"}` (and optionally `locations`) to refresh the
daily trends after that day and the day's week and month.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from trendscope.orchestration.dag_settings import (
    ROLLUP_DAG_ID,
    TAGS,
    dag_config,
    default_args,
    start_datetime,
)

CONFIG = dag_config()


@dag(
    dag_id=ROLLUP_DAG_ID,
    schedule=None,
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(CONFIG)
    | {"retries": CONFIG.airflow.rollup_retries, "retry_delay": timedelta(minutes=1)},
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

    @task(map_index_template="{{ task.op_kwargs['location'] }}")
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

    @task(map_index_template="{{ task.op_kwargs['location'] }} {{ task.op_kwargs['period'] }}")
    def rollup(location: str, period: str) -> dict:
        from trendscope.orchestration.tasks import rollup_location_period

        return rollup_location_period(location, period)

    refresh.expand_kwargs(plan_refresh())
    rollup.expand_kwargs(plan())


trendscope_rollup()
