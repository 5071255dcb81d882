"""Report sections for engagement and authors: the engagement lift per label over the configured
window ending on the report's last day (from the ``engagement`` table), and the top contributing
authors of each rising label (from the day's posts, :mod:`trendscope.trends.authors`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import ENGAGEMENT
from trendscope.trends.authors import top_authors
from trendscope.trends.engagement import Post, read_posts

ENGAGEMENT_COLUMNS = ["location", "label", "rated_with", "rated_without", "median_with"]
ENGAGEMENT_COLUMNS += ["median_without", "lift", "share", "engagement_share", "p_adjusted"]
ENGAGEMENT_COLUMNS += ["engagement"]


def engagement_rows(
    config: TrendscopeConfig, locations: Sequence[str], day: date
) -> list[dict[str, Any]]:
    """The tested labels of the ``engagement`` table of ``day`` (window
    ``engagement.window_days``) in ``locations``: significant first, then by p-value."""
    window = config.engagement.window_days
    rows: list[dict[str, Any]] = []
    for slug in locations:
        path = partition_path(config.data_root, ENGAGEMENT.name, slug, day)
        try:
            table = storage.read_table(path, ENGAGEMENT).to_pylist()
        except FileNotFoundError:
            continue
        for r in table:
            if r["window_days"] == window and r["p_adjusted"] is not None:
                label = r["label"] if r["fine_label"] is None else f"{r['label']}/{r['fine_label']}"
                rows.append(r | {"label": label if r["kind"] != "scene" else f"scene:{label}"})
    rows.sort(key=lambda r: (r["engagement"] == "similar", r["p_adjusted"], r["location"]))
    return rows


def rising_authors(
    config: TrendscopeConfig, rising: Sequence[dict[str, Any]], n: int = 3
) -> dict[int, str]:
    """``{index in rising: "author (posts), ..."}``: the top ``n`` authors of each rising
    label on its day (reads each location-day's posts once)."""
    posts: dict[tuple[str, date], list[Post]] = {}
    out = {}
    for i, r in enumerate(rising):
        key = (r["location"], r["date"])
        if key not in posts:
            posts[key] = read_posts(
                config.data_root, r["location"], [r["date"]], include_scenes=True
            )
        label = r["label"] if r.get("fine_label") is None else f"{r['label']}/{r['fine_label']}"
        top = top_authors(posts[key], label, n, r.get("kind"))
        out[i] = ", ".join(f"{a['author']} ({a['label_posts']})" for a in top) or "-"
    return out
