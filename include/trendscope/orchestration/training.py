"""The steps of the ``trendscope_train`` DAG: train (a local task or a GPU pod), then promote
the new version only if it beats the promoted one on the same holdout.

Both steps are ``trendscope`` CLI commands, so the pod and the local task run the same code:
``train-classifier`` / ``train-detector`` register a new version; ``models promote NAME
--latest --data D`` evaluates it and the promoted version on the same images and promotes it
only when it scores higher (top-1 for classifiers, mAP50 for detectors).
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from trendscope.config import ConfigError, TrendscopeConfig

log = logging.getLogger(__name__)

KINDS = ("classifier", "detector")
TRAIN_TIMEOUT = timedelta(hours=8)  # a training run, as a task timeout and the pod's deadline
LABELS = {"app.kubernetes.io/name": "trendscope", "app.kubernetes.io/component": "train"}


def train_args(kind: str, data: str, name: str, epochs: int) -> list[str]:
    """The CLI arguments (after ``trendscope``) that train and register a model."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not data or not name:
        raise ValueError("data and name are required (DAG params data, name)")
    if int(epochs) < 0:
        raise ValueError(f"epochs: {epochs} must be 0 or more")
    if kind == "classifier":  # no progress bars in task logs
        return [
            "train-classifier",
            "--data",
            data,
            "--name",
            name,
            "--epochs",
            str(int(epochs)),
            "--no-progress",
        ]
    return ["train-detector", "--data", data, "--name", name, "--epochs", str(int(epochs))]


def promote_args(kind: str, data: str, name: str, json_out: str | None = None) -> list[str]:
    """``models promote NAME --latest --data DATA``: the comparison on the same holdout."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    args = ["models", "promote", name, "--latest", "--data", data]
    return args + (["--json", json_out] if json_out else [])


def promote_if_better(kind: str, data: str, name: str) -> dict[str, Any]:
    """Run the promotion step in-process; returns (and logs) the comparison."""
    from trendscope.orchestration.tasks import run_cli

    with tempfile.TemporaryDirectory(prefix="trendscope-promote-") as tmp:
        out = Path(tmp) / "comparison.json"
        run_cli(promote_args(kind, data, name, str(out)))
        comparison = json.loads(out.read_text())
    log.info("promotion of %s: %s", name, comparison["reason"])
    return comparison


def train_pod_kwargs(config: TrendscopeConfig) -> dict[str, Any]:
    """The ``KubernetesPodOperator`` keyword arguments of the training pod: the analyze pod's
    (image, GPU, security, config map; :func:`~.k8s.pod_operator_kwargs`) with its own labels
    and deadline. The registry must be on object storage, where the pod's model lands."""
    from trendscope.orchestration.k8s import pod_operator_kwargs

    if not config.registry.root.startswith("s3://"):
        raise ConfigError(
            f"registry.root: {config.registry.root!r} is not an s3:// path; a training pod "
            "registers its model there"
        )
    kwargs = pod_operator_kwargs(config)
    kwargs["labels"] = dict(LABELS)
    kwargs["active_deadline_seconds"] = int(TRAIN_TIMEOUT.total_seconds())
    return kwargs


def train_pod_manifest(config: TrendscopeConfig, args: list[str]) -> dict[str, Any]:
    """The training pod the DAG would launch for ``args``, as a plain Kubernetes manifest."""
    import contextlib
    import io

    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import ApiClient

    train = KubernetesPodOperator(task_id="train", arguments=args, **train_pod_kwargs(config))
    with contextlib.redirect_stdout(io.StringIO()):
        pod = train.build_pod_request_obj(dry_run=True)
    manifest = ApiClient().sanitize_for_serialization(pod)
    manifest["metadata"].setdefault("name", "trendscope-train")
    return manifest
