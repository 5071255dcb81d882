"""
### trendscope_maintenance

Once a day, **gc** keeps the data root from filling with what no reader needs (`trendscope gc`
runs the same function, `collect_garbage`):

1. finishes publishes a crash interrupted after their intent was written, and drops commit
   copies no intent names;
2. removes abandoned staging: the staged files of a location-day (or period) that are all older
   than `retention.days`, unless a live run holds the day's lease;
3. removes per-run validation results older than that (each partition keeps `latest.json`) and
   the Data Docs pages of runs older than that.

It never touches a published partition (`tables/`), the runs table (`runs/`) or a lease
(`locks/`). The task's return value (in XCom) counts what it removed, per kind, in files and
bytes. Run `trendscope gc --dry-run` to see the list first.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from trendscope.orchestration.dag_settings import TAGS, dag_config, default_args, start_datetime

CONFIG = dag_config()


@dag(
    dag_id="trendscope_maintenance",
    schedule="@daily",
    start_date=start_datetime(CONFIG),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(CONFIG),
    tags=[*TAGS, "maintenance"],
    doc_md=__doc__,
)
def trendscope_maintenance() -> None:
    @task
    def gc() -> dict:
        from trendscope.orchestration.tasks import task_config
        from trendscope.pipeline.gc import collect_garbage

        return collect_garbage(task_config()).totals()

    gc()


trendscope_maintenance()
