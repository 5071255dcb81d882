"""Every DAG loads, carries tags and retries, and parsing touches no connection or network."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dag_probe import run_probe

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

# Parse the DAG folder in a fresh interpreter, with connection lookups and sockets made to fail,
# and report what was loaded and which heavy modules got imported.
_PROBE = r"""
import json, socket, sys
def _no_network(*a, **k):
    raise RuntimeError("network call during DAG parsing")
socket.socket.connect = _no_network
socket.create_connection = _no_network
from airflow.sdk import BaseHook
def _no_conn(*a, **k):
    raise RuntimeError("connection looked up during DAG parsing")
BaseHook.get_connection = classmethod(_no_conn)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in ("torch", "onnxruntime", "ultralytics", "great_expectations", "selenium", "timm", "cv2") if m in sys.modules)
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tags": sorted(dag.tags),
        "retries": [t.retries for t in dag.tasks],
        "owners": sorted({t.owner for t in dag.tasks}),
        "doc_md": bool(dag.doc_md),
        "tasks": sorted(t.task_id for t in dag.tasks),
        "operators": {t.task_id: getattr(t, "operator_name", type(t).__name__) for t in dag.tasks},
        "pools": {t.task_id: t.pool for t in dag.tasks},
        "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "timetable": type(dag.timetable).__name__,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "timeouts": {t.task_id: t.execution_timeout and t.execution_timeout.total_seconds() for t in dag.tasks},
        "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks},
        "map_index_templates": {t.task_id: t.map_index_template for t in dag.tasks if t.map_index_template},
        "deadline": bool(dag.deadline),
        "on_failure": sorted({getattr(t.on_failure_callback, "__name__", "") if not isinstance(t.on_failure_callback, list) else ",".join(c.__name__ for c in t.on_failure_callback) for t in dag.tasks}),
    }
print("PROBE" + json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy, "dags": dags}))
"""


def _parse(tmp_path_factory, executor: str, **extra: str) -> dict:
    return run_probe(_PROBE, tmp_path_factory.mktemp("airflow_home"), executor, **extra)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory, "local")


@pytest.fixture(scope="module")
def parsed_k8s(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory, "kubernetes")


@pytest.fixture(scope="module")
def parsed_alerts(tmp_path_factory) -> dict:
    return _parse(
        tmp_path_factory,
        "local",
        TRENDSCOPE__ALERTS__NOTIFIER="smtp",
        TRENDSCOPE__ALERTS__TO="[data-team@example.com]",
    )


def test_alerts_wire_failure_callbacks_and_the_deadline(parsed: dict, parsed_alerts: dict) -> None:
    """With a notifier configured, every task alerts on failure and the daily run has a deadline."""
    assert parsed_alerts["errors"] == {}
    daily = parsed_alerts["dags"]["trendscope_daily"]
    assert daily["deadline"] is True
    assert daily["on_failure"] == ["task_failure_callback"]
    assert parsed_alerts["dags"]["trendscope_rollup"]["on_failure"] == ["task_failure_callback"]
    # without one (the default), nothing is sent and no deadline is stored
    assert parsed["dags"]["trendscope_daily"]["deadline"] is False
    assert parsed["dags"]["trendscope_daily"]["on_failure"] == [""]


def test_no_import_errors(parsed: dict) -> None:
    assert parsed["errors"] == {}
    assert "trendscope_daily" in parsed["dags"]


def test_parsing_imports_no_heavy_library(parsed: dict) -> None:
    assert parsed["heavy"] == []


def test_every_dag_has_tags_retries_owner_and_docs(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert "trendscope" in dag["tags"], dag_id
        assert dag["retries"] and all(r >= 1 for r in dag["retries"]), dag_id
        assert dag["owners"] == ["trendscope"], dag_id
        assert dag["doc_md"], dag_id


def test_daily_dag_shape(parsed: dict) -> None:
    """Each location's publish and trends run on their own (a mapped task group), after a wait."""
    daily = parsed["dags"]["trendscope_daily"]
    assert daily["upstream"] == {
        "wait_for_day_end": [],
        "ingest": ["wait_for_day_end"],
        "plan": ["ingest"],
        "analyze": ["plan"],
        "location.publish": ["analyze"],
        "location.trends": ["location.publish"],
        "trigger_rollup": ["location.trends"],
        "finish": ["location.trends"],
    }
    assert daily["operators"]["analyze"] == "@task"
    assert daily["operators"]["wait_for_day_end"] == "DateTimeSensorAsync"
    assert daily["operators"]["trigger_rollup"] == "TriggerDagRunOperator"
    assert daily["timetable"] == "CronDataIntervalTimetable"
    assert daily["catchup"] is False
    # a failed location or shard does not stop the others: these wait for all, then run
    for task_id in ("plan", "location.publish", "trigger_rollup", "finish"):
        assert daily["trigger_rules"][task_id] == "all_done", task_id
    assert daily["trigger_rules"]["location.trends"] == "all_success"


def test_every_task_has_a_timeout(parsed: dict) -> None:
    """Every task but the deferred wait (which holds no worker) is bounded; analyze the longest."""
    for dag_id, dag in parsed["dags"].items():
        for task_id, seconds in dag["timeouts"].items():
            if task_id == "wait_for_day_end":
                assert seconds is None
                continue
            assert seconds and seconds > 0, (dag_id, task_id)
    daily = parsed["dags"]["trendscope_daily"]["timeouts"]
    assert daily["analyze"] == 120 * 60 and daily["ingest"] == 60 * 60


def test_mapped_tasks_are_labelled_by_location(parsed: dict) -> None:
    daily = parsed["dags"]["trendscope_daily"]["map_index_templates"]
    assert daily == {
        "ingest": "{{ task.op_kwargs['location'] }}",
        "analyze": "{{ shard_label(task.op_kwargs['args']) }}",
        "location.publish": "{{ task.op_kwargs['location'] }}",
        "location.trends": "{{ task.op_kwargs['location'] }}",
    }
    rollup = parsed["dags"]["trendscope_rollup"]["map_index_templates"]
    assert set(rollup) == {"refresh", "rollup"}


def test_shard_label_reads_the_analyze_arguments() -> None:
    from trendscope.orchestration.dag_settings import shard_label
    from trendscope.orchestration.k8s import analyze_args
    from trendscope.pipeline.shards import Shard

    args = analyze_args("shibuya", date(2026, 11, 5), Shard(1, 4), "scheduled__x")
    assert shard_label(args) == "shibuya shard 2/4"
    assert args[-2:] == ["--run-id", "scheduled__x"]


def test_rollup_dag_shape(parsed: dict) -> None:
    """Refresh and rollups run when a daily run triggers them, one run at a time."""
    rollup = parsed["dags"]["trendscope_rollup"]
    assert rollup["tasks"] == ["plan", "plan_refresh", "refresh", "rollup"]
    assert rollup["upstream"] == {
        "plan_refresh": [],
        "refresh": ["plan_refresh"],
        "plan": [],
        "rollup": ["plan"],
    }
    assert rollup["timetable"] == "NullTimetable"
    assert rollup["max_active_runs"] == 1
    assert parsed["dags"]["trendscope_daily"]["max_active_runs"] == 4
    # a failing period is retried a bounded number of times, then fails alone
    assert set(rollup["retries"]) == {1}


def test_kubernetes_mode_runs_analyze_as_gpu_pods(parsed_k8s: dict) -> None:
    assert parsed_k8s["errors"] == {}
    assert parsed_k8s["heavy"] == []
    daily = parsed_k8s["dags"]["trendscope_daily"]
    assert daily["operators"]["analyze"] == "KubernetesPodOperator"
    assert daily["pools"]["analyze"] == "gpu"
    assert daily["pools"]["ingest"] == "default_pool"
    assert daily["upstream"]["analyze"] == ["plan"]
