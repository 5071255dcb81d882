"""Reposts (re-encoded, resized, cropped, watermarked) count once; distinct photos all count."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from trendscope.ingest.inspect import hamming, perceptual_hash
from trendscope.photos import sample_photo
from trendscope.pipeline.analyze import analyze_day
from trendscope.pipeline.ingest import ingest_day
from trendscope.pipeline.publish import publish_day
from trendscope.pipeline.trends import trends_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path

DAY = date(2026, 11, 2)


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _watermark(img: Image.Image) -> Image.Image:
    img = img.copy()
    ImageDraw.Draw(img).text(
        (10, img.height - 30), "@reposter_account  #cat #tokyo", fill=(255, 255, 255)
    )
    return img


ORIGINAL = Image.fromarray(sample_photo("chelsea"))
REPOSTS = {
    "re-encoded": lambda im: _jpeg(im, quality=45),
    "resized": lambda im: _jpeg(im.resize((im.width * 2 // 3, im.height * 2 // 3))),
    "cropped": lambda im: _jpeg(im.crop((8, 6, im.width - 8, im.height - 6))),
    "watermarked": lambda im: _jpeg(_watermark(im)),
    "png copy": lambda im: (lambda b: (im.save(b, "PNG"), b.getvalue())[1])(io.BytesIO()),
}


@pytest.mark.parametrize("kind", list(REPOSTS))
def test_reposts_are_within_the_distance(kind: str) -> None:
    assert hamming(perceptual_hash(_jpeg(ORIGINAL)), perceptual_hash(REPOSTS[kind](ORIGINAL))) <= 6


def test_distinct_real_photos_are_far_apart() -> None:
    names = [
        "chelsea",
        "coffee",
        "astronaut",
        "rocket",
        "china",
        "flower",
        "grace_hopper",
        "bus",
        "zidane",
    ]
    hashes = [perceptual_hash(_jpeg(Image.fromarray(sample_photo(n)))) for n in names]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > 12


def _write(config, day: date, name: str, data: bytes) -> None:
    path = Path(config.source_root) / "shibuya" / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_a_photo_reposted_many_times_is_one_image(config) -> None:
    """One cat photo reposted 12 times must not look like a cat trend."""
    _write(config, DAY, "a-original.jpg", _jpeg(ORIGINAL))
    for k in range(12):
        im = _watermark(ORIGINAL) if k % 2 else ORIGINAL.resize((400 - 10 * k, 266 - 7 * k))
        _write(config, DAY, f"b-repost-{k:02d}.jpg", _jpeg(im, quality=60 + k))
    for name in ("coffee", "astronaut", "rocket"):
        _write(config, DAY, f"c-{name}.jpg", _jpeg(Image.fromarray(sample_photo(name))))
    counts = ingest_day(config, "shibuya", DAY).counts
    assert (counts["ok"], counts["duplicate"]) == (4, 12)
    rows = storage.read_table(
        partition_path(config.data_root, "images", "shibuya", DAY, area="staging")
    ).to_pylist()
    original = next(r for r in rows if r["source_uri"].endswith("a-original.jpg"))
    reposts = [r for r in rows if Path(r["source_uri"]).name.startswith("b-repost")]
    assert len(reposts) == 12 and {r["duplicate_of"] for r in reposts} == {original["image_id"]}
    assert all(r["reason"].startswith("near-duplicate") for r in reposts)
    # and through the models and the trend table: one cat image among four, not 13 of 16
    analyze_day(config, "shibuya", DAY)
    publish_day(config, "shibuya", DAY)
    trends_day(config, "shibuya", DAY)
    trend = storage.read_table(partition_path(config.data_root, "trends_daily", "shibuya", DAY))
    cat = next(
        r
        for r in trend.to_pylist()
        if (r["kind"], r["label"], r["fine_label"]) == ("object", "cat", None)
    )
    assert (cat["images"], cat["ok_images"]) == (1, 4)


def test_reposts_on_later_days_within_the_window(config) -> None:
    _write(config, DAY, "original.jpg", _jpeg(ORIGINAL))
    ingest_day(config, "shibuya", DAY)
    analyze_day(config, "shibuya", DAY)
    publish_day(config, "shibuya", DAY)
    for offset, expected in ((3, "duplicate"), (10, "ok")):  # window is 7 days
        later = DAY + timedelta(days=offset)
        _write(config, later, "repost.jpg", _jpeg(_watermark(ORIGINAL), quality=70))
        ingest_day(config, "shibuya", later)
        (row,) = storage.read_table(
            partition_path(config.data_root, "images", "shibuya", later, area="staging")
        ).to_pylist()
        assert row["status"] == expected, offset
