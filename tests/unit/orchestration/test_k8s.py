"""The analyze pod: Kubernetes schema, Pod Security "restricted", and the config it runs with."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from trendscope.cli import main
from trendscope.config import ConfigError, TrendscopeConfig, load_config
from trendscope.orchestration.k8s import (
    config_map_manifest,
    config_map_name,
    pod_manifest,
    pod_operator_kwargs,
)
from trendscope.pipeline.shards import Shard

K8S_VERSION = "1.32"


@pytest.fixture
def manifest(capsys) -> dict:
    code = main(["k8s-pod", "--location", "shibuya", "--date", "2026-11-02", "--shard", "1/4"])
    out = capsys.readouterr().out
    assert code == 0
    return yaml.safe_load(out)


def _production(**overrides: object) -> TrendscopeConfig:
    return load_config(
        environ={
            "TRENDSCOPE_EXECUTOR": "kubernetes",
            "TRENDSCOPE_DATA_DIR": "s3://lake/trendscope",
            "TRENDSCOPE_SOURCE_DIR": "s3://lake/dropzone",
            "TRENDSCOPE_S3_ENDPOINT_URL": "http://minio.storage:9000",
            "TRENDSCOPE__TARGETS__CAT__CROP_THRESHOLD": "0.8",
        },
        overrides=overrides,
    )


def test_manifest_is_a_valid_pod(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_manifest_runs_the_same_cli_as_the_local_task(manifest: dict) -> None:
    (container,) = manifest["spec"]["containers"]
    assert container["command"] == ["trendscope"]
    assert container["args"] == [
        "analyze",
        "--location",
        "shibuya",
        "--date",
        "2026-11-02",
        "--shard",
        "1/4",
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert manifest["spec"]["securityContext"]["runAsUser"] == 1000
    assert manifest["spec"]["restartPolicy"] == "Never"
    assert manifest["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert manifest["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert manifest["metadata"]["namespace"] == "trendscope"
    # no XCom sidecar: the step passes object-store paths, never data
    assert [c["name"] for c in manifest["spec"]["containers"]] == ["base"]


# --- the config the pod runs with --------------------------------------------------------------
def test_pod_runs_with_the_airflow_sides_resolved_config(tmp_path: Path) -> None:
    cfg = _production()
    cm = config_map_manifest(cfg)
    kubernetes_validate.validate(cm, K8S_VERSION, strict=True)
    assert cm["metadata"] == {
        "name": config_map_name(cfg),
        "namespace": "trendscope",
        "labels": {"app.kubernetes.io/name": "trendscope", "app.kubernetes.io/component": "config"},
    }
    assert cm["immutable"] is True
    # the pod loads the mounted file under its image's environment (models dir, local executor)
    (tmp_path / "trendscope.yaml").write_text(cm["data"]["trendscope.yaml"])
    in_pod = load_config(
        tmp_path / "trendscope.yaml",
        environ={"TRENDSCOPE_EXECUTOR": "local", "TRENDSCOPE_MODELS_DIR": "/opt/trendscope/models"},
    )
    assert in_pod.storage.endpoint_url == "http://minio.storage:9000"
    assert in_pod.targets["cat"].crop_threshold == 0.8
    assert in_pod.data_root == "s3://lake/trendscope"
    assert in_pod.executor == "local"
    pod_only = {"executor", "models_dir", "kubernetes"}
    assert in_pod.model_dump(exclude=pod_only) == cfg.model_dump(exclude=pod_only)

    m = pod_manifest(cfg, "brooklyn", date(2026, 11, 3), Shard(0, 1))
    kubernetes_validate.validate(m, K8S_VERSION, strict=True)
    (container,) = m["spec"]["containers"]
    assert container["env"] == [
        {"name": "TRENDSCOPE_CONFIG", "value": "/etc/trendscope/trendscope.yaml"},
        {"name": "HOME", "value": "/tmp"},
    ]
    assert {"name": "config", "mountPath": "/etc/trendscope", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert {"name": "config", "configMap": {"name": cm["metadata"]["name"]}} in m["spec"]["volumes"]


def test_config_map_name_follows_the_config() -> None:
    """A changed config needs a new ConfigMap: pods never run with a stale one."""
    name = config_map_name(_production())
    assert name.startswith("trendscope-config-") and len(name) == len("trendscope-config-") + 10
    assert config_map_name(_production()) == name
    assert config_map_name(_production(**{"targets.cat.crop_threshold": 0.7})) != name
    # the kubernetes section describes the pods, not what they compute
    assert config_map_name(_production(**{"kubernetes.cpu": "8"})) == name
    renamed = _production(**{"kubernetes.config_map": "ts-cfg"})
    assert config_map_name(renamed) == name.replace("trendscope-config", "ts-cfg")


def test_credentials_only_by_secret_name(manifest: dict) -> None:
    (container,) = manifest["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "trendscope-s3"}}]
    scanned = copy.deepcopy(manifest)
    assert scanned["spec"].pop("automountServiceAccountToken") is False  # a switch, not a token
    text = yaml.safe_dump([scanned, config_map_manifest(load_config(environ={}))]).lower()
    for word in ("aws_secret_access_key", "aws_access_key_id", "password", "token:"):
        assert word not in text


_CREDENTIAL_WORDS = ("password", "secret", "token", "credential", "access_key", "api_key")


def _field_names(model: type) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        names.append(name)
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and hasattr(arg, "model_fields"):
                names += [f"{name}.{sub}" for sub in _field_names(arg)]
    return names


def test_config_has_no_credential_fields() -> None:
    """The resolved config goes into a ConfigMap (all but ``kubernetes``, which names Secrets
    and the token switch), so it must never hold a credential."""
    names = [n for n in _field_names(TrendscopeConfig) if not n.startswith("kubernetes")]
    assert "storage.aws_conn_id" in names and "source.scraper.user_agent" in names
    assert [n for n in names if any(w in n.lower() for w in _CREDENTIAL_WORDS)] == []


# --- pod options -------------------------------------------------------------------------------
def test_pod_options_a_platform_team_asks_for() -> None:
    cfg = _production(
        **{
            "kubernetes.image_pull_secrets": ["registry-creds"],
            "kubernetes.gpus": 2,
            "kubernetes.active_deadline_seconds": 1800,
            "kubernetes.ephemeral_storage": "20Gi",
            "kubernetes.tmp_size_limit": "10Gi",
        }
    )
    m = pod_manifest(cfg, "brooklyn", date(2026, 11, 3), Shard(0, 1))
    kubernetes_validate.validate(m, K8S_VERSION, strict=True)
    spec = m["spec"]
    (container,) = spec["containers"]
    assert spec["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] == 1800
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "20Gi"},
        "limits": {
            "cpu": "4",
            "memory": "16Gi",
            "ephemeral-storage": "20Gi",
            "nvidia.com/gpu": "2",
        },
    }
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}} in spec["volumes"]


@pytest.mark.parametrize(
    ("keep_failed", "action"), [(True, "delete_succeeded_pod"), (False, "delete_pod")]
)
def test_failed_pods_are_kept_and_their_events_logged(keep_failed: bool, action: str) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    cfg = load_config(environ={}, overrides={"kubernetes.keep_failed_pods": keep_failed})
    kwargs = pod_operator_kwargs(cfg)
    analyze = KubernetesPodOperator(task_id="analyze", arguments=["--help"], **kwargs)
    assert analyze.on_finish_action.value == action
    assert analyze.log_events_on_failure is True


def test_service_account_token_only_when_configured() -> None:
    cfg = load_config(environ={}, overrides={"kubernetes.automount_service_account_token": True})
    m = pod_manifest(cfg, "shibuya", date(2026, 11, 2), Shard(0, 1))
    assert m["spec"]["automountServiceAccountToken"] is True


# --- config errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "fields"),
    [
        ({"TRENDSCOPE_SOURCE_DIR": "s3://b/drop"}, ["data_dir: 'data'"]),
        ({"TRENDSCOPE_DATA_DIR": "s3://b/lake"}, ["source.path: 'data/dropzone'"]),
        ({"TRENDSCOPE_DATA_DIR": "/srv/ts"}, ["data_dir: '/srv/ts'", "source.path"]),
    ],
)
def test_kubernetes_executor_with_a_local_path_names_the_field(
    env: dict[str, str], fields: list[str]
) -> None:
    with pytest.raises(ConfigError, match="executor kubernetes") as err:
        load_config(environ={"TRENDSCOPE_EXECUTOR": "kubernetes", **env})
    for field in fields:
        assert field in str(err.value)


def test_bad_config_map_name_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"kubernetes\.config_map"):
        load_config(environ={}, overrides={"kubernetes.config_map": "Trendscope_Config"})


def test_bad_toleration_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"kubernetes\.tolerations"):
        load_config(
            environ={}, overrides={"kubernetes.tolerations": [{"key": "x", "efect": "NoSchedule"}]}
        )


@pytest.mark.parametrize(("text", "shard"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4))])
def test_shard_parse(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard and str(shard) == text


@pytest.mark.parametrize("text", ["4/4", "1", "-1/2", "a/b"])
def test_shard_parse_errors(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)


# --- Pod Security Standards, "restricted" profile ----------------------------------------------
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline rules included
# where a pod spec can break them), checked field by field on the manifest.
_ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict) -> list[str]:
    """What in ``pod`` breaks the restricted profile; empty when it would be admitted."""
    spec = pod["spec"]
    pod_sc = spec.get("securityContext") or {}
    out = [host for host in ("hostNetwork", "hostPID", "hostIPC") if spec.get(host)]
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            out.append(f"volume {vol['name']}: {sorted(kinds - _ALLOWED_VOLUMES)}")
    if pod_sc.get("runAsUser") == 0:
        out.append("pod: runAsUser 0")
    containers = [
        *spec.get("containers", []),
        *(spec.get("initContainers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile {seccomp}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: capabilities add {caps['add']}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.append(f"{name}: hostPort")
    return out


def test_manifest_meets_the_restricted_profile(manifest: dict) -> None:
    assert restricted_violations(manifest) == []
    (container,) = manifest["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert manifest["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(m: dict) -> None:
        *parents, leaf = path.split(".")
        node = m
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        if leaf.isdigit():
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return edit


_SC = "spec.containers.0.securityContext"


@pytest.mark.parametrize(
    ("edit", "violation"),
    [
        (_set("spec.hostNetwork", True), "hostNetwork"),
        (_set("spec.volumes.0", {"name": "h", "hostPath": {"path": "/"}}), "volume h"),
        (_set(f"{_SC}.privileged", True), "base: privileged"),
        (_set(f"{_SC}.allowPrivilegeEscalation", True), "allowPrivilegeEscalation"),
        (_set(f"{_SC}.runAsNonRoot", False), "runAsNonRoot"),
        (_set(f"{_SC}.runAsUser", 0), "base: runAsUser 0"),
        (_set(f"{_SC}.seccompProfile", {"type": "Unconfined"}), "seccompProfile Unconfined"),
        (_set(f"{_SC}.capabilities", {"drop": []}), "do not drop ALL"),
        (_set(f"{_SC}.capabilities.add", ["SYS_ADMIN"]), "capabilities add"),
    ],
)
def test_restricted_check_catches(
    manifest: dict, edit: Callable[[dict], None], violation: str
) -> None:
    """The check above is only worth something if it fails on what the profile forbids."""
    bad = copy.deepcopy(manifest)
    edit(bad)
    assert any(violation in v for v in restricted_violations(bad)), restricted_violations(bad)


def test_cli_prints_the_config_map_and_names_missing_arguments(capsys) -> None:
    import yaml

    from trendscope.cli import main

    assert main(["k8s-pod", "--config-map"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["kind"] == "ConfigMap" and "trendscope.yaml" in manifest["data"]
    assert main(["k8s-pod", "--location", "shibuya"]) == 2
    assert "--date required" in capsys.readouterr().err
