"""A self-contained HTML trend report over a date range (charts embedded as base64 PNG).

The report shows, for the location(s) chosen:

* the daily share of the top object labels (by images over the range) against the baseline
  band (the baseline share with a binomial 95% interval for the day's number of ok images),
  with the days judged ``rising`` marked;
* every ``rising`` row of ``trends_daily`` in the range, with thumbnails of up to 6 example
  images of each (:func:`~trendscope.trends.explain.example_images`, the images
  ``trendscope explain`` lists), embedded as small JPEG data: URIs;
* every configured location's share of the top labels over the whole range, and the
  location-against-the-others comparison (:func:`~trendscope.trends.compare.compare_locations`);
* the pipeline status of each location-day (the ``trendscope status`` grid,
  :func:`~trendscope.pipeline.status.status_grid`), with the failed steps and their errors.

It reads only the partitions of the range (and the example images, through
:mod:`trendscope.tables.storage`, so ``s3://`` sources work). The file references nothing outside
itself; an example image that cannot be read shows as a placeholder with its path.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.report.colours_tags import CSS as COLOUR_CSS
from trendscope.report.colours_tags import colour_section, tags_section
from trendscope.report.engagement import ENGAGEMENT_COLUMNS, engagement_rows, rising_authors
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.published import read_days
from trendscope.tables.schemas import TRENDS_DAILY
from trendscope.trends.compare import TrendParams, compare_locations
from trendscope.trends.counting import ok_counts, rollup
from trendscope.trends.explain import MAX_EXAMPLES, Example, LabelKey, describe, examples_for_day

log = logging.getLogger(__name__)

TOP_LABELS = 6
Z95 = 1.959964
THUMB_SIDE = 160
"""Longest side, in pixels, of the example thumbnails embedded in the report."""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.rising td, tr.higher td { background: #fde8e8; }
tr.lower td { background: #e8f0fd; }
.note { color: #666; font-size: 0.9em; }
img { max-width: 100%; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure.thumb { margin: 0; width: 160px; font-size: 0.75em; color: #555; }
figure.thumb figcaption { overflow-wrap: anywhere; }
.placeholder { width: 160px; height: 120px; background: #f2f2f2; border: 1px dashed #aaa;
               display: flex; align-items: center; justify-content: center; color: #888; }
h3 { font-size: 1em; margin-bottom: 0.3em; }
td.published { background: #e6f4e6; } td.failed { background: #f8d0d0; font-weight: bold; }
td.stale { background: #fde9c8; } td.staging { background: #fdf6c8; } td.missing { color: #888; }
"""
_CSS += COLOUR_CSS


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def read_trends_daily(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> list[dict[str, Any]]:
    """The published ``trends_daily`` rows of ``locations`` from ``start`` to ``end``."""
    rows: list[dict[str, Any]] = []
    for location in locations:
        for day in _days(start, end):
            path = partition_path(config.data_root, TRENDS_DAILY.name, location, day)
            if storage.exists(path):
                rows += storage.read_table(path, TRENDS_DAILY).to_pylist()
    return rows


def range_counts(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> tuple[pa.Table, pa.Table]:
    """Counts of the whole range as one period per location (distinct images), and ok counts.

    The range is not a calendar period, so every row's ``date`` is set to ``start`` and the
    rows are rolled up as one "day"; the period key of the result is ``start``.
    """
    parts = [read_days(config.data_root, loc, _days(start, end)) for loc in locations]
    images = pa.concat_tables([p[0] for p in parts])
    detections = pa.concat_tables([p[1] for p in parts])

    def at_start(table: pa.Table) -> pa.Table:
        i = table.schema.get_field_index("date")
        value = pa.array([start] * table.num_rows, pa.date32())
        return table.set_column(i, table.schema.field(i), value)

    images, detections = at_start(images), at_start(detections)
    counts = rollup(images, detections, "day", config.trends.include_scenes)
    return counts, ok_counts(images, "day")


def binomial_band(p: float | None, n: int) -> tuple[float, float] | None:
    """The 95% normal-approximation interval of a share ``p`` observed on ``n`` images."""
    if p is None or n <= 0:
        return None
    half = Z95 * math.sqrt(max(p * (1 - p), 0.0) / n)
    return max(0.0, p - half), min(1.0, p + half)


# --- charts ----------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _share_chart(
    rows: list[dict[str, Any]], labels: Sequence[str], locations: Sequence[str]
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 2 if len(labels) > 1 else 1
    nrows = math.ceil(len(labels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, label in zip(axes.flat, labels, strict=False):
        for i, location in enumerate(locations):
            series = sorted(
                (
                    r
                    for r in rows
                    if r["location"] == location
                    and r["kind"] == "object"
                    and r["label"] == label
                    and r["fine_label"] is None
                ),
                key=lambda r: r["date"],
            )
            if not series:
                continue
            color = colors[i % len(colors)]
            days = [r["date"] for r in series]
            ax.plot(days, [r["share"] for r in series], marker=".", color=color, label=location)
            bands = [binomial_band(r["baseline_share"], r["ok_images"]) for r in series]
            ax.fill_between(
                days,
                [b[0] if b else math.nan for b in bands],
                [b[1] if b else math.nan for b in bands],
                color=color,
                alpha=0.15,
                linewidth=0,
            )
            rising = [r for r in series if r["trend"] == "rising"]
            if rising:
                ax.scatter(
                    [r["date"] for r in rising],
                    [r["share"] for r in rising],
                    marker="^",
                    s=60,
                    color="crimson",
                    zorder=3,
                    label=f"{location} rising",
                )
        ax.set_title(label)
        ax.set_ylabel("share of ok images")
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(labels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def _location_chart(
    shares: dict[tuple[str, str], float], labels: Sequence[str], locations: Sequence[str]
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(labels)), 3.5))
    width = 0.8 / max(1, len(locations))
    for i, location in enumerate(locations):
        xs = [k + i * width for k in range(len(labels))]
        ax.bar(xs, [shares.get((location, lab), 0.0) for lab in labels], width, label=location)
    ax.set_xticks([k + width * (len(locations) - 1) / 2 for k in range(len(labels))])
    ax.set_xticklabels(labels)
    ax.set_ylabel("share of ok images over the range")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


# --- example thumbnails ----------------------------------------------------------------------


def thumbnail_uri(source_uri: str, max_side: int = THUMB_SIDE) -> str:
    """A JPEG thumbnail (longest side ``max_side``) of an image file as a ``data:`` URI.

    The file is read through :func:`~trendscope.tables.storage.read_bytes` (local or ``s3://``).

    Raises:
        FileNotFoundError: The file does not exist.
        OSError: It is not an image Pillow can decode.
    """
    from PIL import Image, ImageOps

    data = storage.read_bytes(source_uri)
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (max_side * 2, max_side * 2))  # JPEG: decode at a reduced scale
        small = ImageOps.exif_transpose(img).convert("RGB")
        small.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(example: Example, thumbs: dict[str, str | None], failed: list[str]) -> str:
    uri = example.source_uri
    if uri not in thumbs:
        try:
            thumbs[uri] = thumbnail_uri(uri)
        except Exception as exc:  # one unreadable image must never break the report
            failed.append(f"{uri}: {exc}")
            thumbs[uri] = None
    path = html.escape(uri)
    src = thumbs[uri]
    if src is None:
        return (
            '<figure class="thumb missing"><div class="placeholder">image not available</div>'
            f"<figcaption>{path}</figcaption></figure>"
        )
    conf = "-" if example.confidence is None else f"{example.confidence:.2f}"
    caption = html.escape(f"{example.author or 'unknown author'}, confidence {conf}")
    return (
        f'<figure class="thumb"><img class="thumb" alt="{path}" title="{path}" src="{src}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _examples_section(config: TrendscopeConfig, rising: Sequence[dict[str, Any]]) -> str:
    """Thumbnails of example images of each rising row, reading each location-day once."""
    by_day: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for r in rising:
        by_day.setdefault((r["location"], r["date"]), []).append(r)
    thumbs: dict[str, str | None] = {}
    failed: list[str] = []
    parts = []
    for (location, day), rows in by_day.items():
        keys: list[LabelKey] = [(r["kind"], r["label"], r["fine_label"]) for r in rows]
        found = examples_for_day(config.data_root, location, day, keys, MAX_EXAMPLES)
        for r, key in zip(rows, keys, strict=True):
            name = describe(key)
            head = f"{location} {day}: {name} (share {r['share']:.3f}, {r['images']} images" + (
                f" from {r['authors']} authors)" if r["authors"] is not None else ")"
            )
            figures = "".join(_figure(x, thumbs, failed) for x in found[key]) or (
                "<p class='note'>No ok image of it found in the published tables.</p>"
            )
            parts.append(
                f'<section class="examples" data-location="{html.escape(location)}" '
                f'data-date="{day}" data-label="{html.escape(name)}">'
                f'<h3>{html.escape(head)}</h3><div class="thumbs">{figures}</div></section>'
            )
    if failed:
        log.warning(
            "report: %d example image(s) unreadable, shown as placeholders (first: %s)",
            len(failed),
            failed[0],
        )
    return "\n".join(parts)


# --- HTML ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, float):
        text = f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"
        return f'<td class="num">{html.escape(text)}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], row_class: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cls = html.escape(str(r.get(row_class, ""))) if row_class else ""
        cells = "".join(_cell(r.get(c)) for c in columns)
        body.append(f'<tr class="{cls}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def build_report(
    config: TrendscopeConfig,
    start: date,
    end: date,
    location: str | None = None,
    out_path: str | Path = "report.html",
) -> Path:
    """Write the trend report of ``start``..``end`` (inclusive) and return its path.

    Args:
        config: The config (data root, locations, thresholds).
        start: First day.
        end: Last day.
        location: One location slug, or ``None`` for every configured location.
        out_path: The HTML file to write.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    storage.use(config.storage)
    if location is not None:
        config.location(location)
    shown = [location] if location else config.location_slugs
    where = location or "all locations"
    title = f"Trendscope report: {where}, {start} to {end}"
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)

    rows = read_trends_daily(config, shown, start, end)
    counts, ok = range_counts(config, config.location_slugs, start, end)
    if not rows and not counts.num_rows:
        body = (
            f"<p>No published data for {html.escape(where)} between {start} and {end}: "
            "no <code>trends_daily</code>, <code>images</code> or <code>detections</code> "
            "partitions in that range.</p>"
            f"<p class='note'>Data root: {html.escape(config.data_root)}</p>"
        )
        body += "<h2>Pipeline status</h2>" + _status_section(config, shown, start, end)
        out.write_text(_page(title, body), encoding="utf-8")
        return out

    totals = counts.filter(
        pc.and_(pc.equal(counts.column("kind"), "object"), pc.is_null(counts.column("fine_label")))
    ).to_pylist()
    by_label: dict[str, int] = {}
    for r in totals:
        if r["location"] in shown:
            by_label[r["label"]] = by_label.get(r["label"], 0) + r["images"]
    labels = sorted(by_label, key=lambda lab: (-by_label[lab], lab))[:TOP_LABELS]

    parts = [
        f"<p class='note'>Data root: {html.escape(config.data_root)}. Shares are distinct ok "
        "images showing a label over all ok images; the band is the baseline share (trailing "
        f"{config.trends.window_days} days) with a binomial 95% interval for the day's ok "
        "images; red triangles mark days judged <b>rising</b>.</p>"
    ]
    parts.append(f"<h2>Share over time, top {len(labels)} object labels</h2>")
    if labels and rows:
        parts.append(_share_chart(rows, labels, shown))
    else:
        parts.append("<p>No daily trend rows in this range.</p>")

    rising = sorted(
        (r for r in rows if r["trend"] == "rising"),
        key=lambda r: (r["date"], r["location"], r["label"], r["fine_label"] or ""),
    )
    parts.append(f"<h2>Rising labels ({len(rising)})</h2>")
    if rising:
        for r in rising:
            r["baseline"], r["expected"] = r["baseline_share"], r["expected_share"]
        for i, names in rising_authors(config, rising).items():
            rising[i]["top_authors"] = names
        cols = ["date", "location", "kind", "label", "fine_label", "share", "baseline"]
        cols += ["expected", "authors", "lift", "p_adjusted", "top_authors"]
        parts.append(_table(rising, cols, row_class="trend"))
        parts.append(
            f"<h2>Example images of the rising labels (up to {MAX_EXAMPLES} each)</h2>"
            "<p class='note'>Ok images showing the label that day, one per author first, "
            "highest confidence first (as <code>trendscope explain</code> lists them).</p>"
        )
        parts.append(_examples_section(config, rising))
    else:
        parts.append("<p>No label was judged rising in this range.</p>")

    parts.append(f"<h2>Locations compared, {start} to {end}</h2>")
    shares = {(r["location"], r["label"]): r["share"] for r in totals}
    locations = [loc for loc in config.location_slugs if any(k[0] == loc for k in shares)]
    if labels and locations:
        parts.append(_location_chart(shares, labels, locations))
    compared = compare_locations(counts, TrendParams.from_config(config.trends), ok)
    compared_rows = [
        r for r in compared.to_pylist() if r["kind"] == "object" and r["label"] in labels
    ]
    if len(locations) > 1 and compared_rows:
        cols = ["location", "label", "fine_label", "images", "ok_images", "share"]
        cols += ["others_share", "lift", "p_adjusted", "comparison"]
        parts.append(_table(compared_rows, cols, row_class="comparison"))
    else:
        parts.append("<p>Only one location has data in this range: nothing to compare.</p>")

    parts.append("<h2>Colours of the target labels over time</h2>")
    parts.append(colour_section(rows, shown))
    parts.append("<h2>Top tags</h2>")
    tagged = tags_section(config, shown, start, end)
    parts.append(_table(tagged[1], tagged[0]) if tagged else "<p>No tags in this range.</p>")

    parts.append(_engagement_section(config, shown, end))

    parts.append("<h2>Pipeline status</h2>")
    parts.append(_status_section(config, shown, start, end))

    parts.append("<h2>Data quality</h2>")
    parts.append(_quality_section(config, shown, start, end))

    out.write_text(_page(title, "\n".join(parts)), encoding="utf-8")
    return out


def _engagement_section(config: TrendscopeConfig, shown: Sequence[str], end: date) -> str:
    """The engagement lift per label over the window ending on ``end``."""
    window = config.engagement.window_days
    head = (
        f"<h2>Engagement lift per label, {window} days to {end}</h2>"
        "<p class='note'>Engagement rate = likes / followers of a post. lift = median rate of "
        "the posts showing the label / median rate of the others; p_adjusted: two-sided "
        "Mann-Whitney U test, Benjamini-Hochberg over the labels; engagement_share: the label's "
        "share of all likes per follower, beside its share of the posts.</p>"
    )
    rows = engagement_rows(config, shown, end)
    if not rows:
        return head + "<p>No label could be tested (too few posts with likes and followers).</p>"
    return head + _table(rows, ENGAGEMENT_COLUMNS, row_class="engagement")


def quality_notes(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> list[dict[str, Any]]:
    """Warnings (e.g. a day with far fewer images than usual) and failures kept by the gate."""
    from trendscope.quality.results import latest_result
    from trendscope.trends.calendar import period_key

    days = _days(start, end)
    partitions = [
        (t, d.isoformat()) for d in days for t in ("images", "detections", "trends_daily")
    ]
    for table, kind in (("trends_weekly", "week"), ("trends_monthly", "month")):
        partitions += [(table, k) for k in dict.fromkeys(period_key(d, kind) for d in days)]
    notes = []
    for loc in locations:
        for table, key in partitions:
            result = latest_result(config, table, loc, key)
            for status, items in (("warning", "warnings"), ("failed", "failures")):
                for item in (result or {}).get(items, []):
                    notes.append(
                        {
                            "date": key,
                            "location": loc,
                            "table": table,
                            "status": status,
                            "check": item.get("description") or item["expectation"],
                            "observed": item.get("observed")
                            if item.get("unexpected_count") is None
                            else f"{item['unexpected_count']} rows",
                        }
                    )
    return notes


def _quality_section(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> str:
    notes = quality_notes(config, locations, start, end)
    if not notes:
        return "<p>Every partition in this range passed its expectation suite with no warning.</p>"
    cols = ["date", "location", "table", "status", "check", "observed"]  # date: day or period
    return (
        "<p class='note'>From the validation results kept beside the tables "
        "(<code>quality/results/</code>); failed partitions were not published.</p>"
        + _table(notes, cols, row_class="quality")
    )


def _status_section(
    config: TrendscopeConfig, locations: Sequence[str], start: date, end: date
) -> str:
    """The ``trendscope status`` grid of the range: a row per day, a column per location."""
    from trendscope.pipeline.status import FAILED, LEGEND, status_grid

    grid = status_grid(config, start, end, list(locations))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["date", *grid.locations])
    body = []
    for day in grid.days:
        cells = []
        for loc in grid.locations:
            c = grid.cell(loc, day)
            cells.append(f'<td class="{c.state}" title="{html.escape(c.detail)}">{c.state}</td>')
        body.append(f"<tr><td>{day.isoformat()}</td>{''.join(cells)}</tr>")
    parts = [
        f'<table class="status"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    ]
    failed = [
        {
            "date": c.date,
            "location": c.location,
            "step": f.step + (f" shard {f.shard}" if f.shard else ""),
            "started": f.started_at.strftime("%Y-%m-%d %H:%M UTC"),
            "run_id": f.run_id,
            "error": f.error,
        }
        for c in grid.in_state(FAILED)
        for f in c.failures
    ]
    if failed:
        parts.append("<h3>Failed steps</h3>")
        parts.append(_table(failed, ["date", "location", "step", "started", "run_id", "error"]))
    legend = "".join(
        f"<li><b>{html.escape(state)}</b>: {html.escape(text)}</li>"
        for state, text in LEGEND.items()
    )
    parts.append(f"<ul class='note'>{legend}</ul>")
    return "\n".join(parts)
