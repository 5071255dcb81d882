"""
### trendscope_rollup

Weekly (`trends_weekly`, ISO `YYYY-Www`) and monthly (`trends_monthly`, `YYYY-MM`) trend tables,
refreshed whenever `trendscope_daily` publishes `trends_daily` (scheduled on its asset):

1. **plan**: read which location-days changed from the triggering asset events (each daily
   `trends` task names its `location` and `date` in the event's `extra`) and list the
   (location, period) rollups that contain them, plus the later periods already published whose
   baseline includes them. A backfill of past days therefore refreshes exactly what it touched.
2. **rollup** (one task per location and period): recompute the period from the image-level
   partitions of its days and of the `weekly_window`/`monthly_window` periods before it, and
   replace its partition (`trendscope rollup --location L --period P` runs the same function).

A manual trigger may pass `{"date": "YYYY-MM-DD"}` (and optionally `locations`) to refresh the
week and month of that day.
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
        "date": Param(None, type=["null", "string"], description="refresh this day's periods"),
        "locations": Param(None, type=["null", "array"], description="default: all locations"),
    },
)
def trendscope_rollup() -> None:
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

    rollup.expand_kwargs(plan())


trendscope_rollup()
