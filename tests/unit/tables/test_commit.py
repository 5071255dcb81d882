"""A location-day's images and detections become visible together, even when a publish dies."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from row_builders import det_row, image_row
from trendscope.tables import storage
from trendscope.tables.commit import (
    InconsistentDayError,
    Intent,
    commit_copy_path,
    intent_path,
    new_publish_id,
    publish_id_of,
    publish_together,
    read_intent,
    read_together,
    recover,
    recover_all,
    tagged,
)
from trendscope.tables.paths import partition_path
from trendscope.tables.query import run_query
from trendscope.tables.schemas import COLORS, DETECTIONS, IMAGES, to_table

DAY = date(2026, 11, 5)
LOC = "shibuya"


def _images(n: int, tag: str) -> pa.Table:
    return to_table(
        IMAGES, [image_row(f"{tag}{i:03d}", date=DAY, author=f"u{i % 3}") for i in range(n)]
    )


def _detections(n: int, tag: str) -> pa.Table:
    label = "cat" if tag == "new" else "dog"
    return to_table(DETECTIONS, [det_row(f"{tag}{i:03d}", 0, label, date=DAY) for i in range(n)])


def _publish(root: str, n: int, tag: str) -> str:
    return publish_together(
        root, LOC, DAY, [(IMAGES, _images(n, tag)), (DETECTIONS, _detections(n, tag))]
    )


def _read(root: str) -> tuple[pa.Table, pa.Table]:
    images, detections = read_together(root, LOC, DAY, [(IMAGES, None), (DETECTIONS, None)])
    return images, detections


def _crash_after_intent(root: str, n: int, tag: str, replaced: tuple[str, ...]) -> str:
    """The state a publish leaves when it dies after its intent, having replaced ``replaced``.

    Built with the module's own path functions, step by step as :func:`publish_together` does.
    """
    publish_id = new_publish_id()
    files = {}
    for contract, table in ((IMAGES, _images(n, tag)), (DETECTIONS, _detections(n, tag))):
        copy = commit_copy_path(root, publish_id, contract.name, LOC, DAY)
        storage.write_table_atomic(tagged(table, publish_id), copy)
        files[contract.name] = copy
        if contract.name in replaced:
            storage.write_table_atomic(
                tagged(table, publish_id), partition_path(root, contract.name, LOC, DAY)
            )
    intent = Intent(publish_id, LOC, DAY.isoformat(), files, "2026-11-06T00:00:00+00:00")
    storage.write_bytes_atomic(intent.to_json(), intent_path(root, LOC, DAY))
    return publish_id


def test_a_publish_tags_both_tables_and_leaves_nothing_behind(tmp_path: Path) -> None:
    root = str(tmp_path)
    first = _publish(root, 3, "old")
    images, detections = _read(root)
    assert publish_id_of(images) == publish_id_of(detections) == first
    assert images.num_rows == detections.num_rows == 3
    second = _publish(root, 5, "new")
    images, detections = _read(root)
    assert publish_id_of(images) == publish_id_of(detections) == second != first
    assert set(detections.column("label").to_pylist()) == {"cat"}
    assert read_intent(root, LOC, DAY) is None
    assert not (tmp_path / "staging" / "commits").exists() or not any(
        (tmp_path / "staging" / "commits").rglob("*.parquet")
    )


@pytest.mark.parametrize("replaced", [(), ("detections",), ("detections", "images")])
def test_readers_see_the_new_day_whole_after_a_crash_past_the_intent(
    tmp_path: Path, replaced
) -> None:
    """Images old and detections new on disk: every reader still gets one version."""
    root = str(tmp_path)
    old = _publish(root, 3, "old")
    crashed = _crash_after_intent(root, 5, "new", replaced)
    images, detections = _read(root)
    # nothing replaced yet: the old day, whole; anything replaced: the new day, whole
    expected = (crashed, 5, {"cat"}) if replaced else (old, 3, {"dog"})
    assert publish_id_of(images) == publish_id_of(detections) == expected[0]
    assert images.num_rows == expected[1]
    assert set(detections.column("label").to_pylist()) == expected[2]
    # SQL sees the same version: 5 images, all with a cat detection
    got = run_query(
        root,
        "SELECT count(DISTINCT i.image_id) AS n, count(d.image_id) AS cats FROM images i "
        "LEFT JOIN detections d USING (image_id) WHERE d.label = 'cat' OR d.label IS NULL",
    ).to_pylist()
    assert got == [{"n": 5, "cats": 5}]
    # the next publish of the day (or `trendscope recover`) finishes it first
    assert recover(root, LOC, DAY) == crashed
    assert read_intent(root, LOC, DAY) is None
    images, detections = _read(root)
    assert publish_id_of(images) == publish_id_of(detections) == crashed


def test_the_next_publish_finishes_an_interrupted_one_first(tmp_path: Path) -> None:
    root = str(tmp_path)
    _publish(root, 3, "old")
    _crash_after_intent(root, 5, "new", ("images",))
    latest = _publish(root, 4, "new")
    images, detections = _read(root)
    assert publish_id_of(images) == publish_id_of(detections) == latest
    assert images.num_rows == 4


def test_a_crash_before_the_intent_keeps_the_old_day_and_gc_drops_the_copies(
    tmp_path: Path,
) -> None:
    root = str(tmp_path)
    old = _publish(root, 3, "old")
    orphan = "20200101T000000000000Z-deadbeef"  # a publish that died writing its copies, long ago
    storage.write_table_atomic(
        _images(5, "new"), commit_copy_path(root, orphan, "images", LOC, DAY)
    )
    images, detections = _read(root)
    assert publish_id_of(images) == publish_id_of(detections) == old
    assert recover_all(root) == []
    assert not list((tmp_path / "staging" / "commits").rglob("*.parquet"))


def test_recover_all_rolls_every_pending_publish_forward(tmp_path: Path) -> None:
    root = str(tmp_path)
    _publish(root, 3, "old")
    crashed = _crash_after_intent(root, 5, "new", ())
    assert recover_all(root) == [crashed]
    assert publish_id_of(_read(root)[0]) == crashed


def test_mixed_publishes_without_an_intent_are_an_error_not_a_silent_mix(tmp_path: Path) -> None:
    root = str(tmp_path)
    _publish(root, 3, "old")
    storage.write_table_atomic(  # e.g. one file restored by hand from a backup
        tagged(_images(4, "new"), new_publish_id()), partition_path(root, "images", LOC, DAY)
    )
    with pytest.raises(InconsistentDayError, match=r"shibuya 2026-11-05.*re-run the day"):
        read_together(root, LOC, DAY, [(IMAGES, None), (DETECTIONS, None)], attempts=2)


def test_partitions_written_before_the_protocol_still_read(tmp_path: Path) -> None:
    root = str(tmp_path)
    storage.write_table_atomic(_images(2, "old"), partition_path(root, "images", LOC, DAY))
    storage.write_table_atomic(_detections(2, "old"), partition_path(root, "detections", LOC, DAY))
    images, _ = _read(root)
    assert publish_id_of(images) is None and images.num_rows == 2


def test_a_day_not_published_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not published"):
        _read(str(tmp_path))


def test_an_optional_table_a_day_was_published_without_reads_as_none(tmp_path: Path) -> None:
    """Days published before ``colors`` existed still read, in one pass, with no colours."""
    root = str(tmp_path)
    _publish(root, 3, "old")
    specs = [(IMAGES, None), (DETECTIONS, None), (COLORS, None)]
    images, detections, colors = read_together(root, LOC, DAY, specs, optional=("colors",))
    assert (images.num_rows, detections.num_rows, colors) == (3, 3, None)
    with pytest.raises(FileNotFoundError, match="not published"):
        read_together(root, LOC, DAY, specs)  # required: the missing table is an error


def test_an_optional_table_of_another_publish_is_still_a_mix(tmp_path: Path) -> None:
    root = str(tmp_path)
    _publish(root, 3, "old")
    stray = tagged(COLORS.schema.empty_table(), new_publish_id())
    storage.write_table_atomic(stray, partition_path(root, "colors", LOC, DAY))
    specs = [(IMAGES, None), (DETECTIONS, None), (COLORS, None)]
    with pytest.raises(InconsistentDayError):
        read_together(root, LOC, DAY, specs, optional=("colors",), attempts=2)
