"""The compose stack parses and agrees with the config the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from trendscope.config import _SIMPLE_ENV, load_config

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _expand(value: str) -> str:
    """Substitute ``${VAR:-default}``; ``${VAR:?message}`` (a required secret) becomes ``<VAR>``."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"<{m.group(1)}>", value)


def test_services_and_commands(compose: dict) -> None:
    services = compose["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init", "postgres", "minio", "minio-init"):
        assert name in services, name
    assert {services[n]["command"] for n in AIRFLOW_SERVICES} == {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    }
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
    assert "mc mb --ignore-existing" in services["minio-init"]["command"][0]


def test_volumes_are_declared(compose: dict) -> None:
    declared = set(compose["volumes"])
    for svc in compose["services"].values():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source
            else:
                assert (REPO / source).exists(), source


def test_environment_matches_the_config(compose: dict, tmp_path: Path) -> None:
    env = {
        k: _expand(str(v))
        for k, v in compose["services"]["airflow-scheduler"]["environment"].items()
    }
    trendscope_vars = {k for k in env if k.startswith("TRENDSCOPE")}
    known = set(_SIMPLE_ENV) | {"TRENDSCOPE_CONFIG"}
    assert trendscope_vars <= known, trendscope_vars - known
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["TRENDSCOPE_EXECUTOR"] == "local"
    # the config the code loads with this environment points at MinIO and the created bucket
    cfg = load_config(REPO / "include/config/trendscope.yaml", environ=env)
    bucket = _expand(compose["services"]["minio-init"]["environment"]["TRENDSCOPE_BUCKET"])
    assert cfg.data_root == f"s3://{bucket}/lake"
    assert cfg.source_root == f"s3://{bucket}/dropzone"
    assert cfg.storage.endpoint_url == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == _expand(
        compose["services"]["minio"]["environment"]["MINIO_ROOT_USER"]
    )
    assert env["TRENDSCOPE_CONFIG"].startswith("/opt/airflow/include/")


def test_no_secret_is_written_in_the_compose_file(compose: dict) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert _expand(env["AWS_SECRET_ACCESS_KEY"]) == "<MINIO_ROOT_PASSWORD>"
    assert _expand(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == "<AIRFLOW_JWT_SECRET>"
