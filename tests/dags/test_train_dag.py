"""The training DAG: loads, takes its Params, runs on the labelled-data asset, and in production
trains in a GPU pod that runs the same CLI command as the local task."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
from dag_probe import run_probe

from trendscope.config import ConfigError, load_config
from trendscope.orchestration.training import (
    promote_args,
    train_args,
    train_pod_kwargs,
    train_pod_manifest,
)

REPO = Path(__file__).resolve().parents[2]

_PROBE = r"""
import json, socket, sys
def _no_network(*a, **k):
    raise RuntimeError("network call during DAG parsing")
socket.socket.connect = _no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("trendscope_train")
heavy = sorted(m for m in ("torch", "onnxruntime", "ultralytics", "timm", "cv2") if m in sys.modules)
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy}
if dag is not None:
    out |= {
        "params": {k: dag.params.get_param(k).resolve() for k in dag.params},
        "schema": {k: dag.params.get_param(k).schema for k in dag.params},
        "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "operators": {t.task_id: type(t).__name__ for t in dag.tasks},
        "timeouts": {t.task_id: t.execution_timeout.total_seconds() for t in dag.tasks},
        "retries": sorted({t.retries for t in dag.tasks}),
        "schedule": [a.name for a in dag.timetable.asset_condition.objects],
        "max_active_runs": dag.max_active_runs,
        "doc_md": bool(dag.doc_md),
        "tags": sorted(dag.tags),
    }
print("PROBE" + json.dumps(out))
"""


def _parse(tmp_path_factory, executor: str) -> dict:
    return run_probe(_PROBE, tmp_path_factory.mktemp("airflow_home"), executor)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory, "local")


@pytest.fixture(scope="module")
def parsed_k8s(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory, "kubernetes")


def test_train_dag_loads_with_its_params_and_asset(parsed: dict) -> None:
    assert parsed["errors"] == {} and parsed["heavy"] == []
    assert parsed["params"] == {
        "kind": "classifier",
        "data": "data/labelled",
        "name": "labelled",
        "epochs": 3,
    }
    assert parsed["schema"]["kind"]["enum"] == ["classifier", "detector"]
    assert parsed["schema"]["epochs"]["minimum"] == 0
    assert parsed["schedule"] == ["trendscope_labelled_data"]
    assert parsed["upstream"] == {"train_args": [], "train": ["train_args"], "promote": ["train"]}
    assert parsed["operators"]["train"] == "_PythonDecoratedOperator"
    assert parsed["timeouts"]["train"] == 8 * 3600
    assert parsed["max_active_runs"] == 1 and parsed["doc_md"]
    assert "trendscope" in parsed["tags"] and min(parsed["retries"]) >= 1


def test_kubernetes_mode_trains_in_a_gpu_pod(parsed_k8s: dict) -> None:
    assert parsed_k8s["errors"] == {} and parsed_k8s["heavy"] == []
    assert parsed_k8s["operators"]["train"] == "KubernetesPodOperator"
    assert parsed_k8s["upstream"]["promote"] == ["train"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "classifier",
            ["train-classifier", "--data", "s3://b/cats", "--name", "cats", "--epochs", "5"],
        ),
        (
            "detector",
            ["train-detector", "--data", "s3://b/cats", "--name", "cats", "--epochs", "5"],
        ),
        ("segmenter", ValueError),
    ],
)
def test_train_args(kind: str, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="kind: 'segmenter'"):
            train_args(kind, "s3://b/cats", "cats", 5)
        return
    args = train_args(kind, "s3://b/cats", "cats", 5)
    assert args[: len(expected)] == expected
    assert promote_args(kind, "d", "cats") == [
        "models",
        "promote",
        "cats",
        "--latest",
        "--data",
        "d",
    ]


def _production(**overrides):
    return load_config(
        environ={},
        overrides={
            "executor": "kubernetes",
            "data_dir": "s3://trendscope/lake",
            "source.path": "s3://trendscope/dropzone",
            **overrides,
        },
    )


def test_train_pod_manifest_is_a_valid_gpu_pod_running_the_cli() -> None:
    config = _production()
    args = train_args("classifier", "s3://trendscope/labelled/cats", "cats", 5)
    manifest = train_pod_manifest(config, args)
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    container = manifest["spec"]["containers"][0]
    assert container["command"] == ["trendscope"] and container["args"] == args
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "train"
    assert manifest["spec"]["activeDeadlineSeconds"] == 8 * 3600
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # the pod's config puts the registry on the object store (beside the data)
    assert config.registry.root == "s3://trendscope/lake/registry"


def test_a_training_pod_needs_the_registry_on_object_storage() -> None:
    config = _production(**{"registry.root": "/srv/models"})
    with pytest.raises(ConfigError, match=r"registry\.root: '/srv/models' is not an s3:// path"):
        train_pod_kwargs(config)
