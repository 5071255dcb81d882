"""
### trendscope_daily

One run per calendar day (UTC); its logical date is the day's midnight, so
`airflow backfill create --from-date A --to-date B` processes the days A..B, both included.
Trigger with `{"date": "YYYY-MM-DD"}` to process a chosen day.

1. **wait_for_day_end**: waits, deferred on the triggerer, until the day has ended in every
   configured location's timezone plus `airflow.late_hours` for late posts (past days pass at once);
2. **ingest** (one task per location, labelled by location): find the day's posts
   (`source.type`: drop zone, scraper, instaloader or gallery-dl output), check every file, stage
   the `images` rows (`ok`, `duplicate` or `quarantined` with a reason), and decide how many
   analyze shards the day needs;
3. **analyze** (one task per shard, labelled `shibuya shard 2/4`): detect objects, crop the
   configured targets, classify crops and scenes, stage the shard's rows. With
   `executor: kubernetes` each shard is a GPU pod (`KubernetesPodOperator`, pool `gpu`) running
   `trendscope analyze --shard i/N`; locally the same command runs in-process;
4. **location** (a mapped task group, one per location): **publish** merges the location's
   shards, validates them with their Great Expectations suites (write-audit-publish) and only
   then replaces the day's `images` and `detections` partitions; **trends** computes the day's
   `trends_daily` against its trailing baseline, validated the same way. A location whose ingest,
   shard or publish failed fails alone: the other locations still publish.
5. **trigger_rollup**: starts `trendscope_rollup` for the day (refresh of the later days'
   trends, the week and the month), whatever happened to single locations;
6. **finish**: sends the digest of the day's `rising` labels (when alerts are configured and there
   are any) and fails the run, naming them, when some location did not publish.

Every task has an `execution_timeout`; failed tasks send an alert when `alerts.notifier` is set,
and a run not finished `airflow.deadline_hours` after its day ended sends a deadline alert.
Every validation logs its summary and the link to the Data Docs
(`<data_dir>/quality/gx/docs/index.html`); results are kept in `<data_dir>/quality/results/`.
"""

from __future__ import annotations

from datetime import timedelta

# at the top, where the dag-processor finds it and imports it once before it forks a parser
# for this file (about 1.4 s a parse inside the DAG function, where it only sees it there)
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task, task_group

from trendscope.orchestration.alerts import deadline_alert
from trendscope.orchestration.dag_settings import (
    DAILY_CRON,
    ROLLUP_DAG_ID,
    TAGS,
    TRENDS_DAILY_ASSET,
    analyze_timeout,
    dag_config,
    default_args,
    start_datetime,
    template_macros,
)

CONFIG = dag_config()
ALL_DONE = "all_done"  # a location's failure must not stop the others


@dag(
    dag_id="trendscope_daily",
    schedule=CronDataIntervalTimetable(DAILY_CRON, timezone="UTC"),
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=4,
    default_args=default_args(CONFIG),
    deadline=deadline_alert(CONFIG),
    tags=TAGS,
    doc_md=__doc__,
    user_defined_macros=template_macros(CONFIG),
    params={"date": Param(None, type=["null", "string"], description="day to process, YYYY-MM-DD")},
)
def trendscope_daily() -> None:
    wait = DateTimeSensorAsync(
        task_id="wait_for_day_end",
        target_time="{{ day_closes_at(params, logical_date) }}",
        execution_timeout=None,  # deferred: it holds no worker slot while it waits
        timeout=timedelta(days=3),
    )

    @task(map_index_template="{{ task.op_kwargs['location'] }}")
    def ingest(location: str, **context) -> dict:
        from trendscope.orchestration.tasks import ingest_location

        return ingest_location(location, context)

    @task(trigger_rule=ALL_DONE)
    def plan(ingested: list[dict], **context) -> list[list[str]]:
        """The shards of every location whose ingest succeeded (the others fail at publish)."""
        from trendscope.orchestration.tasks import plan_analysis

        return plan_analysis(list(ingested), context["run_id"])

    ingested = ingest.expand(location=CONFIG.location_slugs)
    wait >> ingested
    shards = plan(ingested)
    if CONFIG.executor == "kubernetes":
        from trendscope.orchestration.k8s import pod_operator_kwargs

        analyzed = KubernetesPodOperator.partial(
            task_id="analyze",
            map_index_template="{{ shard_label(task.arguments) }}",
            execution_timeout=analyze_timeout(CONFIG),
            **pod_operator_kwargs(CONFIG),
        ).expand(arguments=shards)
    else:

        @task(
            map_index_template="{{ shard_label(task.op_kwargs['args']) }}",
            execution_timeout=analyze_timeout(CONFIG),
        )
        def analyze(args: list[str]) -> None:
            from trendscope.orchestration.tasks import run_cli

            run_cli(args)

        analyzed = analyze.expand(args=shards)

    @task_group(group_id="location")
    def location_chain(location: str):
        @task(trigger_rule=ALL_DONE, map_index_template="{{ task.op_kwargs['location'] }}")
        def publish(location: str, **context) -> str:
            from trendscope.orchestration.tasks import run_location_step

            return run_location_step("publish", location, context)

        @task(
            outlets=[Asset(TRENDS_DAILY_ASSET)],
            map_index_template="{{ task.op_kwargs['location'] }}",
        )
        def trends(location: str, **context) -> str:
            from trendscope.orchestration.tasks import record_trends_event, run_location_step

            record_trends_event(context, location)  # names the partition for lineage
            return run_location_step("trends", location, context)

        published = publish(location=location)
        analyzed >> published  # every shard has ended (some may have failed)
        return trends(location=published)

    trended = location_chain.expand(location=CONFIG.location_slugs)

    trigger_rollup = TriggerDagRunOperator(
        task_id="trigger_rollup",
        trigger_dag_id=ROLLUP_DAG_ID,
        conf={"date": "{{ run_day(params, logical_date) }}"},
        trigger_rule=ALL_DONE,
    )

    @task(trigger_rule=ALL_DONE)
    def finish(trended, **context) -> dict:
        from trendscope.orchestration.tasks import finish_day

        return finish_day(trended, context)

    trended >> trigger_rollup
    finish(trended)


trendscope_daily()
