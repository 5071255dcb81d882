"""Engagement: do posts showing a label earn more likes per follower than the posts without it?

* :func:`engagement_rate`: a post's ``likes / followers`` (None when either is unknown or the
  account has no followers).
* :func:`posts_from_tables`: ok images grouped into posts (``post_id``, else the image) with
  their rate and label set: object labels, fine labels, the scene, and colour labels
  (``handbag/red``) when the detections carry a dominant ``colour``.
* :func:`label_engagement`: per label of one window, the median rate of the posts with it
  against those without, the lift, a two-sided Mann-Whitney U test, the plain and the
  engagement-weighted share, Benjamini-Hochberg over the window's labels.
* :func:`engagement_for_days`: the ``engagement`` table rows of each day, for the day alone and
  for the ``window_days`` days ending on it.

The method, its choices and limits are in ``docs/methodology.md`` ("Engagement"). The
"insta-bae" regression on the same posts is :mod:`trendscope.trends.instabae`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from trendscope.tables.commit import read_together
from trendscope.tables.published import read_published
from trendscope.tables.schemas import ENGAGEMENT, IMAGES, STATUS_OK, to_table
from trendscope.trends.stats import benjamini_hochberg

HIGHER, LOWER, SIMILAR, INSUFFICIENT = "higher", "lower", "similar", "insufficient"

LabelKey = tuple[str, str, str | None]
"""``(kind, label, fine_label)``, as in the trend tables (``fine_label`` None: the total)."""

ENGAGEMENT_IMAGE_COLUMNS = ["image_id", "post_id", "likes", "followers"]
"""The ``images`` columns engagement needs beyond those the trend counts read."""


def engagement_rate(likes: int | None, followers: int | None) -> float | None:
    """``likes / followers`` of a post; None when either is unknown or ``followers`` is 0.

    A post from an account without followers has no defined rate (its likes come from
    elsewhere), so it is left out rather than given an infinite or zero rate.

    Raises:
        ValueError: ``likes`` or ``followers`` is negative (a broken source, not a post).
    """
    if likes is None or followers is None:
        return None
    if likes < 0 or followers < 0:
        raise ValueError(
            f"negative likes ({likes}) or followers ({followers}): not a post's counts"
        )
    if followers == 0:
        return None
    return likes / followers


@dataclass(frozen=True)
class Post:
    """One post of a location: its day, author, engagement rate and what its images show."""

    key: str  # post_id, else the image id
    location: str
    date: date
    author: str | None
    rate: float | None
    labels: frozenset[LabelKey]
    image_ids: tuple[str, ...] = ()


def image_labels(
    detections: Iterable[Mapping[str, Any]],
    scenes: Mapping[str, str | None] | None = None,
) -> dict[str, set[LabelKey]]:
    """Per image id, the label keys it shows (objects, fine labels, colours; scenes if given)."""
    out: dict[str, set[LabelKey]] = {}
    for d in detections:
        labels = out.setdefault(d["image_id"], set())
        labels.add(("object", d["label"], None))
        if d.get("fine_label") is not None:
            labels.add(("object", d["label"], d["fine_label"]))
        if d.get("colour") is not None:
            labels.add(("colour", f"{d['label']}/{d['colour']}", None))
    for image_id, scene in (scenes or {}).items():
        if scene is not None:
            out.setdefault(image_id, set()).add(("scene", scene, None))
    return out


def posts_from_tables(
    images: pa.Table | Sequence[Mapping[str, Any]],
    detections: pa.Table | Sequence[Mapping[str, Any]],
    *,
    include_scenes: bool = True,
) -> list[Post]:
    """The ok images of ``images`` grouped into posts, with rates and label sets.

    Images of one post (same ``post_id``; an image without one is a post of its own) share its
    likes and followers; the post shows the union of their labels and belongs to the day and
    location of its first image. Duplicates and quarantined files are not posts.

    Args:
        images: ``images`` rows with at least image_id, location, date, status, and
            optionally scene, author, post_id, likes, followers.
        detections: ``detections`` rows (image_id, label, fine_label, optionally colour).
        include_scenes: Whether the scene category counts as a label.
    """
    img_rows = images.to_pylist() if isinstance(images, pa.Table) else list(images)
    det_rows = detections.to_pylist() if isinstance(detections, pa.Table) else list(detections)
    ok = [r for r in img_rows if r["status"] == STATUS_OK]
    ok.sort(key=lambda r: (r["location"], r["date"], r["image_id"]))
    scenes = {r["image_id"]: r.get("scene") for r in ok} if include_scenes else None
    labels = image_labels(det_rows, scenes)
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in ok:
        grouped.setdefault((r["location"], r.get("post_id") or r["image_id"]), []).append(r)
    posts = []
    for (location, key), rows in grouped.items():
        rates = [engagement_rate(r.get("likes"), r.get("followers")) for r in rows]
        shown = frozenset(lb for r in rows for lb in labels.get(r["image_id"], ()))
        posts.append(
            Post(
                key=key,
                location=location,
                date=rows[0]["date"],
                author=rows[0].get("author"),
                rate=next((x for x in rates if x is not None), None),
                labels=shown,
                image_ids=tuple(r["image_id"] for r in rows),
            )
        )
    return posts


def mann_whitney(with_: Sequence[float], without: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: ``(U of with_, p-value)``.

    ``U`` counts the pairs (a post with, a post without) where the first has the higher rate,
    ties counting one half, so ``U / (n1 n2)`` is the probability that a random post with the
    label out-engages one without it. Exact for small samples without ties, else the normal
    approximation with tie correction (scipy's ``method="auto"``); all rates equal gives p = 1.
    """
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(with_, without, alternative="two-sided", method="auto")
    p = float(result.pvalue)
    return float(result.statistic), (1.0 if math.isnan(p) else p)


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None


def label_engagement(
    posts: Sequence[Post], *, min_posts: int = 5, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """Engagement of each label shown by ``posts`` (one location's window) against the rest.

    Args:
        posts: The window's posts.
        min_posts: Fewest rated posts with and without the label for the rank test; fewer
            gives medians and lift but no test (``insufficient``).
        alpha: False-discovery rate: ``higher``/``lower`` when ``p_adjusted < alpha``.

    Returns:
        One dict per label key with the count and statistic columns of the ``engagement``
        table (without location and window), sorted by p_adjusted (untested last) then key.
    """
    rated = [p for p in posts if p.rate is not None]
    rates = np.array([p.rate for p in rated], dtype=float)
    total = float(rates.sum())
    shown: dict[LabelKey, list[int]] = {}  # label -> indices of the rated posts showing it
    label_posts: Counter[LabelKey] = Counter()
    for p in posts:
        label_posts.update(p.labels)
    for i, p in enumerate(rated):
        for lb in p.labels:
            shown.setdefault(lb, []).append(i)
    rows = []
    for key in sorted(label_posts, key=_sort_key):
        has = np.zeros(len(rated), dtype=bool)
        has[shown.get(key, [])] = True
        with_, without = rates[has], rates[~has]
        n1, n2 = int(with_.size), int(without.size)
        m1, m2 = _median(with_), _median(without)
        u = p_value = auc = None
        if n1 >= min_posts and n2 >= min_posts:
            u, p_value = mann_whitney(with_, without)
            auc = u / (n1 * n2)
        rows.append(
            {
                "kind": key[0],
                "label": key[1],
                "fine_label": key[2],
                "posts": len(posts),
                "rated_posts": len(rated),
                "label_posts": label_posts[key],
                "rated_with": n1,
                "rated_without": n2,
                "share": n1 / len(rated) if rated else None,
                "engagement_share": float(with_.sum()) / total if total > 0 else None,
                "median_with": m1,
                "median_without": m2,
                "lift": m1 / m2 if m1 is not None and m2 else None,
                "u_statistic": u,
                "auc": auc,
                "p_value": p_value,
            }
        )
    adjusted = benjamini_hochberg([np.nan if r["p_value"] is None else r["p_value"] for r in rows])
    for row, q in zip(rows, adjusted, strict=True):
        row["p_adjusted"] = None if np.isnan(q) else float(q)
        row["engagement"] = verdict(row["p_adjusted"], row["auc"], alpha)
    rows.sort(key=lambda r: (r["p_adjusted"] is None, r["p_adjusted"] or 0.0, _sort_key(_key(r))))
    return rows


def verdict(p_adjusted: float | None, auc: float | None, alpha: float) -> str:
    """``higher``/``lower`` (significant, by the direction of the rank test), ``similar``, or
    ``insufficient`` (not tested)."""
    if p_adjusted is None or auc is None:
        return INSUFFICIENT
    if p_adjusted < alpha and auc != 0.5:
        return HIGHER if auc > 0.5 else LOWER
    return SIMILAR


def _key(row: Mapping[str, Any]) -> LabelKey:
    return (row["kind"], row["label"], row["fine_label"])


def _sort_key(key: LabelKey) -> tuple[str, str, str]:
    return (key[0], key[1], key[2] or "")


def engagement_for_days(
    posts: Sequence[Post],
    location: str,
    days: Sequence[date],
    *,
    window_days: int = 7,
    min_posts: int = 5,
    alpha: float = 0.05,
) -> dict[date, pa.Table]:
    """The ``engagement`` table of each of ``days`` for ``location``.

    Each day gets rows for the day alone (``window_days = 1``) and for the ``window_days`` days
    ending on it (posts of days not published simply are not there).

    Args:
        posts: Posts of ``location`` covering ``days`` and the ``window_days - 1`` days before.
        location: The location slug.
        days: The days to compute.
        window_days: The trailing window beside the day.
        min_posts: See :func:`label_engagement`.
        alpha: See :func:`label_engagement`.
    """
    posts = [p for p in posts if p.location == location]
    out = {}
    for day in days:
        rows = []
        for width in sorted({1, window_days}):
            start = day - timedelta(days=width - 1)
            window = [p for p in posts if start <= p.date <= day]
            for row in label_engagement(window, min_posts=min_posts, alpha=alpha):
                rows.append(
                    {
                        "location": location,
                        "date": day,
                        "window_days": width,
                        "window_start": start,
                        **row,
                    }
                )
        out[day] = to_table(ENGAGEMENT, rows)
    return out


# --- reading the published tables -------------------------------------------------------------


def read_engagement_columns(root: str, location: str, days: Iterable[date]) -> pa.Table:
    """``image_id, post_id, likes, followers`` of the published ``images`` of ``days``."""
    parts = []
    for day in sorted(set(days)):
        try:
            (table,) = read_together(root, location, day, [(IMAGES, ENGAGEMENT_IMAGE_COLUMNS)])
        except FileNotFoundError:  # a day without posts has no partition
            continue
        parts.append(table)
    if not parts:
        return pa.schema([IMAGES.schema.field(c) for c in ENGAGEMENT_IMAGE_COLUMNS]).empty_table()
    return pa.concat_tables(parts)


def with_engagement_columns(images: pa.Table, extra: pa.Table) -> list[dict[str, Any]]:
    """``images`` rows with ``post_id``, ``likes`` and ``followers`` from ``extra`` (by image id;
    null where ``extra`` lacks the image)."""
    by_id = {r["image_id"]: r for r in extra.to_pylist()}
    empty = dict.fromkeys(ENGAGEMENT_IMAGE_COLUMNS[1:])
    return [r | {k: by_id.get(r["image_id"], empty)[k] for k in empty} for r in images.to_pylist()]


def read_posts(
    root: str, location: str, days: Iterable[date], *, include_scenes: bool = True
) -> list[Post]:
    """The posts of ``location`` on the published ``days`` (see :func:`posts_from_tables`)."""
    days = sorted(set(days))
    images, detections, read = read_published(root, location, days)
    extra = read_engagement_columns(root, location, read)
    rows = with_engagement_columns(images, extra)
    return posts_from_tables(rows, detections, include_scenes=include_scenes)
