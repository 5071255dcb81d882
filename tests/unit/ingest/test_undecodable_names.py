"""File names that are not UTF-8 (Latin-1 bytes, as an older system or a zip archive leaves
them) and text that is not valid Unicode: a quarantine record with a reason, never a failed day."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from trendscope.config import Location
from trendscope.ingest.dropzone import NAME_NOT_UTF8
from trendscope.ingest.importers import gallery_dl_posts
from trendscope.photos import sample_photo_path
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.status import PUBLISHED, day_status
from trendscope.pipeline.trends import trends_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import IMAGES

TOKYO = Location(slug="shibuya", timezone="Asia/Tokyo")
DAY = date(2026, 11, 2)


def _copy(photo: str, path: bytes) -> None:
    """A packaged photo written at a bytes path (any name the file system allows)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(sample_photo_path(photo).read_bytes())


def _day_dir(root: str | Path) -> bytes:
    return os.path.join(os.fsencode(root), b"shibuya", DAY.isoformat().encode())


def _rows(config, area: str = "staging") -> dict[str, dict]:
    """The day's ``images`` rows by their path under the day folder."""
    path = partition_path(config.data_root, IMAGES.name, "shibuya", DAY, area=area)
    prefix = os.fsdecode(_day_dir(os.path.realpath(config.source_root))) + "/"
    return {
        r["source_uri"].removeprefix(prefix): r
        for r in storage.read_table(path, IMAGES).to_pylist()
    }


@pytest.mark.parametrize(
    ("name", "status", "reason", "stored"),
    [
        pytest.param(b"caf\xe9.jpg", "quarantined", NAME_NOT_UTF8, "caf\\xe9.jpg", id="latin-1"),
        pytest.param(b"\xff\xfe.jpg", "quarantined", NAME_NOT_UTF8, "\\xff\\xfe.jpg", id="binary"),
        pytest.param(
            b"r\xe9union/a.jpg", "quarantined", NAME_NOT_UTF8, "r\\xe9union/a.jpg", id="folder"
        ),
        pytest.param(b"caf\xc3\xa9.jpg", "ok", None, "café.jpg", id="utf-8"),
    ],
)
def test_a_file_name_that_is_not_utf8_is_quarantined(
    config, name: bytes, status: str, reason: str | None, stored: str
) -> None:
    day_dir = _day_dir(config.source_root)
    _copy("chelsea", os.path.join(day_dir, name))
    _copy("coffee", os.path.join(day_dir, b"other.jpg"))
    result = ingest_day(config, "shibuya", DAY)
    rows = _rows(config)
    assert sorted(rows) == sorted([stored, "other.jpg"])
    assert (rows[stored]["status"], rows[stored]["reason"]) == (status, reason)
    assert rows["other.jpg"]["status"] == "ok"  # the day's other files ingest as always
    assert result.counts["posts"] == 2
    assert result.counts["quarantined"] == (status == "quarantined")


def test_gallery_dl_file_name_that_is_not_utf8_is_quarantined(tmp_path: Path) -> None:
    image = os.path.join(os.fsencode(tmp_path), b"shibuya", b"caf\xe9.jpg")
    _copy("chelsea", image)
    with open(image + b".json", "w") as fh:
        json.dump({"date": "2026-11-02 01:00:00", "username": "mika"}, fh)
    (post,) = gallery_dl_posts(str(tmp_path), TOKYO, DAY)
    assert post.source_uri == f"{tmp_path}/shibuya/caf\\xe9.jpg"
    assert (post.readable, post.problem, post.author) == (False, NAME_NOT_UTF8, "mika")


def test_manifest_text_with_lone_surrogates(config, caplog: pytest.LogCaptureFixture) -> None:
    """JSON may escape a lone surrogate (``\\ud800``), which no UTF-8 column can hold."""
    day_dir = Path(os.fsdecode(_day_dir(config.source_root)))
    _copy("chelsea", os.fsencode(day_dir / "cat.jpg"))
    lines = [
        {"image": "cat.jpg", "caption": "caf\ud800", "hashtags": ["ok", "\udfff"]},
        {"image": "\ud800.jpg"},  # no file can have that name: an invalid line, skipped
    ]
    (day_dir / "posts.jsonl").write_text(
        "".join(
            json.dumps({**line, "location": "shibuya", "taken_at": "2026-11-02T10:00:00+09:00"})
            + "\n"
            for line in lines
        )
    )
    assert ingest_day(config, "shibuya", DAY).counts == {
        "posts": 1, "ok": 1, "duplicate": 0, "quarantined": 0, "shards": 1
    }  # fmt: skip
    row = _rows(config)["cat.jpg"]
    assert (row["caption"], row["hashtags"]) == ("caf\ufffd", ["ok", "\ufffd"])
    assert "skipping invalid manifest line" in caplog.text and "posts.jsonl:2" in caplog.text


def test_the_quarantined_name_is_published_with_the_day(config) -> None:
    """The row passes the images suite and publish; status sees no file left unpublished."""
    day_dir = _day_dir(config.source_root)
    _copy("chelsea", os.path.join(day_dir, b"caf\xe9.jpg"))
    _copy("coffee", os.path.join(day_dir, b"coffee.jpg"))
    ingest_day(config, "shibuya", DAY)
    analyze_day(config, "shibuya", DAY)
    publish_day(config, "shibuya", DAY)  # raises if the images suite fails
    trends_day(config, "shibuya", DAY)
    rows = _rows(config, area="tables")
    assert rows["caf\\xe9.jpg"]["status"] == "quarantined"
    assert rows["caf\\xe9.jpg"]["reason"] == NAME_NOT_UTF8
    assert rows["coffee.jpg"]["status"] == "ok"
    status = day_status(config, "shibuya", DAY)
    assert (status.state, status.source_unpublished) == (PUBLISHED, 0)
