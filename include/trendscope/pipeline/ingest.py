"""Ingest step: find a location-day's posts, check every file, stage the ``images`` rows."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta, tzinfo

from trendscope.config import TrendscopeConfig
from trendscope.ingest.dropzone import Post
from trendscope.ingest.inspect import Inspection, inspect_file
from trendscope.ingest.neardup import NearDuplicateIndex
from trendscope.ingest.sources import discover
from trendscope.logs import progress
from trendscope.pipeline.result import StepResult
from trendscope.pipeline.shards import analysis_dir, shard_count
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import (
    IMAGES,
    STATUS_DUPLICATE,
    STATUS_OK,
    STATUS_QUARANTINED,
    to_table,
)

log = logging.getLogger(__name__)


def _row(post: Post, day: date, insp: Inspection | None, location_tz: tzinfo) -> dict:
    taken_at = post.taken_at
    if taken_at is None and insp is not None and insp.exif_taken_at is not None:
        taken_at = insp.exif_taken_at.replace(tzinfo=location_tz)
    ok = insp is not None and insp.ok and post.problem is None
    return {
        "image_id": insp.image_id if insp else "",
        "location": post.location,
        "date": day,
        "taken_at": taken_at,
        "source_uri": post.source_uri,
        "bytes": insp.bytes if insp else None,
        "format": insp.format if insp else None,
        "width": insp.width if insp else None,
        "height": insp.height if insp else None,
        "phash": insp.phash if insp else None,
        "status": STATUS_OK if ok else STATUS_QUARANTINED,
        "reason": None if ok else (post.problem or (insp.reason if insp else None)),
        "post_id": post.post_id,
        "author": post.author,
        "caption": post.caption,
        "hashtags": post.hashtags,
        "likes": post.likes,
        "followers": post.followers,
        "source_url": post.source_url,
    }


def mark_exact_duplicates(rows: list[dict]) -> None:
    """Keep the first copy of identical bytes (by taken_at, then uri); mark later ones duplicate."""
    first: dict[str, str] = {}
    for row in sorted(rows, key=_order_key):
        if row["status"] != STATUS_OK:
            continue
        if row["image_id"] in first:
            row["status"] = STATUS_DUPLICATE
            row["reason"] = "exact duplicate (same bytes) of an earlier post"
            row["duplicate_of"] = row["image_id"]
        else:
            first[row["image_id"]] = row["source_uri"]


def earlier_hashes(config: TrendscopeConfig, location: str, day: date) -> list[tuple[str, str]]:
    """``(phash, image_id)`` of ok images published for the location in the dedup window."""
    out = []
    for k in range(config.dedup.window_days, 0, -1):
        path = partition_path(config.data_root, IMAGES.name, location, day - timedelta(days=k))
        try:  # one read, no existence check first (a request each on object storage)
            table = storage.read_table(path, IMAGES, columns=["image_id", "status", "phash"])
        except FileNotFoundError:
            continue
        cols = table.to_pydict()
        out += [
            (h, i)
            for h, i, s in zip(cols["phash"], cols["image_id"], cols["status"], strict=True)
            if s == STATUS_OK and h
        ]
    return out


def mark_near_duplicates(
    rows: list[dict], earlier: list[tuple[str, str]], max_distance: int
) -> None:
    """Mark ok rows whose perceptual hash is within ``max_distance`` of an earlier copy.

    Earlier copies are the window's published images, then this day's ok rows in order
    (taken_at, then uri). The first copy within the distance counts (not the closest); a repost
    points at it in ``duplicate_of``, and is not itself a copy later rows can match.
    """
    index = NearDuplicateIndex(max_distance, (h for h, _ in earlier))
    ids = [image_id for _, image_id in earlier]
    for row in sorted(rows, key=_order_key):
        if row["status"] != STATUS_OK or not row.get("phash"):
            continue
        match = index.first_within(row["phash"])
        if match:
            row["status"] = STATUS_DUPLICATE
            row["duplicate_of"] = ids[match[0]]
            row["reason"] = (
                f"near-duplicate (perceptual hash distance {match[1]}) of an earlier post"
            )
        else:
            index.add(row["phash"])
            ids.append(row["image_id"])


def _order_key(row: dict) -> tuple:
    return (row["taken_at"] is None, row["taken_at"] or 0, row["source_uri"])


def posts_in_path(staged_images: str) -> str:
    """The small record of how many posts the ingest step found, beside its staged partition."""
    return staged_images.rsplit("/", 1)[0] + "/posts_in.json"


def write_posts_in(staged_images: str, posts: int) -> None:
    storage.write_bytes_atomic(json.dumps({"posts": posts}).encode(), posts_in_path(staged_images))


def read_posts_in(staged_images: str) -> int | None:
    """Posts found by ingest for a staged partition (``None`` for one staged before this existed)."""
    path = posts_in_path(staged_images)
    return json.loads(storage.read_bytes(path))["posts"] if storage.exists(path) else None


def ingest_day(
    config: TrendscopeConfig, location: str, day: date, source_dir: str | None = None
) -> StepResult:
    """Stage the ``images`` partition of ``location`` on ``day`` from the drop zone.

    Every post found ends as ``ok``, ``duplicate`` or ``quarantined`` with a reason; nothing
    here raises for bad content.
    """
    loc = config.location(location)
    storage.use(config.storage)
    root = source_dir or config.source_root
    posts = discover(config, location, day, root)
    log.info("ingest %s %s: %d posts in %s", location, day, len(posts), root)
    rows: list[dict] = []
    for post in progress(posts, len(posts), f"ingest {location} {day}", log):
        insp = None
        if post.readable:
            try:
                insp = inspect_file(post.source_uri, config.source)
            except OSError as exc:
                post = replace(post, problem=f"cannot read file: {exc}")
        rows.append(_row(post, day, insp, loc.tz))
    mark_exact_duplicates(rows)
    mark_near_duplicates(rows, earlier_hashes(config, location, day), config.dedup.max_distance)
    rows.sort(key=lambda r: r["source_uri"])
    path = partition_path(config.data_root, IMAGES.name, location, day, area="staging")
    storage.remove_tree(analysis_dir(config.data_root, location, day))  # stale shards of a re-run
    storage.write_table_atomic(to_table(IMAGES, rows), path)
    counts = Counter(r["status"] for r in rows)
    write_posts_in(path, len(posts))
    for r in rows:
        if r["status"] == STATUS_QUARANTINED:
            log.warning("quarantined %s: %s", r["source_uri"], r["reason"])
    return StepResult(
        step="ingest",
        location=location,
        date=day,
        counts={
            "posts": len(rows),
            **{s: counts.get(s, 0) for s in (STATUS_OK, STATUS_DUPLICATE, STATUS_QUARANTINED)},
            "shards": shard_count(counts.get(STATUS_OK, 0), config.sharding),
        },
        outputs=[path],
    )
