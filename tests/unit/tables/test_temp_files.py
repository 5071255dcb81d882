"""What a writer killed mid-write leaves beside a partition is cleaned up by the next write."""

from __future__ import annotations

import os
import time
from pathlib import Path

from trendscope.tables import storage


def test_the_next_write_removes_old_temp_files_but_not_a_writer_busy_now(tmp_path: Path) -> None:
    target = (
        tmp_path / "tables" / "images" / "location=shibuya" / "date=2026-11-05" / "data.parquet"
    )
    target.parent.mkdir(parents=True)
    old = target.with_name(".data.parquet.0123abcd.tmp")  # a writer SIGKILLed yesterday
    busy = target.with_name(".data.parquet.4567ef01.tmp")  # a writer at work right now
    other = target.with_name(".other.parquet.89ab.tmp")  # another file's temp: not ours
    for f in (old, busy, other):
        f.write_bytes(b"partial")
    stale = time.time() - 2 * storage.STALE_TEMP_S
    os.utime(old, (stale, stale))
    os.utime(other, (stale, stale))
    storage.write_bytes_atomic(b"new", str(target))
    assert target.read_bytes() == b"new"
    assert not old.exists()
    assert busy.exists() and other.exists()
