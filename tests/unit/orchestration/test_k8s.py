from __future__ import annotations

from datetime import date

import kubernetes_validate
import pytest
import yaml

from trendscope.cli import main
from trendscope.config import load_config
from trendscope.orchestration.k8s import pod_manifest
from trendscope.pipeline.shards import Shard

K8S_VERSION = "1.32"


@pytest.fixture
def manifest(capsys) -> dict:
    code = main(["k8s-pod", "--location", "shibuya", "--date", "2026-11-02", "--shard", "1/4"])
    out = capsys.readouterr().out
    assert code == 0
    return yaml.safe_load(out)


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
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert manifest["spec"]["securityContext"]["runAsUser"] == 1000
    assert manifest["spec"]["restartPolicy"] == "Never"
    assert manifest["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert manifest["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert manifest["metadata"]["namespace"] == "trendscope"
    # no XCom sidecar: the step passes object-store paths, never data
    assert [c["name"] for c in manifest["spec"]["containers"]] == ["base"]


def test_credentials_only_by_secret_name(manifest: dict) -> None:
    (container,) = manifest["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "trendscope-s3"}}]
    text = yaml.safe_dump(manifest).lower()
    for word in ("aws_secret_access_key", "password", "token:"):
        assert word not in text


def test_config_map_is_mounted_read_only() -> None:
    cfg = load_config(
        environ={}, overrides={"kubernetes.config_map": "trendscope-config", "kubernetes.gpus": 2}
    )
    m = pod_manifest(cfg, "brooklyn", date(2026, 11, 3), Shard(0, 1))
    kubernetes_validate.validate(m, K8S_VERSION, strict=True)
    (container,) = m["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TRENDSCOPE_CONFIG"] == "/etc/trendscope/trendscope.yaml"
    assert {"name": "config", "mountPath": "/etc/trendscope", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"


@pytest.mark.parametrize(("text", "shard"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4))])
def test_shard_parse(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard and str(shard) == text


@pytest.mark.parametrize("text", ["4/4", "1", "-1/2", "a/b"])
def test_shard_parse_errors(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)


def test_bad_toleration_names_the_field() -> None:
    from trendscope.config import ConfigError

    with pytest.raises(ConfigError, match=r"kubernetes\.tolerations"):
        load_config(
            environ={}, overrides={"kubernetes.tolerations": [{"key": "x", "efect": "NoSchedule"}]}
        )
