"""The demo drop zone: deterministic, counted, with the planted trend and the hostile files."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from trendscope.demo import GROUND_TRUTH_NAME, MARKER_NAME, DemoSummary, build_demo

LOCATIONS = {"shibuya": "Asia/Tokyo", "brooklyn": "America/New_York"}
START = date(2026, 11, 2)
DAYS = [START + timedelta(days=i) for i in range(7)]


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, list[dict]]:
    out = tmp_path_factory.mktemp("demo") / "dropzone"
    summary = build_demo(out, start=START, days=7, posts_per_day=12, locations=LOCATIONS)
    truth = [json.loads(line) for line in summary.ground_truth.read_text().splitlines()]
    return summary, truth


def test_same_arguments_write_the_same_bytes(tmp_path: Path) -> None:
    small = {"start": START, "days": 3, "posts_per_day": 4, "locations": LOCATIONS}
    build_demo(tmp_path / "a", **small)
    build_demo(tmp_path / "b", **small)
    first = _digests(tmp_path / "a")
    # 2 x 3 x 4 posts, 3 hostile files, the manifest, the ground truth and the marker.
    assert len(first) == 24 + 3 + 3
    assert _digests(tmp_path / "b") == first
    build_demo(tmp_path / "b", **small)  # rebuilding a previous demo in place
    assert _digests(tmp_path / "b") == first
    assert _digests(tmp_path / "a") != _digests(build_demo(tmp_path / "c", **small, seed=8).root)


def test_rebuild_replaces_a_previous_demo(tmp_path: Path) -> None:
    out = tmp_path / "dz"
    build_demo(out, start=START, days=2, posts_per_day=3, locations=LOCATIONS)
    (out / "brooklyn" / "stale.jpg").write_bytes(b"left over")
    summary = build_demo(out, start=START, days=1, posts_per_day=3, locations=LOCATIONS)
    assert not (out / "brooklyn" / "stale.jpg").exists()
    assert not (out / "brooklyn" / "2026-11-03").exists()
    assert summary.total_posts == 6 and (out / MARKER_NAME).is_file()


def test_refuses_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a previous demo"):
        build_demo(tmp_path, start=START, days=1, locations=LOCATIONS)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "at least 1"),
        ({"posts_per_day": 0}, "at least 1"),
        ({"trend_label": "unicorn"}, "trend_label"),
        ({"trend_location": "paris"}, "trend_location"),
        ({"manifest_locations": ["paris"]}, "manifest_locations"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_demo(tmp_path / "dz", start=START, locations=LOCATIONS, **kwargs)
    assert not (tmp_path / "dz").exists()


def test_counts_per_location_and_day(week) -> None:
    summary, truth = week
    ok = Counter((t["location"], t["date"]) for t in truth if t["expect"] == "ok")
    assert ok == {(loc, d.isoformat()): 12 for loc in LOCATIONS for d in DAYS}
    assert summary.posts == {loc: dict.fromkeys(DAYS, 12) for loc in LOCATIONS}
    assert summary.total_posts == 168
    assert (summary.quarantined, summary.duplicates) == (2, 1)
    assert summary.ground_truth == summary.root / GROUND_TRUTH_NAME
    assert "168 posts" in str(summary)


@pytest.mark.parametrize(
    ("location", "days", "low", "high"),
    [
        ("shibuya", DAYS[:3], 0.0, 0.2),
        ("shibuya", DAYS[3:], 0.4, 0.75),
        ("brooklyn", DAYS, 0.05, 0.2),
    ],
)
def test_planted_cat_trend(week, location: str, days: list[date], low: float, high: float) -> None:
    summary, truth = week
    for day in days:
        posts = [
            t
            for t in truth
            if t["expect"] == "ok" and t["location"] == location and t["date"] == day.isoformat()
        ]
        cats = sum(any(o["label"] == "cat" for o in t["objects"]) for t in posts)
        assert low <= cats / len(posts) <= high, (location, day, cats)
        assert summary.planted[location][day] == cats


def test_images_decode_with_the_recorded_size_and_boxes(week) -> None:
    summary, truth = week
    for t in truth:
        if t["expect"] == "quarantined":
            continue
        path = summary.root / t["file"]
        with Image.open(path) as im:
            im.load()
            assert im.format == t["format"] and im.mode == "RGB"
            assert [im.width, im.height] == [t["width"], t["height"]] == t["size"]
        assert 480 <= t["width"] <= 900
        for obj in t["objects"]:
            x1, y1, x2, y2 = obj["box"]
            assert 0 <= x1 < x2 <= t["width"] and 0 <= y1 < y2 <= t["height"]
            if obj["label"] == "cat":
                assert (y2 - y1) / t["height"] >= 0.3
    assert {t["background"] for t in truth if "background" in t} == {
        "china",
        "flower",
        "rocket",
        "motorcycle",
    }


def test_posts_are_distinct_except_the_planted_duplicate(week) -> None:
    summary, truth = week
    by_digest: dict[str, str] = {}
    for t in truth:
        digest = hashlib.sha256((summary.root / t["file"]).read_bytes()).hexdigest()
        assert digest == t["sha256"]
        if t["expect"] == "ok":
            assert digest not in by_digest, (t["file"], by_digest.get(digest))
            by_digest[digest] = t["file"]
    (dup,) = [t for t in truth if t["expect"] == "duplicate"]
    assert by_digest[dup["sha256"]] == dup["duplicate_of"]
    assert dup["file"] == "brooklyn/2026-11-04/zz-repost-" + dup["duplicate_of"].rsplit("/")[-1]
    assert dup["file"] > dup["duplicate_of"]  # the original is the first copy by path


def test_hostile_files_are_present(week) -> None:
    summary, truth = week
    hostile = {t["file"]: t for t in truth if t["expect"] == "quarantined"}
    assert set(hostile) == {
        "brooklyn/2026-11-03/zz-truncated.jpg",
        "brooklyn/2026-11-03/zz-error-page.jpg",
    }
    truncated = (summary.root / "brooklyn/2026-11-03/zz-truncated.jpg").read_bytes()
    assert truncated.startswith(b"\xff\xd8") and not truncated.endswith(b"\xff\xd9")
    with (
        Image.open(summary.root / "brooklyn/2026-11-03/zz-truncated.jpg") as im,
        pytest.raises(OSError),
    ):
        im.load()
    page = (summary.root / "brooklyn/2026-11-03/zz-error-page.jpg").read_bytes()
    assert page.startswith(b"<!DOCTYPE html>")
    assert all(t["objects"] == [] for t in hostile.values())


def test_layout_uses_folders_for_brooklyn_and_a_manifest_for_shibuya(week) -> None:
    summary, truth = week
    assert summary.manifests == [summary.root / "shibuya-export" / "posts.jsonl"]
    assert not (summary.root / "shibuya").exists()
    for t in truth:
        if t["location"] == "brooklyn":
            assert t["file"].startswith(f"brooklyn/{t['date']}/") and t["form"] == "directory"
        else:
            assert t["file"].startswith("shibuya-export/media/") and t["form"] == "manifest"


def test_manifest_lines_map_to_their_local_tokyo_day(week) -> None:
    summary, truth = week
    manifest = summary.root / "shibuya-export" / "posts.jsonl"
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    truth_by_file = {t["file"]: t for t in truth}
    assert len(lines) == 84
    tokyo = ZoneInfo("Asia/Tokyo")
    utc_date_differs = 0
    for post in lines:
        t = truth_by_file["shibuya-export/" + post["image"]]
        taken = datetime.fromisoformat(post["taken_at"])
        assert taken.utcoffset() is not None
        assert taken.astimezone(tokyo).date().isoformat() == t["date"]
        assert taken == datetime.fromisoformat(t["taken_at"])
        assert (summary.root / "shibuya-export" / post["image"]).is_file()
        assert post["location"] == "shibuya" and post["post_id"] == t["post_id"]
        assert post["author"] and post["caption"] and post["source_url"]
        assert isinstance(post["likes"], int) and isinstance(post["followers"], int)
        assert all(not tag.startswith("#") for tag in post["hashtags"])
        utc_date_differs += taken.astimezone(ZoneInfo("UTC")).date().isoformat() != t["date"]
    assert utc_date_differs >= 7  # at least one early-morning post a day
