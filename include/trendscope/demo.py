"""The demo drop zone: a week of distinct posts composed from real packaged photos.

Each post pastes a real object photo (the cat from scikit-image's ``chelsea``, people from
``astronaut``/``grace_hopper``/``zidane``, the cup from ``coffee``) onto a random crop of a real
background (``china``, ``flower``, ``rocket``, ``motorcycle``...), at a random size, place,
mirror and brightness, so no two posts are the same photo. One trend is planted: in the trend
location the share of posts showing a cat rises from about 10% to about 55% from
``trend_from_day``; elsewhere it stays near 12%.

Layout written (both drop-zone forms):
  * the trend location (``shibuya``) as a manifest: ``<out>/<slug>-export/posts.jsonl`` with
    the photos in ``<out>/<slug>-export/media/``;
  * every other location as folders: ``<out>/<slug>/<YYYY-MM-DD>/<file>``;
  * ``<out>/ground_truth.jsonl``: one line per file with what was pasted where and the status the
    pipeline should give it (``ok``, ``duplicate``, ``quarantined``).
A few hostile files are planted in the second location: a truncated JPEG and an HTML page saved
as ``.jpg`` on day 2, and a byte-for-byte repost on day 3.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image, ImageEnhance

from trendscope.photos import sample_photo

log = logging.getLogger(__name__)

MARKER = ".trendscope-demo"
BACKGROUNDS = ("china", "flower", "rocket", "motorcycle", "coffee_table")
# object sprites: (label, photo, crop box x1, y1, x2, y2 as fractions of the photo)
SPRITES: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = {
    "cat": [("chelsea", (0.08, 0.0, 0.92, 1.0))],
    "person": [
        ("astronaut", (0.0, 0.0, 0.75, 1.0)),
        ("grace_hopper", (0.1, 0.0, 0.9, 1.0)),
        ("zidane", (0.5, 0.05, 1.0, 1.0)),
    ],
    "cup": [("coffee", (0.25, 0.0, 0.72, 0.75))],
}
OTHER_MIX = {"person": 0.45, "cup": 0.25, "none": 0.30}


@dataclass
class DemoSummary:
    """What was written: post counts per location and day, and where the ground truth is."""

    out: Path
    ground_truth: Path
    posts: dict[str, dict[str, int]] = field(default_factory=dict)
    cats: dict[str, dict[str, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        total = sum(sum(d.values()) for d in self.posts.values())
        return f"{total} posts in {len(self.posts)} locations; ground truth {self.ground_truth}"


def _photo(name: str) -> Image.Image:
    if name == "coffee_table":  # the coffee photo's left edge: a plain table surface
        arr = sample_photo("coffee")
        return Image.fromarray(arr[:, : arr.shape[1] // 4])
    return Image.fromarray(sample_photo(name))


def _background(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Image.Image, str]:
    name = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    img = _photo(name)
    w, h = img.size
    scale = rng.uniform(0.55, 1.0)
    cw, ch = int(w * scale), int(h * scale)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    bg = img.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        bg = bg.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return bg, name


def _paste(rng: np.random.Generator, canvas: Image.Image, label: str) -> tuple[list[float], str]:
    photo, (fx1, fy1, fx2, fy2) = SPRITES[label][int(rng.integers(len(SPRITES[label])))]
    src = _photo(photo)
    w, h = src.size
    sprite = src.crop((int(fx1 * w), int(fy1 * h), int(fx2 * w), int(fy2 * h)))
    cw, ch = canvas.size
    target_h = int(ch * rng.uniform(0.45, 0.75))
    target_w = int(sprite.width * target_h / sprite.height)
    if target_w > cw * 0.9:
        target_w = int(cw * 0.9)
        target_h = int(sprite.height * target_w / sprite.width)
    sprite = sprite.resize((target_w, target_h), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        sprite = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    sprite = ImageEnhance.Brightness(sprite).enhance(rng.uniform(0.85, 1.15))
    x = int(rng.integers(0, cw - target_w + 1))
    y = int(rng.integers(0, ch - target_h + 1))
    canvas.paste(sprite, (x, y))
    return [float(x), float(y), float(x + target_w), float(y + target_h)], photo


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=False)
    else:
        img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _post_labels(rng: np.random.Generator, n: int, cat_share: float) -> list[str]:
    cats = round(n * cat_share)
    others = list(OTHER_MIX)
    p = np.array(list(OTHER_MIX.values()))
    labels = ["cat"] * cats + [
        others[int(i)] for i in rng.choice(len(others), n - cats, p=p / p.sum())
    ]
    rng.shuffle(labels)
    return labels


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise FileExistsError(
                f"{out} is not empty and is not a previous demo drop zone; choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by `trendscope demo-data`; safe to delete\n")


def build_demo(
    out: str | Path,
    *,
    start: date,
    days: int = 7,
    posts_per_day: int = 30,
    locations: dict[str, str],
    seed: int = 7,
    trend_location: str = "shibuya",
    trend_label: str = "cat",
    trend_from_day: int = 4,
) -> DemoSummary:
    """Write the demo drop zone into ``out`` (replacing a previous demo there).

    Args:
        out: Directory to write.
        start: First day.
        days: Number of days.
        posts_per_day: Posts per location and day.
        locations: Location slug -> IANA timezone.
        seed: Seed of every random choice (the output is byte-for-byte reproducible).
        trend_location: Where the trend is planted (written as a ``posts.jsonl`` manifest).
        trend_label: The label that rises (one of the sprite labels).
        trend_from_day: 1-based day from which it rises.
    """
    if trend_label not in SPRITES:
        raise ValueError(f"trend_label must be one of {sorted(SPRITES)}")
    out = Path(out)
    _prepare(out)
    summary = DemoSummary(out=out, ground_truth=out / "ground_truth.jsonl")
    truth: list[dict] = []
    slugs = list(locations)
    plain = [s for s in slugs if s != trend_location]
    for li, slug in enumerate(slugs):
        tz = ZoneInfo(locations[slug])
        manifest: list[dict] = []
        for d in range(days):
            day = start + timedelta(days=d)
            rng = np.random.default_rng([seed, li, d])
            rising = slug == trend_location and d + 1 >= trend_from_day
            share = 0.55 if rising else (0.10 if slug == trend_location else 0.12)
            labels = _post_labels(rng, posts_per_day, share)
            if trend_label != "cat":
                labels = [trend_label if x == "cat" else x for x in labels]
            written: list[tuple[Path, dict]] = []
            for i, label in enumerate(labels):
                w = int(rng.integers(480, 901))
                h = int(w * rng.choice([0.75, 1.0, 1.25]))
                canvas, bg_name = _background(rng, (w, h))
                objects = []
                if label != "none":
                    box, photo = _paste(rng, canvas, label)
                    objects.append({"label": label, "box": box, "photo": photo})
                fmt = "PNG" if i % 7 == 3 else "JPEG"
                data = _encode(canvas, fmt)
                name = f"{slug}-{day:%Y%m%d}-{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}"
                minutes = int(rng.integers(7 * 60, 24 * 60))  # 07:00-23:59 local
                taken = datetime.combine(day, time(0, 0), tz) + timedelta(minutes=minutes)
                if slug == trend_location:
                    path = out / f"{slug}-export" / "media" / name
                    manifest.append(
                        {
                            "image": f"media/{name}",
                            "location": slug,
                            "taken_at": taken.isoformat(),
                            "post_id": hashlib.sha1(name.encode()).hexdigest()[:12],
                            "author": f"user{int(rng.integers(1, 40)):02d}",
                            "caption": f"{bg_name} {label if label != 'none' else ''}".strip(),
                            "hashtags": [slug, bg_name] + ([label] if label != "none" else []),
                            "likes": int(rng.integers(0, 500)),
                            "followers": int(rng.integers(10, 20000)),
                            "source_url": f"https://example.invalid/p/{name}",
                        }
                    )
                else:
                    path = out / slug / day.isoformat() / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                row = {
                    "file": str(path.relative_to(out)),
                    "location": slug,
                    "date": day.isoformat(),
                    "taken_at": taken.isoformat(),
                    "expect": "ok",
                    "background": bg_name,
                    "size": [w, h],
                    "objects": objects,
                }
                truth.append(row)
                written.append((path, row))
            summary.posts.setdefault(slug, {})[day.isoformat()] = len(labels)
            summary.cats.setdefault(slug, {})[day.isoformat()] = labels.count(trend_label)
            if plain and slug == plain[0]:
                truth.extend(_hostile(out, slug, day, d, written))
        if manifest:
            mpath = out / f"{slug}-export" / "posts.jsonl"
            mpath.write_text("".join(json.dumps(m) + "\n" for m in manifest))
    summary.ground_truth.write_text("".join(json.dumps(t) + "\n" for t in truth))
    log.info("demo drop zone: %s", summary)
    return summary


def _hostile(
    out: Path, slug: str, day: date, d: int, written: list[tuple[Path, dict]]
) -> list[dict]:
    """Files a robust ingester must not trust (day 2: broken files, day 3: a repost)."""
    rows = []
    folder = out / slug / day.isoformat()
    if d == 1:
        src = next(p for p, _ in written if p.suffix == ".jpg")
        data = src.read_bytes()
        (folder / "zz-truncated.jpg").write_bytes(data[: len(data) // 2])
        (folder / "zz-login-page.jpg").write_text(
            "<!DOCTYPE html><html><head><title>Log in</title></head><body>Please log in</body></html>"
        )
        for name, why in (
            ("zz-truncated.jpg", "truncated JPEG"),
            ("zz-login-page.jpg", "HTML page"),
        ):
            rows.append(
                {"file": f"{slug}/{day.isoformat()}/{name}", "location": slug, "date": day.isoformat(),
                 "expect": "quarantined", "why": why, "objects": []}
            )  # fmt: skip
    if d == 2:
        src, row = written[0]
        copy = folder / "zz-repost.jpg" if src.suffix == ".jpg" else folder / "zz-repost.png"
        copy.write_bytes(src.read_bytes())
        rows.append({**row, "file": f"{slug}/{day.isoformat()}/{copy.name}", "expect": "duplicate",
                     "duplicate_of": row["file"]})  # fmt: skip
    return rows
