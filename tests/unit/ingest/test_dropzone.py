from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from trendscope.config import Location
from trendscope.ingest.dropzone import discover_posts, local_date
from trendscope.pipeline.ingest import ingest_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import IMAGES

TOKYO = Location(slug="shibuya", timezone="Asia/Tokyo")
DAY = date(2026, 11, 2)


def _jpeg(path: Path, seed: int = 0) -> Path:
    from PIL import Image
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(data.chelsea()).rotate(seed)  # distinct bytes per seed
    img.save(path, "JPEG")
    return path


def _manifest(root: Path, posts: list[dict | str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "posts.jsonl"
    path.write_text("\n".join(p if isinstance(p, str) else json.dumps(p) for p in posts) + "\n")
    return path


@pytest.mark.parametrize(
    ("taken_at", "expected"),
    [
        ("2026-11-02T23:30:00+09:00", date(2026, 11, 2)),
        ("2026-11-02T15:30:00+00:00", date(2026, 11, 3)),  # 00:30 next day in Tokyo
        ("2026-11-02T14:59:59Z", date(2026, 11, 2)),
        ("2026-11-02T23:59:00", date(2026, 11, 2)),  # naive: local time at the location
    ],
)
def test_local_date_uses_location_timezone(taken_at: str, expected: date) -> None:
    from datetime import datetime

    assert local_date(datetime.fromisoformat(taken_at.replace("Z", "+00:00")), TOKYO) == expected


def test_manifest_and_folder_layout(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    export = root / "export"
    _jpeg(export / "a.jpg", 1)
    _jpeg(export / "b.jpg", 2)
    _jpeg(export / "c.jpg", 3)
    _jpeg(root / "shibuya" / "2026-11-02" / "folder.jpg", 4)
    # the same file named by a manifest and sitting in the day folder counts once
    _jpeg(root / "shibuya" / "2026-11-02" / "listed.jpg", 5)
    _manifest(
        export,
        [
            {
                "image": "a.jpg",
                "location": "shibuya",
                "taken_at": "2026-11-02T10:00:00+09:00",
                "author": "mika",
                "hashtags": ["#cat", "tokyo"],
                "likes": 12,
                "post_id": 991,
            },
            {"image": "b.jpg", "location": "shibuya", "taken_at": "2026-11-03T10:00:00+09:00"},
            {"image": "c.jpg", "location": "brooklyn", "taken_at": "2026-11-02T10:00:00+09:00"},
            {"image": "gone.jpg", "location": "shibuya", "taken_at": "2026-11-02T11:00:00+09:00"},
            {
                "image": "../../../etc/passwd",
                "location": "shibuya",
                "taken_at": "2026-11-02T12:00:00+09:00",
            },
            {
                "image": "../shibuya/2026-11-02/listed.jpg",
                "location": "shibuya",
                "taken_at": "2026-11-02T13:00:00+09:00",
            },
            "this is not json",
            {"image": "a.jpg", "location": "shibuya", "taken_at": "yesterday"},
            # a second post naming the same file: a file is one post, the line is skipped
            {"image": "a.jpg", "location": "shibuya", "taken_at": "2026-11-02T20:00:00+09:00"},
        ],
    )
    posts = discover_posts(root, TOKYO, DAY)
    assert len(posts) == 5  # one row per file, so the images key (location, date, uri) holds
    by_name = {Path(p.source_uri).name: p for p in posts}
    assert sorted(by_name) == ["a.jpg", "folder.jpg", "gone.jpg", "listed.jpg", "passwd"]
    a = by_name["a.jpg"]
    assert (a.author, a.hashtags, a.likes, a.post_id) == ("mika", ["cat", "tokyo"], 12, "991")
    assert by_name["gone.jpg"].problem == "file named in the manifest is missing"
    assert "outside the drop zone" in by_name["passwd"].problem
    assert by_name["folder.jpg"].taken_at is None and by_name["folder.jpg"].problem is None
    assert by_name["listed.jpg"].taken_at is not None  # came from the manifest, not the folder


def test_ingest_day_statuses_reconcile(config, tmp_path: Path) -> None:
    day_dir = Path(config.source_root) / "shibuya" / DAY.isoformat()
    first = _jpeg(day_dir / "01.jpg", 1)
    (day_dir / "02-copy.jpg").write_bytes(first.read_bytes())
    _jpeg(day_dir / "03.jpg", 3)
    (day_dir / "04.jpg").write_text("<html>not found</html>")
    (day_dir / "05.jpg").write_bytes(b"")
    result = ingest_day(config, "shibuya", DAY)
    assert result.counts == {"posts": 5, "ok": 2, "duplicate": 1, "quarantined": 2, "shards": 1}
    staged = storage.read_table(
        partition_path(config.data_root, "images", "shibuya", DAY, area="staging"), IMAGES
    ).to_pylist()
    rows = {Path(r["source_uri"]).name: r for r in staged}
    assert rows["02-copy.jpg"]["status"] == "duplicate"
    assert rows["02-copy.jpg"]["duplicate_of"] == rows["01.jpg"]["image_id"]
    assert rows["04.jpg"]["reason"].startswith("not an image")
    assert rows["05.jpg"]["reason"] == "empty file"
    assert (rows["03.jpg"]["width"], rows["03.jpg"]["height"]) == (451, 300)
    assert all(r["date"] == DAY and r["location"] == "shibuya" for r in staged)
    # a re-run gives the same rows
    ingest_day(config, "shibuya", DAY)
    again = storage.read_table(
        partition_path(config.data_root, "images", "shibuya", DAY, area="staging"), IMAGES
    ).to_pylist()
    assert again == staged


def test_missing_drop_zone_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="drop zone not found"):
        discover_posts(tmp_path / "nope", TOKYO, DAY)
