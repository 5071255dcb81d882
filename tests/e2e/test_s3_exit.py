"""``trendscope run`` on an ``s3://`` data root exits 0, run after run (issue 13: exit 134).

Each run is its own process against moto's S3 server on localhost, so whatever is left alive
at interpreter exit gets its chance to abort it (the cause found: docs/operations.md, "Clean
exits"; it struck a few percent of runs under CPU load).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_data import DAY, REPO, S3_CREDENTIALS
from trendscope.tables import storage
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e

RUNS = 10


@pytest.fixture(scope="module")
def s3_env(s3_endpoint: str, models_dir: Path, tmp_path_factory):
    """An ``exit-lake`` bucket on the S3 server and the environment a ``trendscope`` process
    needs (a bucket of its own: moto's state outlives a module's server)."""
    import boto3
    from PIL import Image

    from trendscope.photos import sample_photo

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="exit-lake")
    # a tiny drop zone: one cat (detector, crop and classifier) and one cup
    dropzone = tmp_path_factory.mktemp("s3-exit") / "dropzone"
    day_dir = dropzone / "shibuya" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    for photo in ("chelsea", "coffee"):
        Image.fromarray(sample_photo(photo)).save(day_dir / f"{photo}.jpg")
    yield {
        **os.environ,
        **S3_CREDENTIALS,
        "TRENDSCOPE_DATA_DIR": "s3://exit-lake/trendscope",
        "TRENDSCOPE_SOURCE_DIR": str(dropzone),
        "TRENDSCOPE_MODELS_DIR": str(models_dir),
        "TRENDSCOPE_S3_ENDPOINT_URL": s3_endpoint,
    }


def test_run_on_s3_exits_zero_every_time(s3_env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "trendscope", "-q", "run"]
    command += ["--location", "shibuya", "--date", DAY.isoformat()]
    failures = []
    for i in range(RUNS):
        run = subprocess.run(command, env=s3_env, cwd=REPO, capture_output=True, text=True)
        if run.returncode != 0:
            failures.append(f"run {i}: exit {run.returncode}\n{run.stderr[-2000:]}")
    assert not failures, f"{len(failures)} of {RUNS} runs failed:\n" + "\n".join(failures)

    assert storage.list_files("s3://exit-lake/trendscope/tables") == sorted(
        partition_path("s3://exit-lake/trendscope", table, "shibuya", DAY)
        for table in ("images", "detections", "colors", "tags", "engagement", "trends_daily")
    )
    assert storage.list_files("s3://exit-lake/trendscope/staging") == []
