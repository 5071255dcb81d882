"""A location-day split into shards publishes exactly what one worker would."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from e2e_data import DAY
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import IncompleteStagingError, publish_day
from trendscope.pipeline.run import run_day
from trendscope.pipeline.shards import Shard
from trendscope.tables.paths import partition_path

pytestmark = pytest.mark.e2e


def _published(config) -> dict[str, list[dict]]:
    return {
        t: pq.read_table(partition_path(config.data_root, t, "shibuya", DAY)).to_pylist()
        for t in ("images", "detections", "colors", "tags", "trends_daily")
    }


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        if isinstance(a[k], float) and isinstance(b[k], float):
            if abs(a[k] - b[k]) > 1e-4:
                return False
        elif a[k] != b[k]:
            return False
    return True


def test_three_shards_equal_one(e2e_config, tmp_path) -> None:
    whole = e2e_config.model_copy(update={"data_dir": str(tmp_path / "one")})
    sharded = e2e_config.model_copy(
        update={
            "data_dir": str(tmp_path / "three"),
            "sharding": e2e_config.sharding.model_copy(update={"max_images_per_shard": 2}),
        }
    )
    run_day(whole, "shibuya", DAY)
    results = run_day(sharded, "shibuya", DAY)
    assert results[0].counts["shards"] == 3  # 6 ok images at ingest, 2 per shard
    assert [r.counts["shard"] for r in results if r.step == "analyze"] == [0, 1, 2]
    got, want = _published(sharded), _published(whole)
    for table in want:
        assert len(got[table]) == len(want[table]), table
        for g, w in zip(got[table], want[table], strict=True):
            # floats may differ in the last bits: BLAS sums in another order for other batches
            assert _same(g, w), (table, g, w)


def test_publish_refuses_a_missing_shard_and_keeps_the_published_day(e2e_config, tmp_path) -> None:
    cfg = e2e_config.model_copy(
        update={
            "data_dir": str(tmp_path / "d"),
            "sharding": e2e_config.sharding.model_copy(update={"max_images_per_shard": 4}),
        }
    )
    run_day(cfg, "shibuya", DAY)
    before = _published(cfg)
    n = ingest_day(cfg, "shibuya", DAY).counts["shards"]
    assert n == 2
    analyze_day(cfg, "shibuya", DAY, Shard(0, n))  # shard 1 never ran
    with pytest.raises(IncompleteStagingError, match=r"shards \[1\] of 2"):
        publish_day(cfg, "shibuya", DAY)
    assert _published(cfg) == before
