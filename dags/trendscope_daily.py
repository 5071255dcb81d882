"""
### trendscope_daily

Each day, for every location in `include/config/trendscope.yaml` (one mapped task per location):

1. **ingest**: find the day's posts in the drop zone, check every file, stage the `images` rows
   (`ok`, `duplicate` or `quarantined` with a reason);
2. **analyze**: detect objects (YOLOX-Nano or any Ultralytics YOLO), crop the configured targets,
   classify crops and scenes (EfficientNet-Lite0), stage `detections`;
3. **publish**: replace the day's `images` and `detections` partitions atomically;
4. **trends**: compute and publish the day's `trends_daily` partition.

A run processes the calendar day of its logical date (UTC), which is the start of its day-long
interval; it runs at 12:00 UTC the next day, when that day has ended in every timezone.
Trigger with `{"date": "YYYY-MM-DD"}` to process a chosen day; `airflow backfill create` works
because every run touches only its own partitions.
"""

from __future__ import annotations

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from trendscope.orchestration.dag_settings import (
    DAILY_CRON,
    DEFAULT_ARGS,
    TAGS,
    TRENDS_DAILY_ASSET,
    dag_config,
    start_datetime,
)

CONFIG = dag_config()


@dag(
    dag_id="trendscope_daily",
    schedule=CronDataIntervalTimetable(DAILY_CRON, timezone="UTC"),
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md=__doc__,
    params={"date": Param(None, type=["null", "string"], description="day to process, YYYY-MM-DD")},
)
def trendscope_daily() -> None:
    @task
    def ingest(location: str, **context) -> str:
        from trendscope.orchestration.tasks import run_location_step

        return run_location_step("ingest", location, context)

    @task
    def analyze(location: str, **context) -> str:
        from trendscope.orchestration.tasks import run_location_step

        return run_location_step("analyze", location, context)

    @task
    def publish(location: str, **context) -> str:
        from trendscope.orchestration.tasks import run_location_step

        return run_location_step("publish", location, context)

    @task(outlets=[Asset(TRENDS_DAILY_ASSET)])
    def trends(location: str, **context) -> str:
        from trendscope.orchestration.tasks import run_location_step

        return run_location_step("trends", location, context)

    staged = ingest.expand(location=CONFIG.location_slugs)
    analyzed = analyze.expand(location=staged)
    published = publish.expand(location=analyzed)
    trends.expand(location=published)


trendscope_daily()
