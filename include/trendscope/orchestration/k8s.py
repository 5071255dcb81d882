"""The analyze step as a Kubernetes pod: one factory for the DAG and ``trendscope k8s-pod``.

The pod runs the worker image with the same CLI the local task calls
(``trendscope analyze --location L --date D --shard i/N``) and the same resolved config, read
from a ConfigMap whose name carries a hash of its content: a config the cluster has not been
given leaves the pod unable to start (its events say which ConfigMap is missing) rather than
running with another one. It passes object-store paths through the config, never data; it has
no XCom sidecar, meets the Pod Security "restricted" profile, caps its ephemeral storage, asks
for ``nvidia.com/gpu``, takes credentials only from Secrets named in the config, and is kept
when it fails (its events are logged) so it can be inspected. Transient cluster trouble fails
the task and Airflow retries it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from datetime import date
from typing import Any

import yaml

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.shards import Shard

CONFIG_MOUNT = "/etc/trendscope"
CONFIG_FILE = "trendscope.yaml"
LABELS = {"app.kubernetes.io/name": "trendscope", "app.kubernetes.io/component": "analyze"}


def analyze_args(location: str, day: date, shard: Shard, run_id: str | None = None) -> list[str]:
    """The CLI arguments of one analyze shard (after the ``trendscope`` command)."""
    args = ["analyze", "--location", location, "--date", day.isoformat(), "--shard", str(shard)]
    return args + (["--run-id", run_id] if run_id else [])


def pod_config_yaml(config: TrendscopeConfig) -> str:
    """The resolved config the pods run with, as the YAML file they load.

    Everything the Airflow side resolved (file and environment overrides) except the
    ``kubernetes`` section, which describes the pods rather than what they compute; inside the
    pod the step runs in-process (``executor: local``). The config holds no credentials.
    """
    data = config.model_dump(mode="json", exclude={"kubernetes"})
    data["executor"] = "local"
    # libyaml's emitter when built in (the same text; the DAG file hashes this at every parse)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)


def config_map_name(config: TrendscopeConfig) -> str:
    """``<kubernetes.config_map>-<hash>``: a new name whenever the pods' config changes."""
    digest = hashlib.sha256(pod_config_yaml(config).encode()).hexdigest()[:10]
    return f"{config.kubernetes.config_map}-{digest}"


def config_map_manifest(config: TrendscopeConfig) -> dict[str, Any]:
    """The ConfigMap the analyze pods mount at ``/etc/trendscope``; apply it before the DAG runs.

    Immutable, as its name changes with its content; old ones can be deleted once no pod
    uses them.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(config),
            "namespace": config.kubernetes.namespace,
            "labels": {**LABELS, "app.kubernetes.io/component": "config"},
        },
        "immutable": True,
        "data": {CONFIG_FILE: pod_config_yaml(config)},
    }


def pod_operator_kwargs(config: TrendscopeConfig) -> dict[str, Any]:
    """Keyword arguments of the ``KubernetesPodOperator`` that runs analyze shards."""
    from kubernetes.client import models as k8s

    kube = config.kubernetes
    uid = kube.run_as_user
    requests = {
        "cpu": kube.cpu,
        "memory": kube.memory,
        "ephemeral-storage": kube.ephemeral_storage,
    }
    limits = dict(requests)
    if kube.gpus:
        limits["nvidia.com/gpu"] = str(kube.gpus)
    env = {
        "TRENDSCOPE_CONFIG": f"{CONFIG_MOUNT}/{CONFIG_FILE}",
        "HOME": "/tmp",  # the root filesystem is read-only
    }
    seccomp = k8s.V1SeccompProfile(type="RuntimeDefault")
    return {
        "kubernetes_conn_id": kube.kubernetes_conn_id,
        "namespace": kube.namespace,
        "image": kube.image,
        "image_pull_policy": kube.image_pull_policy,
        "image_pull_secrets": [
            k8s.V1LocalObjectReference(name=name) for name in kube.image_pull_secrets
        ]
        or None,
        "service_account_name": kube.service_account,
        "automount_service_account_token": kube.automount_service_account_token,
        "cmds": ["trendscope"],
        "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in env.items()],
        "env_from": [
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=name))
            for name in kube.env_from_secrets
        ],
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits),
        "node_selector": dict(kube.node_selector) or None,
        "tolerations": [k8s.V1Toleration(**_snake(t)) for t in kube.tolerations] or None,
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=uid,
            run_as_group=uid,
            fs_group=uid,
            seccomp_profile=seccomp,
        ),
        "container_security_context": k8s.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=uid,
            run_as_group=uid,
            privileged=False,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
            seccomp_profile=seccomp,
        ),
        "volumes": [
            k8s.V1Volume(
                name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=kube.tmp_size_limit)
            ),
            k8s.V1Volume(
                name="config",
                config_map=k8s.V1ConfigMapVolumeSource(name=config_map_name(config)),
            ),
        ],
        "volume_mounts": [
            k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
            k8s.V1VolumeMount(name="config", mount_path=CONFIG_MOUNT, read_only=True),
        ],
        "labels": dict(LABELS),
        "do_xcom_push": False,
        # a failed pod stays (marked already_checked, so a retry starts a fresh one)
        "on_finish_action": "delete_succeeded_pod" if kube.keep_failed_pods else "delete_pod",
        "log_events_on_failure": True,
        "get_logs": True,
        "startup_timeout_seconds": kube.startup_timeout_seconds,
        "active_deadline_seconds": kube.active_deadline_seconds,
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
