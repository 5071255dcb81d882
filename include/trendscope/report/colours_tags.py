"""Report sections for colours and tags: colour swatches per target label over time, top tags.

The swatches come from the colour rows of ``trends_daily`` (kind ``colour``, label
``<target>/<family>``): each day's bar splits the target's coloured objects' images by dominant
colour family. The top tags come from the published ``tags`` partitions of the range.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import TAGS

FAMILY_HEX = {
    "red": "#d62728",
    "orange": "#ff7f0e",
    "yellow": "#f2d32b",
    "green": "#2ca02c",
    "blue": "#1f77b4",
    "purple": "#7b3fa0",
    "pink": "#f08cb8",
    "brown": "#7f4f24",
    "beige": "#e3cfa5",
    "black": "#111111",
    "white": "#fafafa",
    "gray": "#8c8c8c",
}
"""The swatch shown for each colour family."""

CSS = """
.swatches td.bar { width: 420px; }
.bar div { display: flex; height: 18px; border: 1px solid #ccc; }
.bar span { display: block; height: 100%; }
.legend span { display: inline-block; width: 12px; height: 12px; border: 1px solid #ccc;
               margin: 0 3px 0 10px; vertical-align: middle; }
"""


def _bar(shares: dict[str, int]) -> str:
    total = sum(shares.values())
    spans = "".join(
        f'<span title="{html.escape(f)}: {n}" style="width:{100 * n / total:.1f}%;'
        f'background:{FAMILY_HEX.get(f, "#ccc")}"></span>'
        for f, n in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
        if n > 0
    )
    return f"<div>{spans}</div>"


def colour_section(rows: Sequence[dict[str, Any]], locations: Sequence[str]) -> str:
    """Per location and target label, one swatch bar per day: its images by colour family."""
    colour_rows = [r for r in rows if r["kind"] == "colour" and r["location"] in locations]
    if not colour_rows:
        return "<p>No colour rows in this range (no cropped targets, or colours are off).</p>"
    by_key: dict[tuple[str, str], dict[date, dict[str, int]]] = {}
    for r in colour_rows:
        target, family = r["label"].rsplit("/", 1)
        day = by_key.setdefault((r["location"], target), {}).setdefault(r["date"], {})
        day[family] = r["images"]
    legend = "".join(
        f'<span style="background:{hex_}"></span>{html.escape(f)}' for f, hex_ in FAMILY_HEX.items()
    )
    parts = [
        "<p class='note'>Each object's dominant colour family is its largest colour cluster "
        "(k-means in CIELAB on the object's centre-weighted pixels); a bar splits the day's "
        f"images of the label by that family.</p><p class='legend'>{legend}</p>"
    ]
    for (location, target), days in sorted(by_key.items()):
        body = []
        for day in sorted(days):
            shares = days[day]
            if not any(shares.values()):
                continue
            top = max(shares, key=lambda f: (shares[f], f))
            body.append(
                f"<tr><td>{day}</td><td class='num'>{sum(shares.values())}</td>"
                f"<td class='bar'>{_bar(shares)}</td><td>{html.escape(top)}</td></tr>"
            )
        parts.append(
            f"<h3>{html.escape(target)} in {html.escape(location)}</h3>"
            "<table class='swatches'><thead><tr><th>date</th><th>images</th>"
            "<th>colour families</th><th>most</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    return "\n".join(parts)


def read_tags(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> list[dict[str, Any]]:
    """The published ``tags`` rows of ``locations`` from ``start`` to ``end``."""
    rows: list[dict[str, Any]] = []
    for location in locations:
        for k in range((end - start).days + 1):
            path = partition_path(config.data_root, TAGS.name, location, start + timedelta(days=k))
            if storage.exists(path):
                rows += storage.read_table(path, TAGS).to_pylist()
    return rows


def top_tags(tags: Sequence[dict[str, Any]], top: int = 15) -> list[dict[str, Any]]:
    """Tags by summed importance over their images: ``tag, kind, images, mean_importance,
    weighted_images, top_rank_images`` (images where it is the image's first tag)."""
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for t in tags:
        a = agg.setdefault(
            (t["kind"], t["tag"]),
            {"tag": t["tag"], "kind": t["kind"], "images": 0, "weighted_images": 0.0,
             "top_rank_images": 0},
        )  # fmt: skip
        a["images"] += 1
        a["weighted_images"] += t["importance"]
        a["top_rank_images"] += t["rank"] == 1
    for a in agg.values():
        a["mean_importance"] = a["weighted_images"] / a["images"]
    ranked = sorted(agg.values(), key=lambda a: (-a["weighted_images"], a["kind"], a["tag"]))
    return ranked[:top]


def tags_section(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The top tags of the range as ``(columns, rows)`` for the report's table, or None."""
    rows = top_tags(read_tags(config, locations, start, end))
    if not rows:
        return None
    columns = ["tag", "kind", "images", "weighted_images", "mean_importance", "top_rank_images"]
    return columns, rows
