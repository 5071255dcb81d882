"""
### trendscope_daily

Each day, for every location in `include/config/trendscope.yaml` (mapped tasks):

1. **ingest** (one task per location): find the day's posts (`source.type`: drop zone, scraper,
   instaloader or gallery-dl output), check every file,
   stage the `images` rows (`ok`, `duplicate` or `quarantined` with a reason), and decide how
   many analyze shards the day needs;
2. **analyze** (one task per shard): detect objects, crop the configured targets, classify crops
   and scenes, stage the shard's rows. With `executor: kubernetes` each shard is a GPU pod
   (`KubernetesPodOperator`, pool `gpu`) running `trendscope analyze --shard i/N`; locally the
   same command runs in-process;
3. **publish** (per location): merge the shards, validate them with their Great Expectations
   suites (write-audit-publish), and only then replace the day's `images` and `detections`
   partitions atomically; a failed suite fails the task and publishes nothing;
4. **trends** (per location): compute the day's `trends_daily` against its trailing baseline,
   validated the same way.

Every validation logs its summary and the link to the Data Docs
(`<data_dir>/quality/gx/docs/index.html`); results are kept in `<data_dir>/quality/results/`.

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
    def ingest(location: str, **context) -> dict:
        from trendscope.orchestration.tasks import ingest_location

        return ingest_location(location, context)

    @task
    def plan(ingested: list[dict]) -> list[list[str]]:
        from trendscope.orchestration.tasks import plan_analysis

        return plan_analysis(ingested)

    @task
    def publish(location: str, **context) -> str:
        from trendscope.orchestration.tasks import run_location_step

        return run_location_step("publish", location, context)

    @task(outlets=[Asset(TRENDS_DAILY_ASSET)])
    def trends(location: str, **context) -> str:
        from trendscope.orchestration.tasks import record_trends_event, run_location_step

        record_trends_event(context, location)  # names the partition for trendscope_rollup
        return run_location_step("trends", location, context)

    shards = plan(ingest.expand(location=CONFIG.location_slugs))
    if CONFIG.executor == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        from trendscope.orchestration.k8s import pod_operator_kwargs

        analyzed = KubernetesPodOperator.partial(
            task_id="analyze", **pod_operator_kwargs(CONFIG)
        ).expand(arguments=shards)
    else:

        @task
        def analyze(args: list[str]) -> None:
            from trendscope.orchestration.tasks import run_cli

            run_cli(args)

        analyzed = analyze.expand(args=shards)
    published = publish.expand(location=CONFIG.location_slugs)
    analyzed >> published
    trends.expand(location=published)


trendscope_daily()
