from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from row_builders import det_row, image_row
from trendscope.tables import storage
from trendscope.tables.paths import keyed_partition_path, partition_path, table_glob
from trendscope.tables.schemas import DETECTIONS, IMAGES, conform, contract, to_table


@pytest.mark.parametrize(
    ("root", "area", "expected"),
    [
        ("/data", "tables", "/data/tables/images/location=shibuya/date=2026-11-02/data.parquet"),
        ("/data/", "staging", "/data/staging/images/location=shibuya/date=2026-11-02/data.parquet"),
        (
            "s3://bucket/ts",
            "tables",
            "s3://bucket/ts/tables/images/location=shibuya/date=2026-11-02/data.parquet",
        ),
    ],
)
def test_partition_path(root: str, area: str, expected: str) -> None:
    assert partition_path(root, "images", "shibuya", date(2026, 11, 2), area=area) == expected


def test_table_glob() -> None:
    assert table_glob("/d", "detections") == "/d/tables/detections/location=*/date=*/data.parquet"


def test_to_table_follows_the_contract() -> None:
    t = to_table(IMAGES, [image_row("a", hashtags=["cat"])])
    assert t.schema.names == IMAGES.columns
    assert t.schema.metadata[b"trendscope.schema_version"] == b"1"
    assert t.column("hashtags").to_pylist() == [["cat"]]
    with pytest.raises(ValueError, match="not in the contract"):
        to_table(IMAGES, [{**image_row("a"), "colour": "red"}])
    with pytest.raises(ValueError, match="unknown table"):
        contract("nope")


def test_conform_rejects_missing_columns() -> None:
    t = to_table(DETECTIONS, [det_row("a", 0, "cat")]).drop_columns(["confidence"])
    with pytest.raises(ValueError, match="missing=\\['confidence'\\]"):
        conform(DETECTIONS, t)


def test_atomic_replace_leaves_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t" / "data.parquet")
    storage.write_table_atomic(to_table(DETECTIONS, [det_row("a", 0, "cat")]), path)
    storage.write_table_atomic(
        to_table(DETECTIONS, [det_row("b", 0, "dog"), det_row("b", 1, "cat")]), path
    )
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["data.parquet"]
    back = storage.read_table(path, DETECTIONS)
    assert back.column("image_id").to_pylist() == ["b", "b"]
    assert isinstance(back, pa.Table)


def test_failed_write_keeps_the_previous_partition(tmp_path: Path, monkeypatch) -> None:
    path = str(tmp_path / "t" / "data.parquet")
    storage.write_table_atomic(to_table(DETECTIONS, [det_row("a", 0, "cat")]), path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", boom)  # the one fault we cannot cause for real
    with pytest.raises(OSError, match="disk full"):
        storage.write_table_atomic(to_table(DETECTIONS, [det_row("z", 0, "dog")]), path)
    assert storage.read_table(path).column("image_id").to_pylist() == ["a"]
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["data.parquet"]


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        (
            "images",
            date(2026, 11, 2),
            "/d/tables/images/location=shibuya/date=2026-11-02/data.parquet",
        ),
        (
            "trends_daily",
            "2026-11-02",
            "/d/tables/trends_daily/location=shibuya/date=2026-11-02/data.parquet",
        ),
        # "2026-W45" parses as a day with date.fromisoformat; it must stay a period
        (
            "trends_weekly",
            "2026-W45",
            "/d/tables/trends_weekly/location=shibuya/period=2026-W45/data.parquet",
        ),
        (
            "trends_monthly",
            "2026-11",
            "/d/tables/trends_monthly/location=shibuya/period=2026-11/data.parquet",
        ),
    ],
)
def test_keyed_partition_path(table: str, key, expected: str) -> None:
    assert keyed_partition_path("/d", table, "shibuya", key) == expected
