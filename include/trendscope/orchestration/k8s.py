"""The analyze step as a Kubernetes pod: one factory for the DAG and ``trendscope k8s-pod``.

The pod runs the worker image with the same CLI the local task calls
(``trendscope analyze --location L --date D --shard i/N``). It passes object-store paths through
the config, never data; it has no XCom sidecar, runs as non-root, asks for ``nvidia.com/gpu``,
takes credentials only from Secrets named in the config, and is deleted when it finishes,
whatever the outcome. Transient cluster trouble fails the task and Airflow retries it.
"""

from __future__ import annotations

import contextlib
import io
from datetime import date
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.shards import Shard

CONFIG_MOUNT = "/etc/trendscope"


def analyze_args(location: str, day: date, shard: Shard) -> list[str]:
    """The CLI arguments of one analyze shard (after the ``trendscope`` command)."""
    return ["analyze", "--location", location, "--date", day.isoformat(), "--shard", str(shard)]


def pod_operator_kwargs(config: TrendscopeConfig) -> dict[str, Any]:
    """Keyword arguments of the ``KubernetesPodOperator`` that runs analyze shards."""
    from kubernetes.client import models as k8s

    kube = config.kubernetes
    limits = {"cpu": kube.cpu, "memory": kube.memory}
    if kube.gpus:
        limits["nvidia.com/gpu"] = str(kube.gpus)
    env = {
        "TRENDSCOPE_DATA_DIR": config.data_dir,
        "TRENDSCOPE_SOURCE_DIR": config.source.path,
        "TRENDSCOPE_EXECUTOR": "local",  # inside the pod the step runs in-process
        "HOME": "/tmp",
    }
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())]
    mounts = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]
    if kube.config_map:
        env["TRENDSCOPE_CONFIG"] = f"{CONFIG_MOUNT}/trendscope.yaml"
        volumes.append(
            k8s.V1Volume(
                name="config", config_map=k8s.V1ConfigMapVolumeSource(name=kube.config_map)
            )
        )
        mounts.append(k8s.V1VolumeMount(name="config", mount_path=CONFIG_MOUNT, read_only=True))
    return {
        "kubernetes_conn_id": kube.kubernetes_conn_id,
        "namespace": kube.namespace,
        "image": kube.image,
        "image_pull_policy": kube.image_pull_policy,
        "service_account_name": kube.service_account,
        "cmds": ["trendscope"],
        "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in env.items()],
        "env_from": [
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=name))
            for name in kube.env_from_secrets
        ],
        "container_resources": k8s.V1ResourceRequirements(
            requests={"cpu": kube.cpu, "memory": kube.memory}, limits=limits
        ),
        "node_selector": dict(kube.node_selector) or None,
        "tolerations": [k8s.V1Toleration(**_snake(t)) for t in kube.tolerations] or None,
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=kube.run_as_user, fs_group=kube.run_as_user
        ),
        "container_security_context": k8s.V1SecurityContext(
            run_as_non_root=True,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        "volumes": volumes,
        "volume_mounts": mounts,
        "labels": {
            "app.kubernetes.io/name": "trendscope",
            "app.kubernetes.io/component": "analyze",
        },
        "do_xcom_push": False,
        "on_finish_action": "delete_pod",
        "get_logs": True,
        "startup_timeout_seconds": kube.startup_timeout_seconds,
        "pool": kube.pool,
    }


def _snake(toleration: dict[str, str]) -> dict[str, Any]:
    names = {"tolerationSeconds": "toleration_seconds"}
    return {
        names.get(k, k): (int(v) if k == "tolerationSeconds" else v) for k, v in toleration.items()
    }


def pod_manifest(
    config: TrendscopeConfig, location: str, day: date, shard: Shard
) -> dict[str, Any]:
    """The pod the DAG would launch for one shard, as a plain Kubernetes manifest."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import ApiClient

    analyze = KubernetesPodOperator(
        task_id="analyze",
        arguments=analyze_args(location, day, shard),
        **pod_operator_kwargs(config),
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the operator logs to stdout; keep YAML clean
        pod = analyze.build_pod_request_obj(dry_run=True)
    manifest = ApiClient().sanitize_for_serialization(pod)
    manifest["metadata"].setdefault(
        "name", f"trendscope-analyze-{location}-{day:%Y%m%d}-{shard.index}"
    )
    return manifest
