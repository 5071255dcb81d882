"""Build the demo drop zone: a week of posts per location, composed from real packaged photos.

Each post pastes real object crops (the cat of ``chelsea``, people, an espresso cup, a bus) onto
a random crop of a real background photo, with random size, position, flip, small rotation and
brightness. One trend is planted: in ``trend_location`` the share of posts showing
``trend_label`` jumps from about 10% to about 55% on ``trend_from_day``; every other location
stays flat at about 12%. Written layout (``<root>`` is ``out``)::

    <root>/.trendscope-demo                            marker: this directory is a demo
    <root>/ground_truth.jsonl                          one line per file written, see below
    <root>/<slug>-export/posts.jsonl                   manifest form (the trend location)
    <root>/<slug>-export/media/<post_id>.jpg|png
    <root>/<slug>/<YYYY-MM-DD>/<slug>-<YYYYMMDD>-<NNN>.jpg|png   folder form (other locations)

A few hostile files are added to the first other location: ``zz-truncated.jpg`` (the first half
of a real JPEG) and ``zz-error-page.jpg`` (an HTML page) on day 2 (``"expect": "quarantined"``),
and ``zz-repost-<name>``, an exact byte copy of that day's first post, on day 3
(``"expect": "duplicate"``). The output depends only on the arguments: the same call writes the
same bytes.

Manifest posts carry ``likes`` and ``followers`` with a planted engagement effect: posts showing a
cat earn about twice the likes per follower of the others (:func:`_engagement`), so the
``engagement`` table and the "insta-bae" regression have something true to find.

Each ``ground_truth.jsonl`` line holds ``file`` (relative to the root), ``form`` (``manifest`` or
``directory``), ``location``, ``date`` (local), ``taken_at`` (local, with offset), ``post_id``,
``expect`` (``ok``, ``quarantined`` or ``duplicate``), ``sha256``, ``bytes`` and, for images,
``kind``, ``format``, ``width``, ``height``, ``size``, ``background`` and ``objects`` (each with
the COCO ``label``, the ``source`` photo and its ``box`` ``[x1, y1, x2, y2]`` in output pixels);
hostile files add ``reason`` or ``duplicate_of``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import shutil
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image

from trendscope.photos import sample_photo

log = logging.getLogger("trendscope.demo")

MARKER_NAME = ".trendscope-demo"
GROUND_TRUTH_NAME = "ground_truth.jsonl"
MANIFEST_NAME = "posts.jsonl"

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ObjectSource:
    """A region of a packaged photo to paste, with the labelled COCO boxes inside it."""

    photo: str
    crop: Box
    boxes: tuple[tuple[str, Box], ...]


OBJECTS: dict[str, tuple[ObjectSource, ...]] = {
    "cat": (ObjectSource("chelsea", (0, 0, 451, 300), (("cat", (0, 0, 451, 300)),)),),
    "person": (
        ObjectSource("astronaut", (0, 0, 512, 512), (("person", (25, 12, 490, 512)),)),
        ObjectSource("grace_hopper", (0, 0, 512, 600), (("person", (25, 22, 512, 600)),)),
        ObjectSource("zidane", (730, 20, 1160, 720), (("person", (750, 40, 1140, 720)),)),
    ),
    "cup": (ObjectSource("coffee", (120, 0, 480, 340), (("cup", (178, 18, 412, 280)),)),),
    "bus": (
        ObjectSource(
            "bus",
            (0, 220, 810, 760),
            (
                ("bus", (15, 235, 800, 735)),
                ("person", (50, 395, 245, 760)),
                ("person", (225, 405, 345, 760)),
            ),
        ),
    ),
}
"""Pasteable objects by the COCO label a post is about."""

BACKGROUNDS: tuple[str, ...] = ("china", "flower", "rocket", "motorcycle")
"""Background photos: none of them shows a cat, a person, a cup or a bus."""

# Post kinds other than the trend label, with weights; "plain" is a background alone.
_OTHER_KINDS = {"person": 0.35, "cup": 0.2, "bus": 0.15, "plain": 0.3}
_ASPECTS = (4 / 3, 3 / 4, 1.0, 16 / 9, 4 / 5, 3 / 2)
_LOW_SHARE, _HIGH_SHARE, _FLAT_SHARE = 0.10, 0.55, 0.125

_CAPTIONS = {
    "cat": ["Say hi to the shop cat", "Neko cafe vibes", "Found this little one near the station"],
    "person": ["Out and about", "Portrait day", "Ran into an old friend"],
    "cup": ["Coffee break", "Best espresso in the neighbourhood", "Morning fuel"],
    "bus": ["Morning commute", "Bus spotting", "Late again"],
    "plain": ["Views", "Weekend walk", "Light today"],
}
_TAGS = {
    "cat": ["cat", "neko", "catsofinstagram"],
    "person": ["portrait", "streetphotography"],
    "cup": ["coffee", "cafe"],
    "bus": ["bus", "commute"],
    "plain": ["travel", "view"],
}
ENGAGED_LABEL = "cat"
"""Posts showing it earn about :data:`ENGAGEMENT_LIFT` times the engagement of the others."""
ENGAGEMENT_LIFT = 2.0
_AUTHORS = ("mika.photo", "tokyo_walker", "ren_k", "hinata.snaps", "yuki_travels", "aoi_daily")
_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n"
    b"<body><h1>403 Forbidden</h1><p>Sign in to view this media.</p></body></html>\n"
)


@dataclass
class DemoSummary:
    """What :func:`build_demo` wrote.

    Attributes:
        root: the drop zone directory.
        ground_truth: path of ``ground_truth.jsonl``.
        manifests: the ``posts.jsonl`` files written.
        posts: ``location -> date -> number of posts expected ok``.
        planted: ``location -> date -> posts showing the trend label``.
        quarantined: files a robust ingester must quarantine.
        duplicates: exact byte copies of another post.
    """

    root: Path
    ground_truth: Path
    manifests: list[Path] = field(default_factory=list)
    posts: dict[str, dict[date, int]] = field(default_factory=dict)
    planted: dict[str, dict[date, int]] = field(default_factory=dict)
    quarantined: int = 0
    duplicates: int = 0

    @property
    def total_posts(self) -> int:
        """Posts expected ok, all locations and days."""
        return sum(sum(days.values()) for days in self.posts.values())

    def __str__(self) -> str:
        days = max((len(d) for d in self.posts.values()), default=0)
        return (
            f"{self.total_posts} posts in {len(self.posts)} locations x {days} days, "
            f"{self.quarantined} to quarantine, {self.duplicates} duplicate; "
            f"ground truth in {self.ground_truth}"
        )


@dataclass
class ComposedPost:
    """A composed photo, the background it was cut from and its labelled object boxes."""

    image: Image.Image
    background: str
    objects: list[dict[str, Any]]


def _stream(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent generator per purpose, so one day's posts do not depend on the others."""
    words = [seed] + [zlib.crc32(k.encode()) if isinstance(k, str) else k for k in keys]
    return np.random.default_rng(words)


def _jitter(image: Image.Image, rng: np.random.Generator, spread: float = 0.15) -> Image.Image:
    gain = rng.uniform(1 - spread, 1 + spread)
    offset = rng.uniform(-10, 10)
    array = np.asarray(image, dtype=np.float32) * gain + offset
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _background(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Image.Image, str]:
    name = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    photo = Image.fromarray(sample_photo(name))
    width, height = size
    aspect = width / height
    full_w = min(photo.width, photo.height * aspect)
    crop_w = full_w * rng.uniform(0.55, 1.0)
    crop_h = crop_w / aspect
    x0 = rng.uniform(0, photo.width - crop_w)
    y0 = rng.uniform(0, photo.height - crop_h)
    image = photo.resize(size, Image.Resampling.LANCZOS, box=(x0, y0, x0 + crop_w, y0 + crop_h))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _jitter(image, rng), name


def _feathered_alpha(width: int, height: int) -> Image.Image:
    # A thin soft edge hides the seam; a wide one fades the object and the detector misses it.
    feather = max(2.0, 0.015 * min(width, height))
    xs = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5) / feather
    ys = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5) / feather
    alpha = np.clip(np.minimum(ys[:, None], xs[None, :]), 0.0, 1.0)
    return Image.fromarray((alpha * 255).round().astype(np.uint8))


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _paste(
    frame: Image.Image,
    kind: str,
    rng: np.random.Generator,
    height_frac: float,
    taken: list[Box],
) -> list[dict[str, Any]]:
    """Paste one object of ``kind`` where it overlaps nothing in ``taken``; its labelled boxes."""
    sources = OBJECTS[kind]
    src = sources[rng.integers(len(sources))]
    photo = Image.fromarray(sample_photo(src.photo))
    # The whole crop is pasted: trimming it (a cat's ears, say) costs the detector confidence.
    cx0, cy0, cx1, cy1 = src.crop
    piece = photo.crop((cx0, cy0, cx1, cy1))
    masks = []
    for label, (bx0, by0, bx1, by1) in src.boxes:
        mask = Image.new("L", piece.size, 0)
        mask.paste(255, (max(bx0 - cx0, 0), max(by0 - cy0, 0), bx1 - cx0, by1 - cy0))
        masks.append((label, mask))
    if rng.random() < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        masks = [(lb, m.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) for lb, m in masks]
    piece = _jitter(piece, rng, 0.12)

    angle = float(rng.uniform(-8, 8))
    rad = math.radians(abs(angle))
    w, h = piece.size
    rot_w = w * math.cos(rad) + h * math.sin(rad)
    rot_h = w * math.sin(rad) + h * math.cos(rad)
    scale = min(
        height_frac * frame.height / h, 0.95 * frame.width / rot_w, 0.95 * frame.height / rot_h
    )
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    rgba = piece.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    rgba.putalpha(_feathered_alpha(*size))
    rgba = rgba.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    masks = [
        (
            lb,
            m.resize(size, Image.Resampling.BILINEAR).rotate(
                angle, Image.Resampling.BILINEAR, expand=True
            ),
        )
        for lb, m in masks
    ]
    for _ in range(30):
        x = int(rng.integers(0, max(1, frame.width - rgba.width + 1)))
        y = int(rng.integers(0, max(1, frame.height - rgba.height + 1)))
        extent = (x, y, x + rgba.width, y + rgba.height)
        if not any(_overlaps(extent, other) for other in taken):
            break
    else:
        return []
    taken.append(extent)
    frame.paste(rgba, (x, y), rgba)
    objects = []
    for label, mask in masks:
        bbox = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
        if bbox is None:
            continue
        x1, y1 = max(0, bbox[0] + x), max(0, bbox[1] + y)
        x2, y2 = min(frame.width, bbox[2] + x), min(frame.height, bbox[3] + y)
        objects.append({"label": label, "source": src.photo, "box": [x1, y1, x2, y2]})
    return objects


def compose_post(rng: np.random.Generator, kind: str, extra: str | None = None) -> ComposedPost:
    """One photo about ``kind`` (a key of :data:`OBJECTS` or ``"plain"``), maybe with ``extra``."""
    width = int(rng.integers(480, 901))
    aspect = _ASPECTS[rng.integers(len(_ASPECTS))]
    size = (width, round(width / aspect))
    frame, background = _background(rng, size)
    objects: list[dict[str, Any]] = []
    taken: list[Box] = []
    if kind != "plain":
        objects += _paste(frame, kind, rng, rng.uniform(0.45, 0.70), taken)
    if extra is not None:
        objects += _paste(frame, extra, rng, rng.uniform(0.25, 0.40), taken)
    return ComposedPost(frame, background, objects)


def _encode(image: Image.Image, rng: np.random.Generator) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if rng.random() < 0.15:
        image.save(buf, "PNG", compress_level=6)
        return buf.getvalue(), "png"
    image.save(buf, "JPEG", quality=int(rng.integers(80, 96)))
    return buf.getvalue(), "jpg"


def _local_times(rng: np.random.Generator, day: date, n: int, tz: ZoneInfo) -> list[datetime]:
    """``n`` sorted local times spread through ``day``: one early morning, one late evening."""
    minutes = np.sort(rng.uniform(9 * 60, 21 * 60, size=n))
    if n >= 1:
        minutes[0] = rng.uniform(20, 8 * 60 + 30)
    if n >= 2:
        minutes[-1] = rng.uniform(21 * 60 + 30, 23 * 60 + 55)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return [start + timedelta(seconds=int(m * 60)) for m in np.sort(minutes)]


def _day_plan(
    rng: np.random.Generator, n: int, share: float, trend_label: str
) -> list[tuple[str, str | None]]:
    """The (kind, extra object) of each post of a day; about ``share * n`` show the trend label."""
    n_trend = min(n, math.floor(n * share + rng.random()))
    kinds = [k for k in _OTHER_KINDS if k != trend_label]
    weights = np.array([_OTHER_KINDS[k] for k in kinds])
    plan: list[tuple[str, str | None]] = []
    extras = [k for k in ("person", "cup") if k != trend_label]
    for i in range(n):
        kind = (
            trend_label if i < n_trend else kinds[rng.choice(len(kinds), p=weights / weights.sum())]
        )
        extra = extras[rng.integers(len(extras))] if extras and rng.random() < 0.3 else None
        plan.append((kind, extra))
    order = rng.permutation(n)
    return [plan[i] for i in order]


def _prepare_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"demo output {root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not (root / MARKER_NAME).is_file():
            raise FileExistsError(
                f"refusing to write the demo into {root}: it is not empty and not a previous "
                f"demo (no {MARKER_NAME} marker)"
            )
        log.info("replacing the previous demo in %s", root)
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    root.mkdir(parents=True, exist_ok=True)


def _record(
    root: Path,
    rel: str,
    data: bytes,
    *,
    form: str,
    location: str,
    day: date,
    taken_at: datetime,
    post_id: str,
    expect: str = "ok",
    **extra: Any,
) -> dict[str, Any]:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {
        "file": rel,
        "form": form,
        "location": location,
        "date": day.isoformat(),
        "taken_at": taken_at.isoformat(timespec="seconds"),
        "post_id": post_id,
        "expect": expect,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        **extra,
    }


def build_demo(
    out: str | Path,
    *,
    start: date,
    days: int = 7,
    posts_per_day: int = 12,
    locations: Mapping[str, str],
    seed: int = 7,
    trend_location: str = "shibuya",
    trend_label: str = "cat",
    trend_from_day: int = 4,
    manifest_locations: Collection[str] | None = None,
) -> DemoSummary:
    """Write the demo drop zone to ``out`` and its ground truth; return what was written.

    Args:
        out: directory to write; must be empty, missing, or a previous demo (which is replaced).
        start: first day of the demo.
        days: number of days.
        posts_per_day: ok posts per location and day.
        locations: location slug -> IANA timezone.
        seed: the same seed and arguments write the same bytes.
        trend_location: the location where ``trend_label`` rises.
        trend_label: COCO label of the planted trend (a key of :data:`OBJECTS`).
        trend_from_day: 1-based day from which the share is high.
        manifest_locations: locations written as a ``posts.jsonl`` export (default: the trend
            location); the others use the ``<location>/<date>/`` folder layout.

    Raises:
        ValueError: an argument is out of range or names an unknown location or label.
        FileExistsError: ``out`` is not empty and is not a previous demo.
    """
    if days < 1 or posts_per_day < 1:
        raise ValueError("days and posts_per_day must be at least 1")
    if trend_label not in OBJECTS:
        raise ValueError(f"trend_label {trend_label!r} is not one of {sorted(OBJECTS)}")
    if trend_location not in locations:
        raise ValueError(f"trend_location {trend_location!r} is not in locations {list(locations)}")
    zones = {slug: ZoneInfo(tz) for slug, tz in locations.items()}
    manifest_set = set([trend_location] if manifest_locations is None else manifest_locations)
    if unknown := manifest_set - set(locations):
        raise ValueError(f"manifest_locations {sorted(unknown)} are not in locations")
    others = [slug for slug in locations if slug != trend_location]
    hostile_location = others[0] if others else trend_location

    root = Path(out)
    _prepare_root(root)
    params = {
        "start": start.isoformat(),
        "days": days,
        "posts_per_day": posts_per_day,
        "locations": dict(locations),
        "seed": seed,
        "trend_location": trend_location,
        "trend_label": trend_label,
        "trend_from_day": trend_from_day,
        "manifest_locations": sorted(manifest_set),
    }
    (root / MARKER_NAME).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
    summary = DemoSummary(root=root, ground_truth=root / GROUND_TRUTH_NAME)
    truth: list[dict[str, Any]] = []
    log.info("building the demo drop zone in %s: %s", root, params)

    for slug, tz in zones.items():
        form = "manifest" if slug in manifest_set else "directory"
        export = f"{slug}-export"
        manifest_lines: list[dict[str, Any]] = []
        summary.posts[slug], summary.planted[slug] = {}, {}
        for index in range(days):
            day = start + timedelta(days=index)
            rng = _stream(seed, slug, day.toordinal())
            if slug == trend_location:
                share = _HIGH_SHARE if index + 1 >= trend_from_day else _LOW_SHARE
            else:
                share = _FLAT_SHARE
            plan = _day_plan(rng, posts_per_day, share, trend_label)
            times = _local_times(rng, day, posts_per_day, tz)
            day_records: list[dict[str, Any]] = []
            for number, ((kind, extra), local) in enumerate(zip(plan, times, strict=True), 1):
                post_id = f"{slug}-{day:%Y%m%d}-{number:03d}"
                composed = compose_post(rng, kind, extra)
                data, ext = _encode(composed.image, rng)
                rel = (
                    f"{export}/media/{post_id}.{ext}"
                    if form == "manifest"
                    else f"{slug}/{day.isoformat()}/{post_id}.{ext}"
                )
                record = _record(
                    root,
                    rel,
                    data,
                    form=form,
                    location=slug,
                    day=day,
                    taken_at=local,
                    post_id=post_id,
                    kind=kind,
                    format="PNG" if ext == "png" else "JPEG",
                    width=composed.image.width,
                    height=composed.image.height,
                    size=list(composed.image.size),
                    background=composed.background,
                    objects=composed.objects,
                )
                day_records.append(record)
                if form == "manifest":
                    manifest_lines.append(_manifest_line(rng, record, kind, number, slug))
            summary.posts[slug][day] = len(day_records)
            summary.planted[slug][day] = sum(
                any(o["label"] == trend_label for o in r["objects"]) for r in day_records
            )
            if slug == hostile_location:
                hostile = _hostile(
                    root, seed, slug, day, index + 1, days, form, export, day_records
                )
                for record in hostile:
                    if form == "manifest":
                        manifest_lines.append(_manifest_line(rng, record, "plain", 0, slug))
                summary.quarantined += sum(r["expect"] == "quarantined" for r in hostile)
                summary.duplicates += sum(r["expect"] == "duplicate" for r in hostile)
                day_records += hostile
            truth += day_records
            log.info(
                "%s %s: %d posts (%d with %s)%s",
                slug,
                day,
                summary.posts[slug][day],
                summary.planted[slug][day],
                trend_label,
                f", {len(day_records) - summary.posts[slug][day]} hostile"
                if len(day_records) > summary.posts[slug][day]
                else "",
            )
        if form == "manifest":
            manifest = root / export / MANIFEST_NAME
            manifest.write_text(
                "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in manifest_lines),
                encoding="utf-8",
            )
            summary.manifests.append(manifest)

    summary.ground_truth.write_text(
        "".join(json.dumps(r, sort_keys=True) + "\n" for r in truth), encoding="utf-8"
    )
    log.info("demo drop zone ready: %s", summary)
    return summary


def _manifest_line(
    rng: np.random.Generator, record: dict[str, Any], kind: str, number: int, slug: str
) -> dict[str, Any]:
    """The ``posts.jsonl`` line of a written post; about a third give ``taken_at`` in UTC."""
    local = datetime.fromisoformat(record["taken_at"])
    # Early-morning posts are always exported in UTC, so the UTC date differs from the local one.
    in_utc = local.hour < 9 or rng.random() < 0.3
    stamp = local.astimezone(ZoneInfo("UTC")) if in_utc else local
    tags = [slug, *_TAGS.get(kind, [])]
    captions = _CAPTIONS.get(kind, _CAPTIONS["plain"])
    image = record["file"].split("/", 1)[1]  # relative to the manifest's directory
    author = _AUTHORS[(number + int(rng.integers(len(_AUTHORS)))) % len(_AUTHORS)]
    return {
        "post_id": record["post_id"],
        "image": image,
        "location": slug,
        "taken_at": stamp.isoformat(timespec="seconds"),
        "author": author,
        "caption": f"{captions[int(rng.integers(len(captions)))]} #{' #'.join(tags)}",
        "hashtags": tags,
        **_engagement(record, author, rng),
        "source_url": f"https://social.example/p/{record['post_id']}",
    }


def author_followers(author: str) -> int:
    """An author's follower count: heavy-tailed across authors (log-normal, median about 1,800),
    the same on every run."""
    return max(50, int(_stream(0, author, "followers").lognormal(7.5, 1.3)))


def _engagement(record: dict[str, Any], author: str, rng: np.random.Generator) -> dict[str, int]:
    """A post's ``likes`` and ``followers`` with the planted relationship: the engagement rate
    (likes / followers) is about 4% at 1,000 followers, lower for larger accounts, times
    :data:`ENGAGEMENT_LIFT` when the post shows :data:`ENGAGED_LABEL`, times log-normal noise.

    Draws exactly two normals from ``rng``, as the post stream always has (the composed posts
    do not change).
    """
    noise, drift = rng.standard_normal(), rng.standard_normal()
    followers = max(1, round(author_followers(author) * math.exp(0.02 * drift)))
    lift = ENGAGEMENT_LIFT if any(o["label"] == ENGAGED_LABEL for o in record["objects"]) else 1.0
    rate = 0.04 * (followers / 1000) ** -0.2 * lift * math.exp(0.35 * noise)
    return {"likes": round(followers * rate), "followers": followers}


def _hostile(
    root: Path,
    seed: int,
    slug: str,
    day: date,
    day_number: int,
    days: int,
    form: str,
    export: str,
    day_records: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Files a robust ingester must reject: on day 2 (or the last day if fewer), a truncated JPEG
    and an HTML page named ``.jpg``; on day 3 (or the last), a byte copy of that day's first post.
    """
    records: list[dict[str, Any]] = []
    folder = f"{export}/media" if form == "manifest" else f"{slug}/{day.isoformat()}"
    stem = f"{slug}-{day:%Y%m%d}"
    last = day_records[-1]
    taken_at = datetime.fromisoformat(last["taken_at"]) + timedelta(minutes=1)
    if day_number == min(2, days):
        rng = _stream(seed, slug, day.toordinal(), "hostile")
        buf = io.BytesIO()
        compose_post(rng, "plain").image.save(buf, "JPEG", quality=90)
        whole = buf.getvalue()
        for name, data, reason in (
            (
                "zz-truncated.jpg",
                whole[: len(whole) // 2],
                "truncated JPEG (first half of its bytes)",
            ),
            ("zz-error-page.jpg", _ERROR_PAGE, "HTML error page saved as .jpg"),
        ):
            records.append(
                _record(
                    root,
                    f"{folder}/{name}",
                    data,
                    form=form,
                    location=slug,
                    day=day,
                    taken_at=taken_at,
                    post_id=f"{stem}-{Path(name).stem}",
                    expect="quarantined",
                    reason=reason,
                    objects=[],
                )
            )
    if day_number == min(3, days):
        original = day_records[0]
        # "zz-" sorts after the original, so the original is the first copy by path.
        name = f"zz-repost-{original['file'].rsplit('/', 1)[1]}"
        data = (root / original["file"]).read_bytes()
        records.append(
            _record(
                root,
                f"{folder}/{name}",
                data,
                form=form,
                location=slug,
                day=day,
                taken_at=taken_at,
                post_id=f"{stem}-repost",
                expect="duplicate",
                duplicate_of=original["file"],
                kind=original["kind"],
                format=original["format"],
                width=original["width"],
                height=original["height"],
                size=original["size"],
                background=original["background"],
                objects=original["objects"],
            )
        )
    return records
