from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from trendscope.demo import build_demo

LOCATIONS = {"shibuya": "Asia/Tokyo", "brooklyn": "America/New_York"}
START = date(2026, 11, 2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("demo") / "dz"
    build_demo(out, start=START, days=5, posts_per_day=20, locations=LOCATIONS)
    truth = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text().splitlines()]
    return out, truth


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_rebuild_is_byte_for_byte_identical(tmp_path) -> None:
    small = {"start": START, "days": 3, "posts_per_day": 5, "locations": LOCATIONS}
    build_demo(tmp_path / "a", **small)
    build_demo(tmp_path / "b", **small)
    first = _digests(tmp_path / "a")
    assert len(first) == 3 * 5 * 2 + 3 + 2 + 1  # posts, hostile files, manifest, truth, marker
    assert _digests(tmp_path / "b") == first
    build_demo(tmp_path / "b", **small)  # rebuilding a previous demo in place
    assert _digests(tmp_path / "b") == first


def test_refuses_a_foreign_directory(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a previous demo"):
        build_demo(tmp_path, start=START, days=1, locations=LOCATIONS)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_counts_and_planted_trend(demo) -> None:
    _, truth = demo
    ok = [t for t in truth if t["expect"] == "ok"]
    per_day = Counter((t["location"], t["date"]) for t in ok)
    assert set(per_day.values()) == {20} and len(per_day) == 10
    share = {
        k: sum(
            1
            for t in ok
            if (t["location"], t["date"]) == k and any(o["label"] == "cat" for o in t["objects"])
        )
        / 20
        for k in per_day
    }
    for d in range(5):
        day = date(2026, 11, 2 + d).isoformat()
        if d + 1 >= 4:
            assert share[("shibuya", day)] >= 0.4
        else:
            assert share[("shibuya", day)] <= 0.2
        assert share[("brooklyn", day)] <= 0.2


def test_files_are_distinct_real_images_of_the_recorded_size(demo) -> None:
    out, truth = demo
    seen: dict[str, str] = {}
    for t in truth:
        data = (out / t["file"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if t["expect"] == "ok":
            assert digest not in seen, (t["file"], seen.get(digest))
            seen[digest] = t["file"]
            with Image.open(out / t["file"]) as img:
                assert list(img.size) == t["size"]
                assert 30 < sum(img.convert("L").resize((8, 8)).getdata()) / 64 < 230
            for o in t["objects"]:
                x1, y1, x2, y2 = o["box"]
                assert 0 <= x1 < x2 <= t["size"][0] and 0 <= y1 < y2 <= t["size"][1]
        elif t["expect"] == "duplicate":
            assert seen[digest] == t["duplicate_of"]
    expected = Counter(t["expect"] for t in truth)
    assert expected["quarantined"] == 2 and expected["duplicate"] == 1


def test_manifest_times_fall_on_their_local_day(demo) -> None:
    out, truth = demo
    lines = (out / "shibuya-export" / "posts.jsonl").read_text().splitlines()
    assert len(lines) == 100
    by_image = {json.loads(line)["image"]: json.loads(line) for line in lines}
    for t in truth:
        if t["location"] != "shibuya":
            continue
        post = by_image[t["file"].removeprefix("shibuya-export/")]
        local = datetime.fromisoformat(post["taken_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        assert local.date().isoformat() == t["date"]
        assert post["location"] == "shibuya" and post["author"] and isinstance(post["likes"], int)
    assert (out / "brooklyn" / "2026-11-03" / "zz-truncated.jpg").is_file()
