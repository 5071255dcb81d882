"""The whole pipeline against a real S3 API server on localhost (moto's standalone server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_data import DAY
from trendscope.pipeline.run import run_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3_dropzone(s3_endpoint: str, dropzone: Path) -> str:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for bucket in ("drop", "lake"):
        s3.create_bucket(Bucket=bucket)
    for path in dropzone.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket="drop", Key=f"zone/{path.relative_to(dropzone)}", Body=path.read_bytes()
            )
    return "s3://drop/zone"


def test_pipeline_on_object_storage_matches_local(
    e2e_config, s3_endpoint, s3_dropzone, tmp_path
) -> None:
    s3_cfg = e2e_config.model_copy(
        update={
            "data_dir": "s3://lake/trendscope",
            "source": e2e_config.source.model_copy(update={"path": s3_dropzone}),
            "storage": e2e_config.storage.model_copy(update={"endpoint_url": s3_endpoint}),
        }
    )
    local_cfg = e2e_config.model_copy(update={"data_dir": str(tmp_path / "local")})
    run_day(local_cfg, "shibuya", DAY)
    for location in ("shibuya", "brooklyn"):
        run_day(s3_cfg, location, DAY)

    published = storage.list_files("s3://lake/trendscope/tables")
    assert published == sorted(
        partition_path("s3://lake/trendscope", t, loc, DAY)
        for t in ("images", "detections", "colors", "tags", "engagement", "trends_daily")
        for loc in ("shibuya", "brooklyn")
    )  # one object per partition, nothing else
    assert storage.list_files("s3://lake/trendscope/staging") == []

    def rows(cfg, table: str) -> list[dict]:
        return storage.read_table(partition_path(cfg.data_root, table, "shibuya", DAY)).to_pylist()

    s3_images, local_images = rows(s3_cfg, "images"), rows(local_cfg, "images")
    assert [r["status"] for r in s3_images] == [r["status"] for r in local_images]
    assert {r["reason"] for r in s3_images} == {r["reason"] for r in local_images}
    assert all(r["source_uri"].startswith("s3://drop/zone/shibuya/") for r in s3_images)
    assert [r["image_id"] for r in s3_images] == [r["image_id"] for r in local_images]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "source_uri"} for r in rs]  # noqa: E731
    assert strip(rows(s3_cfg, "detections")) == strip(rows(local_cfg, "detections"))
    assert rows(s3_cfg, "trends_daily") == rows(local_cfg, "trends_daily")

    # validation results and each run's Data Docs page live beside the tables, on S3
    from trendscope.quality.results import latest_result

    kept = latest_result(s3_cfg, "detections", "shibuya", DAY.isoformat())
    assert kept["success"] is True
    assert kept["data_docs"] == "s3://lake/trendscope/quality/gx/docs/validations"
    pages = storage.list_files(kept["data_docs"])
    assert pages and all(p.endswith(".html") for p in pages)

    brooklyn = storage.read_table(partition_path(s3_cfg.data_root, "images", "brooklyn", DAY))
    assert sorted(brooklyn.column("post_id").to_pylist()) == ["bk-0", "bk-1", "bk-2"]

    # a re-run replaces the partitions in place: still one object each, same rows
    before = rows(s3_cfg, "detections")
    run_day(s3_cfg, "shibuya", DAY)
    assert storage.list_files("s3://lake/trendscope/tables") == published
    assert rows(s3_cfg, "detections") == before


def test_missing_object_is_a_clear_error(s3_endpoint) -> None:
    with pytest.raises(FileNotFoundError, match="partition not found"):
        storage.read_table("s3://lake/nope/data.parquet")
    assert not storage.exists("s3://lake/nope/data.parquet")
