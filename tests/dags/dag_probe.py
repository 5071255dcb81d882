"""Parse the DAG folder in a fresh interpreter, as the dag-processor does, and return what a
probe script printed (one ``PROBE{json}`` line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


def run_probe(probe: str, airflow_home: Path, executor: str, **extra: str) -> dict:
    """Run ``probe`` (Python source; gets the DAG folder as ``sys.argv[1]``) for ``executor``.

    Kubernetes mode gets object-store paths, since pods cannot read a laptop's folders.
    """
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), **extra}
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["TRENDSCOPE_EXECUTOR"] = executor
    if executor == "kubernetes":  # pods need an object store
        env["TRENDSCOPE_DATA_DIR"] = "s3://trendscope/lake"
        env["TRENDSCOPE_SOURCE_DIR"] = "s3://trendscope/dropzone"
    out = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PROBE")), None)
    assert line, f"probe failed:\n{out.stdout}\n{out.stderr}"
    return json.loads(line[len("PROBE") :])
