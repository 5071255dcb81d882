"""Why a label is (or is not) flagged on a location-day: the evidence behind a ``trends_daily`` row.

:func:`explain` reads the published row and recounts the day and its window with the product's
own counting (:func:`~trendscope.trends.counting.daily_counts_with_ok` on
:func:`~trendscope.tables.published.read_days`),
so every number it shows is one the trends step used. It names the rule of
:func:`~trendscope.trends.stats.classify_trend` that decided the trend, and picks example images
with :func:`example_images`, which the HTML report uses too.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.commit import read_together
from trendscope.tables.paths import join, partition_path
from trendscope.tables.published import colour_column, published_days, read_days
from trendscope.tables.schemas import COLORS, DETECTIONS, IMAGES, STATUS_OK, TRENDS_DAILY
from trendscope.trends.calendar import window_days
from trendscope.trends.compare import TrendParams
from trendscope.trends.counting import daily_counts_with_ok
from trendscope.trends.stats import DELTA_TOLERANCE, TRIM, Rules, classify_trend

MAX_EXAMPLES = 6
"""Example images shown per label (the CLI and the report)."""

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
KINDS = ("object", "scene", "colour")

LabelKey = tuple[str, str, str | None]
"""``(kind, label, fine_label)`` of a ``trends_daily`` row."""


class NotPublished(LookupError):
    """Nothing published for what was asked; ``field`` names the argument at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DayCounts:
    """One day of a label's series: its images and authors out of the day's ok ones.

    ``share`` and ``author_share`` are None when the day has no ok images (or is not published):
    such a day carries no information and is not part of the baseline.
    """

    date: date
    weekday: str
    published: bool
    ok_images: int = 0
    images: int = 0
    share: float | None = None
    ok_authors: int = 0
    authors: int = 0
    author_share: float | None = None


@dataclass(frozen=True)
class Example:
    """An ok image that shows the label, with the confidence it was seen with."""

    image_id: str
    source_uri: str
    author: str | None
    confidence: float | None


@dataclass(frozen=True)
class BaselineSummary:
    """The window pooled from the recounted series, and the model's numbers from the row.

    Attributes:
        window_days: Days before the day judged that make its window.
        days: Window days with ok images (the others carry no information).
        images: The label's images over those days.
        ok_images: Ok images over those days.
        share: ``images / ok_images`` (the row's ``baseline_share``).
        author_share: Authors showing the label over authors posting, pooled (descriptive).
        weekday_effect: The shift of the expectation for the day's weekday (None: not used).
        weekday_note: Why the weekday effect was or was not used.
        expected_share: ``baseline_share + weekday_effect``.
        dispersion: Sd of the daily share beyond binomial.
        dispersion_estimated: False when the conservative default was used.
        dispersion_note: Where the dispersion came from.
        design_effect: How much authors posting several images widen today's variance; today's
            counts are divided by it before the test.
        statistic: Standardised difference of today's share from the expected one.
        recent_statistic: The same for the last ``recent_days`` days pooled (None: not tested).
        p_value: The row's p-value.
        p_adjusted: Its Benjamini-Hochberg adjustment over the location-day's labels.
    """

    window_days: int
    days: int
    images: int
    ok_images: int
    share: float | None
    author_share: float | None
    weekday_effect: float | None
    weekday_note: str
    expected_share: float | None
    dispersion: float | None
    dispersion_estimated: bool
    dispersion_note: str
    design_effect: float | None
    statistic: float | None
    recent_statistic: float | None
    p_value: float | None
    p_adjusted: float | None


@dataclass(frozen=True)
class Explanation:
    """Everything that decided one label's trend on one location-day.

    Attributes:
        location: Location slug.
        date: The day judged.
        kind: ``object`` or ``scene``.
        label: The label.
        fine_label: The fine label (None: the label's total).
        path: The ``trends_daily`` partition read.
        row: The published ``trends_daily`` row.
        today: The day recounted from ``images``/``detections``.
        series: The window days recounted, oldest first (unpublished days included).
        baseline: The pooled window and the model's numbers.
        trend: The published trend.
        rule: The rule that decided it, in words.
        examples: Up to :data:`MAX_EXAMPLES` ok images showing the label that day.
        mismatches: Row columns the recount disagrees with (the tables changed since the
            trends were computed).
    """

    location: str
    date: date
    kind: str
    label: str
    fine_label: str | None
    path: str
    row: dict[str, Any]
    today: DayCounts
    series: list[DayCounts]
    baseline: BaselineSummary
    trend: str
    rule: str
    examples: list[Example] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings, NaN as None)."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def describe(key: LabelKey) -> str:
    """``cat``, ``cat / tabby``, ``food (scene)`` or ``cat/brown (colour)``."""
    kind, label, fine = key
    text = f"{label} / {fine}" if fine is not None else label
    return f"{text} ({kind})" if kind in ("scene", "colour") else text


# --- example images --------------------------------------------------------------------------


def _confidence(value: float | None) -> float:
    return -1.0 if value is None else float(value)


def example_images(
    images: pa.Table,
    detections: pa.Table,
    kind: str,
    label: str,
    fine_label: str | None = None,
    limit: int = MAX_EXAMPLES,
) -> list[Example]:
    """Ok images showing a label, one per author first, highest confidence first.

    Objects are found through ``detections`` (the fine label's ``fine_confidence`` when a fine
    label is asked, else the detection's ``confidence``; an image's best detection counts),
    scenes through ``images.scene`` (``scene_confidence``). An image without a known author
    counts as an author of its own, as in the counts.

    Args:
        images: ``images`` rows (``image_id``, ``status``, ``source_uri``, ``author``, ``scene``,
            ``scene_confidence``) of one location-day.
        detections: Its ``detections`` rows (``image_id``, ``label``, ``fine_label``,
            ``confidence``, ``fine_confidence``).
        kind: ``object`` or ``scene``.
        label: The label (COCO label or scene category).
        fine_label: For objects, one fine label of ``label`` (None: any).
        limit: Most images returned.

    Returns:
        At most ``limit`` examples, best first.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    ok = {
        r["image_id"]: r
        for r in images.filter(pc.equal(images.column("status"), STATUS_OK)).to_pylist()
    }
    best: dict[str, float] = {}  # image id -> its best confidence (-1: none recorded)
    if kind == "scene":
        for image_id, r in ok.items():
            if r.get("scene") == label:
                best[image_id] = _confidence(r.get("scene_confidence"))
    else:
        conf_column = "confidence" if fine_label is None else "fine_confidence"
        target, colour = label.rsplit("/", 1) if kind == "colour" else (label, None)
        for d in detections.to_pylist():
            if d["image_id"] not in ok or d["label"] != target:
                continue
            if colour is not None and d.get("colour") != colour:
                continue
            if fine_label is not None and d["fine_label"] != fine_label:
                continue
            conf = _confidence(d.get(conf_column))
            best[d["image_id"]] = max(best.get(d["image_id"], -1.0), conf)
    ranked = sorted(best, key=lambda i: (-best[i], i))
    first, rest, authors = [], [], set()
    for image_id in ranked:
        author = ok[image_id].get("author") or f"\x00image:{image_id}"
        (rest if author in authors else first).append(image_id)
        authors.add(author)
    return [
        Example(
            image_id=i,
            source_uri=ok[i]["source_uri"],
            author=ok[i].get("author"),
            confidence=best[i] if best[i] >= 0 else None,
        )
        for i in [*first, *rest][: max(limit, 0)]
    ]


def read_day(root: str, location: str, day: date) -> tuple[pa.Table, pa.Table]:
    """The published ``images`` and ``detections`` of a location-day, all columns (empty when
    the day is not published)."""
    try:
        images, detections, colors = read_together(
            root,
            location,
            day,
            [(IMAGES, None), (DETECTIONS, None), (COLORS, None)],
            optional=(COLORS.name,),  # days published before colours existed
        )
    except FileNotFoundError:
        return IMAGES.schema.empty_table(), DETECTIONS.schema.empty_table()
    # each detection's dominant colour family, for the examples of colour rows
    return images, detections.append_column("colour", colour_column(detections, colors))


def examples_for_day(
    root: str, location: str, day: date, keys: Iterable[LabelKey], limit: int = MAX_EXAMPLES
) -> dict[LabelKey, list[Example]]:
    """:func:`example_images` of several labels of one location-day, reading it once."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    images, detections = read_day(root, location, day)
    return {k: example_images(images, detections, *k, limit=limit) for k in keys}


# --- the rule that decided -------------------------------------------------------------------


def _p(value: float) -> str:
    return f"{value:.2g}"


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def decide(row: dict[str, Any], rules: Rules) -> tuple[str, str]:
    """The trend :func:`~trendscope.trends.stats.classify_trend` gives a row, and why.

    Returns:
        ``(trend, reason)``, e.g. ``("stable", "rising needs >= 5 authors: 1 author")``.
    """
    authors = row["authors"] if row.get("authors") is not None else row["images"]
    (trend,) = classify_trend(
        delta=[_num(row["delta"])],
        p_adjusted=[_num(row["p_adjusted"])],
        ok_images=[row["ok_images"]],
        baseline_ok_images=[row["baseline_ok_images"]],
        images=[row["images"]],
        baseline_images=[row["baseline_images"]],
        authors=[authors],
        top_author_share=[_num(row.get("top_author_share"))],
        rules=rules,
    )
    p, delta = row["p_adjusted"], row["delta"]
    top = row.get("top_author_share")
    alpha = rules.alpha
    if row["ok_images"] < rules.min_images:
        return trend, f"{row['ok_images']} ok images that day < min_images {rules.min_images}"
    if row["baseline_ok_images"] < rules.min_baseline_images:
        return trend, (
            f"{row['baseline_ok_images']} ok images in the window < min_baseline_images "
            f"{rules.min_baseline_images}"
        )
    if row["baseline_images"] == 0 and row["images"] > 0:
        checks = [
            (
                row["images"] >= rules.new_min_images,
                f">= {rules.new_min_images} images: {row['images']}",
            ),
            (authors >= rules.new_min_authors, f">= {rules.new_min_authors} authors: {authors}"),
            (
                p is not None and p < alpha,
                f"p_adjusted < alpha {alpha}: {'-' if p is None else _p(p)}",
            ),
        ]
        failed = [text for ok, text in checks if not ok]
        if failed:
            return trend, "not seen in the window, and new needs " + ", ".join(failed)
        return trend, (
            f"not seen in the window; {row['images']} images >= new_min_images "
            f"{rules.new_min_images}, {authors} authors >= new_min_authors "
            f"{rules.new_min_authors}, p_adjusted {_p(p)} < alpha {alpha} against the "
            "detector's false-positive floor"
        )
    if p is None or delta is None:
        return trend, "not tested: no baseline share or no authors posting ok images that day"
    if p >= alpha:
        return trend, f"p_adjusted {_p(p)} >= alpha {alpha}"
    if abs(delta) < rules.min_delta - DELTA_TOLERANCE:
        return trend, f"|delta| {abs(delta):.3f} < min_delta {rules.min_delta}"
    significant = f"p_adjusted {_p(p)} < alpha {alpha}"
    if delta < 0:
        return trend, f"{significant}, delta {delta:+.3f} <= -min_delta {rules.min_delta}"
    spread = []
    if authors < rules.min_authors:
        spread.append(
            f"rising needs >= {rules.min_authors} authors: {authors} "
            f"author{'' if authors == 1 else 's'}"
        )
    if top is None or top > rules.max_top_author_share + DELTA_TOLERANCE:
        shown = "-" if top is None else f"{top:.2f}"
        spread.append(f"rising needs top_author_share <= {rules.max_top_author_share}: {shown}")
    if spread:
        return trend, f"{significant} and delta {delta:+.3f}, but " + "; ".join(spread)
    return trend, (
        f"{significant}, delta {delta:+.3f} >= min_delta {rules.min_delta}, {authors} authors "
        f">= min_authors {rules.min_authors}, top_author_share {top:.2f} <= "
        f"{rules.max_top_author_share}"
    )


# --- explain ---------------------------------------------------------------------------------


def _published_trend_days(root: str, location: str) -> list[date]:
    folder = join(root, "tables", TRENDS_DAILY.name, f"location={location}")
    found = {
        m.group(1) for p in storage.list_files(folder) if (m := re.search(r"date=([\d-]+)/", p))
    }
    return sorted(date.fromisoformat(d) for d in found)


def _no_day(root: str, location: str, day: date) -> NotPublished:
    days = _published_trend_days(root, location)
    if not days:
        return NotPublished("location", f"no trends_daily published for {location} at all")
    nearest = sorted(days, key=lambda d: (abs((d - day).days), d))[:3]
    return NotPublished(
        "date",
        f"no trends_daily for {location} on {day} (published: {len(days)} days, {days[0]} to "
        f"{days[-1]}; nearest: {', '.join(map(str, sorted(nearest)))})",
    )


def _no_label(rows: list[dict[str, Any]], key: LabelKey, location: str, day: date) -> NotPublished:
    kind, label, fine = key
    where = f"{location} on {day}"
    totals = [r for r in rows if r["fine_label"] is None]
    names = [r["label"] for r in totals if r["kind"] == kind]
    if fine is not None and label in names:
        fines = [r["fine_label"] for r in rows if r["label"] == label and r["fine_label"]]
        close = difflib.get_close_matches(fine, fines, n=3, cutoff=0.5)
        return NotPublished(
            "fine-label",
            f"no fine label {fine!r} of {label} at {where}"
            + (f"; closest: {', '.join(close)}" if close else "")
            + f"; fine labels of {label} that day: {', '.join(fines) or 'none'}",
        )
    other = [r["kind"] for r in totals if r["label"] == label and r["kind"] != kind]
    hint = f" ({label!r} is a {other[0]}: use --kind {other[0]})" if other else ""
    close = difflib.get_close_matches(label, names, n=3, cutoff=0.5)
    return NotPublished(
        "label",
        f"no {kind} label {label!r} at {where}{hint}"
        + (f"; closest: {', '.join(close)}" if close else "")
        + f"; {kind} labels that day: {', '.join(names) or 'none'}",
    )


def _series(
    config: TrendscopeConfig, location: str, day: date, key: LabelKey, window: list[date]
) -> dict[date, DayCounts]:
    """The label's counts on ``window`` and ``day``, counted as the trends step counts them."""
    days = [*window, day]
    images, detections = read_days(config.data_root, location, days)
    counts, ok_days = daily_counts_with_ok(images, detections, config.trends.include_scenes)
    kind, label, fine = key
    mask = pc.and_(pc.equal(counts.column("kind"), kind), pc.equal(counts.column("label"), label))
    fine_mask = (
        pc.is_null(counts.column("fine_label"))
        if fine is None
        else pc.equal(counts.column("fine_label"), fine)
    )
    shown = {r["date"]: r for r in counts.filter(pc.and_(mask, fine_mask)).to_pylist()}
    ok = {r["period_start"]: r for r in ok_days.to_pylist()}
    published = set(published_days(config.data_root, location, days))
    out = {}
    for d in days:
        n, x = ok.get(d, {}), shown.get(d, {})
        ok_images, ok_authors = n.get("ok_images") or 0, n.get("ok_authors") or 0
        images_, authors = x.get("images") or 0, x.get("authors") or 0
        out[d] = DayCounts(
            date=d,
            weekday=WEEKDAYS[d.weekday()],
            published=d in published,
            ok_images=ok_images,
            images=images_,
            share=images_ / ok_images if ok_images else None,
            ok_authors=ok_authors,
            authors=authors,
            author_share=authors / ok_authors if ok_authors else None,
        )
    return out


def _baseline(
    row: dict[str, Any], today: DayCounts, series: list[DayCounts], params: TrendParams
) -> BaselineSummary:
    with_data = [d for d in series if d.ok_images > 0]
    images = sum(d.images for d in with_data)
    ok_images = sum(d.ok_images for d in with_data)
    authors = sum(d.authors for d in with_data)
    ok_authors = sum(d.ok_authors for d in with_data)
    same = sum(d.weekday == today.weekday for d in with_data)
    effect = row.get("weekday_effect")
    if effect is not None:
        note = (
            f"{same} {today.weekday} days in the window, "
            f">= weekly_min_weeks {params.weekly_min_weeks}"
        )
    elif not params.weekly_rhythm:
        note = "none: weekly_rhythm is off"
    elif not with_data:
        note = "none: no window day has ok images"
    elif same < params.weekly_min_weeks:
        note = (
            f"none: {same} same-weekday ({today.weekday}) days in the window, fewer than "
            f"weekly_min_weeks {params.weekly_min_weeks}"
        )
    else:
        note = "none: too few days of other weekdays to measure the weekly rhythm"
    units = row["baseline_days"]
    estimated = units >= params.min_dispersion_units
    if estimated:
        d_note = (
            f"estimated from {units} window days with ok images, the {TRIM:.0%} most unusual "
            "left out"
        )
    else:
        d_note = (
            f"the default, default_icc {params.default_icc}: {units} window days with ok images, "
            f"fewer than min_dispersion_units {params.min_dispersion_units}"
        )
    return BaselineSummary(
        window_days=params.window_days,
        days=len(with_data),
        images=images,
        ok_images=ok_images,
        share=images / ok_images if ok_images else None,
        author_share=authors / ok_authors if ok_authors else None,
        weekday_effect=effect,
        weekday_note=note,
        expected_share=row.get("expected_share"),
        dispersion=row.get("dispersion"),
        dispersion_estimated=estimated,
        dispersion_note=d_note,
        design_effect=row.get("design_effect"),
        statistic=row.get("statistic"),
        recent_statistic=row.get("recent_statistic"),
        p_value=row.get("p_value"),
        p_adjusted=row.get("p_adjusted"),
    )


def _mismatches(row: dict[str, Any], today: DayCounts, baseline: BaselineSummary) -> list[str]:
    pairs = [
        ("images", row["images"], today.images),
        ("ok_images", row["ok_images"], today.ok_images),
        ("authors", row.get("authors"), today.authors),
        ("baseline_images", row["baseline_images"], baseline.images),
        ("baseline_ok_images", row["baseline_ok_images"], baseline.ok_images),
        ("baseline_days", row["baseline_days"], baseline.days),
    ]
    return [
        f"{name}: published {published}, recounted {now}"
        for name, published, now in pairs
        if published is not None and published != now
    ]


def explain(
    config: TrendscopeConfig,
    location: str,
    day: date,
    label: str,
    fine_label: str | None = None,
    kind: str = "object",
    limit: int = MAX_EXAMPLES,
) -> Explanation:
    """Why ``label`` has the trend it has at ``location`` on ``day``, from the published tables.

    Args:
        config: The config (data root, trend thresholds).
        location: Location slug.
        day: The day judged.
        label: COCO label (``kind="object"``) or scene category (``kind="scene"``).
        fine_label: A fine label of an object label (None: the label's total).
        kind: ``object`` or ``scene``.
        limit: Most example images.

    Returns:
        The :class:`Explanation`.

    Raises:
        ConfigError: The location is not configured.
        NotPublished: No ``trends_daily`` that day, or no row for the label (the message names
            the labels that exist).
    """
    config.location(location)
    if kind not in KINDS:
        raise NotPublished("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if kind in ("scene", "colour") and fine_label is not None:
        raise NotPublished("fine-label", f"{kind} rows have no fine labels")
    storage.use(config.storage)
    params = TrendParams.from_config(config.trends)
    path = partition_path(config.data_root, TRENDS_DAILY.name, location, day)
    if not storage.exists(path):
        raise _no_day(config.data_root, location, day)
    rows = storage.read_table(path, TRENDS_DAILY).to_pylist()
    key: LabelKey = (kind, label, fine_label)
    matches = [r for r in rows if (r["kind"], r["label"], r["fine_label"]) == key]
    if not matches:
        raise _no_label(rows, key, location, day)
    row = matches[0]

    window = window_days(day, params.window_days)
    counted = _series(config, location, day, key, window)
    today, series = counted[day], [counted[d] for d in window]
    baseline = _baseline(row, today, series, params)
    trend, reason = decide(row, params.rules)
    rule = f"{trend}: {reason}"
    if trend != row["trend"]:
        rule += f" (published as {row['trend']}: the thresholds have changed since)"
    examples = examples_for_day(config.data_root, location, day, [key], limit)[key]
    return Explanation(
        location=location,
        date=day,
        kind=kind,
        label=label,
        fine_label=fine_label,
        path=path,
        row=row,
        today=today,
        series=series,
        baseline=baseline,
        trend=row["trend"],
        rule=rule,
        examples=examples,
        mismatches=_mismatches(row, today, baseline),
    )
