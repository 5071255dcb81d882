"""What is trending: today's shares against a trailing baseline, rollups, and locations.

Three comparisons share one engine (:func:`_compare`): a row's share ``images / ok_images`` is
tested against a baseline share ``sum(images) / sum(ok_images)`` pooled over baseline units:

* :func:`compare_with_baseline`: one location-day against the ``window_days`` days before it.
* :func:`compare_periods`: a week or month against the ``weekly_window``/``monthly_window``
  periods before it (rows from :func:`rollup`).
* :func:`compare_locations`: a location's period against all other locations pooled.

Baseline rules (see :mod:`trendscope.trends.stats` for the test):

* A unit (day, period, other location) without ok images carries no information: it adds
  nothing to ``baseline_ok_images`` and is not counted in ``baseline_days``. A unit *with* ok
  images but no row for a label adds 0 images for that label.
* Labels seen in the baseline but absent now are reported too, with ``images = objects =
  share = 0``, and tested like any other row, so a label that disappears shows as ``falling``.
  Their ``rank`` continues after the ranks of the labels present, ordered by name.
* When the current unit has no ok images nothing is reported for it (there is no share).
* Benjamini-Hochberg runs over every tested row (all kinds, labels and fine labels) of one
  location-day / location-period.
* Rows are sorted by location and day/period, then trend (``rising``, ``new``, ``falling``,
  ``stable``, ``insufficient``), then ``p_adjusted`` (nulls last), kind, label, fine label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import ROLLUP_FIELDS, TEST_FIELDS, TRENDS_DAILY, TRENDS_WEEKLY
from trendscope.trends.stats import (
    COMPARISONS,
    TRENDS,
    benjamini_hochberg,
    classify_comparison,
    classify_trend,
    two_proportion_pvalue,
)

Period = Literal["day", "week", "month"]


@dataclass(frozen=True)
class TrendParams:
    """Knobs of the trend comparison (mirrors ``TrendsConfig``; see :meth:`from_config`).

    Attributes:
        window_days: Trailing baseline window of a day, in days before it.
        min_images: Fewest ok images of the current day/period/location to judge a trend.
        min_baseline_images: Fewest ok images in the baseline (or in the other locations).
        alpha: False-discovery rate for Benjamini-Hochberg adjusted p-values.
        min_delta: Smallest absolute share difference called ``rising``/``falling``.
        weekly_window: Previous ISO weeks a week is compared with.
        monthly_window: Previous months a month is compared with.
    """

    window_days: int = 28
    min_images: int = 20
    min_baseline_images: int = 50
    alpha: float = 0.05
    min_delta: float = 0.02
    weekly_window: int = 4
    monthly_window: int = 3

    @classmethod
    def from_config(cls, trends_config: Any) -> TrendParams:
        """Take every field that ``trends_config`` (a ``TrendsConfig``) has under the same name."""
        values = {
            f.name: getattr(trends_config, f.name)
            for f in fields(cls)
            if hasattr(trends_config, f.name)
        }
        return cls(**values)

    def window(self, period: Period) -> int:
        """How many previous units the baseline of a ``period`` spans."""
        return {"day": self.window_days, "week": self.weekly_window, "month": self.monthly_window}[
            period
        ]


# --- periods ------------------------------------------------------------------------------

_PERIOD_SQL = {
    "day": ("strftime(date, '%Y-%m-%d')", "date"),
    "week": ("strftime(date, '%G-W%V')", "date_trunc('week', date)::DATE"),
    "month": ("strftime(date, '%Y-%m')", "date_trunc('month', date)::DATE"),
}
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_key(day: date, period: Period) -> str:
    """The period a day falls in: ``2026-11-02``, ISO week ``2026-W45`` or month ``2026-11``."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"unknown period {period!r} (known: day, week, month)")


def period_kind(key: str) -> Period:
    """Which kind of period a key names, from its format."""
    if _WEEK.match(key):
        return "week"
    if _MONTH.match(key):
        return "month"
    date.fromisoformat(key)
    return "day"


def period_start(key: str) -> date:
    """First day of a period key (the Monday of an ISO week)."""
    kind = period_kind(key)
    if kind == "week":
        year, week = map(int, _WEEK.match(key).groups())  # type: ignore[union-attr]
        return date.fromisocalendar(year, week, 1)
    if kind == "month":
        year, month = map(int, _MONTH.match(key).groups())  # type: ignore[union-attr]
        return date(year, month, 1)
    return date.fromisoformat(key)


def previous_periods(key: str, n: int) -> list[str]:
    """The ``n`` period keys before ``key``, most recent first."""
    kind, start = period_kind(key), period_start(key)
    out = []
    for k in range(1, n + 1):
        if kind == "day":
            out.append(period_key(start - timedelta(days=k), "day"))
        elif kind == "week":
            out.append(period_key(start - timedelta(weeks=k), "week"))
        else:
            months = start.year * 12 + start.month - 1 - k
            out.append(f"{months // 12}-{months % 12 + 1:02d}")
    return out


# --- rollups ------------------------------------------------------------------------------

ROLLUP_SCHEMA = pa.schema(ROLLUP_FIELDS)
"""Columns of :func:`rollup`."""

OK_COUNTS_SCHEMA = pa.schema(
    [
        pa.field("location", pa.string(), nullable=False),
        pa.field("period", pa.string(), nullable=False),
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("ok_images", pa.int64(), nullable=False),
        pa.field("days", pa.int32(), nullable=False),
    ]
)
"""Columns of :func:`ok_counts`."""

_OK_CTE = """
ok AS (
    SELECT location, date, image_id, scene, {key} AS period, {start} AS period_start
    FROM images WHERE status = 'ok'
),
n AS (
    SELECT location, period, min(period_start) AS period_start,
           count(DISTINCT image_id) AS ok_images, count(DISTINCT date)::INTEGER AS days
    FROM ok GROUP BY location, period
)"""

_ROLLUP_SQL = (
    "WITH"
    + _OK_CTE
    + """,
ok_ids AS (SELECT DISTINCT location, date, image_id, period FROM ok),
d AS (
    SELECT ok_ids.location, ok_ids.period, det.image_id, det.label, det.fine_label
    FROM detections det JOIN ok_ids
      ON det.location = ok_ids.location AND det.date = ok_ids.date
     AND det.image_id = ok_ids.image_id
),
counts AS (
    SELECT location, period, 'object' AS kind, label, NULL::VARCHAR AS fine_label,
           count(DISTINCT image_id) AS images, count(*) AS objects
    FROM d GROUP BY location, period, label
    UNION ALL
    SELECT location, period, 'object', label, fine_label, count(DISTINCT image_id), count(*)
    FROM d WHERE fine_label IS NOT NULL GROUP BY location, period, label, fine_label
    UNION ALL
    SELECT location, period, 'scene', scene, NULL, count(DISTINCT image_id), count(*)
    FROM ok WHERE scene IS NOT NULL AND $include_scenes GROUP BY location, period, scene
)
SELECT c.location, c.period, n.period_start, kind, label, fine_label,
       images, objects, n.ok_images, images::DOUBLE / n.ok_images AS share,
       row_number() OVER (
           PARTITION BY c.location, c.period, kind,
                        CASE WHEN fine_label IS NULL THEN NULL ELSE label END, fine_label IS NULL
           ORDER BY images DESC, objects DESC, label, fine_label
       )::INTEGER AS rank,
       n.days
FROM counts c JOIN n ON c.location = n.location AND c.period = n.period
ORDER BY c.location, c.period, kind, fine_label IS NOT NULL, label, rank
"""
)


def _period_sql(sql: str, period: Period) -> str:
    if period not in _PERIOD_SQL:
        raise ValueError(f"unknown period {period!r} (known: {', '.join(_PERIOD_SQL)})")
    key, start = _PERIOD_SQL[period]
    return sql.replace("{key}", key).replace("{start}", start)


def rollup(
    images: pa.Table,
    detections: pa.Table,
    period: Period,
    include_scenes: bool = True,
) -> pa.Table:
    """Counts per (location, period, kind, label, fine_label) from image-level rows.

    Only ``ok`` images count. ``images`` and ``ok_images`` are distinct image ids over the whole
    period (not averages of daily shares); ``objects`` counts detections. Like the daily table,
    object rows come as label totals (``fine_label`` null) plus one row per fine label, and
    scenes (``images.scene``) as kind ``scene``. ``period="day"`` gives the daily table's counts
    for many days in one pass.

    Args:
        images: Rows of the ``images`` contract (any locations and days).
        detections: Rows of the ``detections`` contract for the same partitions.
        period: ``day``, ``week`` (ISO week ``YYYY-Www``) or ``month`` (``YYYY-MM``).
        include_scenes: Whether to add the scene rows.

    Returns:
        A table with :data:`ROLLUP_SCHEMA`.
    """
    sql = _period_sql(_ROLLUP_SQL, period)
    con = duckdb.connect()
    try:
        con.register("images", images)
        con.register("detections", detections)
        result = con.sql(sql, params={"include_scenes": include_scenes}).to_arrow_table()
    finally:
        con.close()
    return result.cast(ROLLUP_SCHEMA)


def ok_counts(images: pa.Table, period: Period) -> pa.Table:
    """Ok images (distinct ids) and days with ok images per (location, period).

    Unlike :func:`rollup` rows, this also covers periods whose ok images show no label.
    """
    sql = _period_sql("WITH" + _OK_CTE + " SELECT * FROM n ORDER BY location, period", period)
    con = duckdb.connect()
    try:
        con.register("images", images)
        result = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return result.cast(OK_COUNTS_SCHEMA)


# --- the comparison engine ----------------------------------------------------------------

_COMPARE_SQL = """
WITH base_n AS (
    SELECT m.location, m.g, sum(o.ok_images) AS baseline_ok_images, count(*) AS baseline_units
    FROM mapping m JOIN hist_ok o ON o.hloc = m.hloc AND o.unit = m.unit
    WHERE o.ok_images > 0
    GROUP BY m.location, m.g
),
base AS (
    SELECT m.location, m.g, h.kind, h.label, h.fine_label, sum(h.images) AS baseline_images
    FROM mapping m
    JOIN hist h ON h.hloc = m.hloc AND h.unit = m.unit
    JOIN hist_ok o ON o.hloc = m.hloc AND o.unit = m.unit AND o.ok_images > 0
    GROUP BY m.location, m.g, h.kind, h.label, h.fine_label
),
keys AS (
    SELECT location, g, kind, label, fine_label FROM cur
    UNION
    SELECT location, g, kind, label, fine_label FROM base
),
joined AS (
    SELECT k.location, k.g, k.kind, k.label, k.fine_label,
           coalesce(c.images, 0) AS images, coalesce(c.objects, 0) AS objects,
           n.ok_images, coalesce(c.images, 0)::DOUBLE / n.ok_images AS share,
           c.rank AS cur_rank,
           {passthrough}
           coalesce(b.baseline_images, 0) AS baseline_images,
           coalesce(bn.baseline_ok_images, 0) AS baseline_ok_images,
           coalesce(bn.baseline_units, 0) AS baseline_units
    FROM keys k
    JOIN cur_ok n ON n.location = k.location AND n.g = k.g AND n.ok_images > 0
    LEFT JOIN cur c ON c.location = k.location AND c.g = k.g AND c.kind = k.kind
         AND c.label = k.label AND c.fine_label IS NOT DISTINCT FROM k.fine_label
    LEFT JOIN base b ON b.location = k.location AND b.g = k.g AND b.kind = k.kind
         AND b.label = k.label AND b.fine_label IS NOT DISTINCT FROM k.fine_label
    LEFT JOIN base_n bn ON bn.location = k.location AND bn.g = k.g
)
SELECT * EXCLUDE (cur_rank),
       coalesce(cur_rank, coalesce(max(cur_rank) OVER rank_group, 0) + row_number() OVER (
           PARTITION BY location, g, kind,
                        CASE WHEN fine_label IS NULL THEN NULL ELSE label END,
                        fine_label IS NULL, cur_rank IS NULL
           ORDER BY label, fine_label))::INTEGER AS rank,
       dense_rank() OVER (ORDER BY location, g) AS family
FROM joined
WINDOW rank_group AS (
    PARTITION BY location, g, kind, CASE WHEN fine_label IS NULL THEN NULL ELSE label END,
                 fine_label IS NULL)
"""

_SORT_SQL = """
SELECT * EXCLUDE (family) FROM result
ORDER BY location, g, list_position($order, {label}), p_adjusted NULLS LAST,
         kind, label, fine_label NULLS FIRST
"""

Classifier = Callable[[dict[str, np.ndarray]], np.ndarray]


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=~np.isfinite(values))


def _compare(
    cur: pa.Table,
    cur_ok: pa.Table,
    hist: pa.Table,
    hist_ok: pa.Table,
    mapping: pa.Table,
    classify: Classifier,
    label_column: str,
    order: tuple[str, ...],
    passthrough: tuple[str, ...] = (),
) -> pa.Table:
    """Test each current row against its pooled baseline.

    Args:
        cur: ``location, g, kind, label, fine_label, images, objects, rank`` (+ passthrough).
        cur_ok: ``location, g, ok_images`` of every current unit.
        hist: ``hloc, unit, kind, label, fine_label, images`` of the baseline units.
        hist_ok: ``hloc, unit, ok_images`` of the baseline units.
        mapping: ``location, g, hloc, unit``: which baseline units each current unit uses.
        classify: Trend name per row from the numeric columns.
        label_column: Name of the trend column.
        order: Trend names in sort order.
        passthrough: Columns of ``cur`` copied through (absent rows take any value of the unit).

    Returns:
        Rows with ``baseline_images, baseline_ok_images, baseline_share, baseline_units,
        delta, lift, p_value, p_adjusted`` and the trend column added.
    """
    extra = "".join(
        f"coalesce(c.{c}, max(c.{c}) OVER (PARTITION BY k.location, k.g)) AS {c}, "
        for c in passthrough
    )
    con = duckdb.connect()
    try:
        for name, table in (
            ("cur", cur),
            ("cur_ok", cur_ok),
            ("hist", hist),
            ("hist_ok", hist_ok),
            ("mapping", mapping),
        ):
            con.register(name, table)
        joined = con.sql(_COMPARE_SQL.replace("{passthrough}", extra)).to_arrow_table()

        col = {
            name: joined.column(name).to_numpy(zero_copy_only=False)
            for name in ("images", "ok_images", "baseline_images", "baseline_ok_images", "family")
        }
        images, ok = col["images"].astype(float), col["ok_images"].astype(float)
        b_images, b_ok = (
            col["baseline_images"].astype(float),
            col["baseline_ok_images"].astype(float),
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            share = images / ok
            b_share = np.where(b_ok > 0, b_images / b_ok, np.nan)
            delta = share - b_share
            lift = np.where(b_share > 0, share / b_share, np.nan)
        p = two_proportion_pvalue(images, ok, b_images, b_ok)
        p_adj = benjamini_hochberg(p, col["family"])
        numbers = {
            "images": images,
            "ok_images": ok,
            "baseline_images": b_images,
            "baseline_ok_images": b_ok,
            "delta": delta,
            "p_adjusted": p_adj,
        }
        trend = classify(numbers)
        result = (
            joined.append_column("baseline_share", _nullable(b_share))
            .append_column("delta", _nullable(delta))
            .append_column("lift", _nullable(lift))
            .append_column("p_value", _nullable(p))
            .append_column("p_adjusted", _nullable(p_adj))
            .append_column(label_column, pa.array(trend, type=pa.string()))
        )
        con.register("result", result)
        return con.sql(
            _SORT_SQL.replace("{label}", label_column), params={"order": list(order)}
        ).to_arrow_table()
    finally:
        con.close()


def _select(table: pa.Table, schema: pa.Schema, rename: Mapping[str, str]) -> pa.Table:
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    return table.select(schema.names).cast(schema)


# --- one location-day against its trailing window ------------------------------------------


COMPARED_DAILY_SCHEMA = TRENDS_DAILY.schema
"""Columns of :func:`compare_with_baseline`: the ``trends_daily`` columns plus the comparison."""

_KEY = ("kind", "label", "fine_label")
_COUNT_COLUMNS = (*_KEY, "images", "objects", "rank")


def _trend_classifier(params: TrendParams) -> Classifier:
    def classify(v: dict[str, np.ndarray]) -> np.ndarray:
        return classify_trend(
            v["delta"],
            v["p_adjusted"],
            v["ok_images"],
            v["baseline_ok_images"],
            v["images"],
            v["baseline_images"],
            alpha=params.alpha,
            min_delta=params.min_delta,
            min_images=params.min_images,
            min_baseline_images=params.min_baseline_images,
        )

    return classify


def _ok_table(
    rows: list[tuple[Any, Any, int]], names: tuple[str, str], g_type: pa.DataType
) -> pa.Table:
    return pa.table(
        {
            names[0]: pa.array([r[0] for r in rows], pa.string()),
            names[1]: pa.array([r[1] for r in rows], g_type),
            "ok_images": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def _max_ok(table: pa.Table, g: str) -> dict[tuple[str, Any], int]:
    if table.num_rows == 0:
        return {}
    agg = table.group_by(["location", g]).aggregate([("ok_images", "max")]).to_pylist()
    return {(r["location"], r[g]): int(r["ok_images_max"]) for r in agg}


def _ok_overrides(
    ok_by_day: Mapping[date, int] | pa.Table | None, locations: list[str]
) -> dict[tuple[str, date], int]:
    if ok_by_day is None:
        return {}
    if isinstance(ok_by_day, pa.Table):
        out = {}
        for r in ok_by_day.to_pylist():
            for loc in [r["location"]] if r.get("location") else locations:
                out[(loc, r["date"])] = int(r["ok_images"])
        return out
    return {(loc, d): int(n) for d, n in ok_by_day.items() for loc in locations}


def compare_with_baseline(
    today: pa.Table,
    history: pa.Table,
    ok_by_day: Mapping[date, int] | pa.Table | None,
    day: date,
    params: TrendParams | None = None,
) -> pa.Table:
    """Compare a location-day's label shares with its trailing window.

    Args:
        today: ``trends_daily`` rows of ``day`` (at least location, date, kind, label,
            fine_label, images, objects, ok_images, share, rank; the model hashes are kept).
        history: ``trends_daily`` rows of earlier days of the same location; rows outside
            ``[day - window_days, day - 1]`` are ignored.
        ok_by_day: Ok images per day (a ``{date: n}`` dict, or a table with ``date``,
            ``ok_images`` and optionally ``location``). It is needed for days whose ok images
            show no label (no rows in ``history``); days not in it fall back to the
            ``ok_images`` of their rows, and days in neither count as days without data.
        day: The day compared.
        params: Window and thresholds.

    Returns:
        A table with :data:`COMPARED_DAILY_SCHEMA`: today's rows plus the labels seen in the
        window but not today, rising first (by ``p_adjusted``), then new, falling, stable,
        insufficient.
    """
    params = params or TrendParams()
    today = today.filter(pc.equal(today.column("date"), pa.scalar(day, pa.date32())))
    window = [day - timedelta(days=k) for k in range(params.window_days, 0, -1)]
    if history.num_rows:
        in_window = pc.is_in(history.column("date"), pa.array(window, pa.date32()))
        history = history.filter(in_window)
    locations = sorted(set(today.column("location").to_pylist())) or sorted(
        set(history.column("location").to_pylist())
    )
    if isinstance(ok_by_day, pa.Table) and "location" in ok_by_day.column_names and not locations:
        locations = sorted(set(ok_by_day.column("location").to_pylist()))

    ok = _max_ok(history, "date") | _max_ok(today, "date") | _ok_overrides(ok_by_day, locations)
    cur_ok = _ok_table(
        [(loc, day, ok.get((loc, day), 0)) for loc in locations], ("location", "g"), pa.date32()
    )
    hist_ok = _ok_table(
        [(loc, d, ok.get((loc, d), 0)) for loc in locations for d in window],
        ("hloc", "unit"),
        pa.date32(),
    )
    mapping = pa.table(
        {
            "location": pa.array([loc for loc in locations for _ in window], pa.string()),
            "g": pa.array([day for _ in locations for _ in window], pa.date32()),
            "hloc": pa.array([loc for loc in locations for _ in window], pa.string()),
            "unit": pa.array([d for _ in locations for d in window], pa.date32()),
        }
    )
    passthrough = tuple(
        c for c in ("detector_sha256", "classifier_sha256") if c in today.column_names
    )
    cur = today.select(["location", "date", *_COUNT_COLUMNS, *passthrough]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS, *passthrough]
    )
    hist = history.select(["location", "date", *_KEY, "images"]).rename_columns(
        ["hloc", "unit", *_KEY, "images"]
    )
    result = _compare(
        cur, cur_ok, hist, hist_ok, mapping, _trend_classifier(params), "trend", TRENDS, passthrough
    )
    for name in ("detector_sha256", "classifier_sha256"):
        if name not in result.column_names:
            result = result.append_column(name, pa.nulls(result.num_rows, pa.string()))
    return _select(result, COMPARED_DAILY_SCHEMA, {"g": "date", "baseline_units": "baseline_days"})


# --- periods against previous periods -------------------------------------------------------

COMPARED_PERIOD_SCHEMA = TRENDS_WEEKLY.schema
"""Columns of :func:`compare_periods`: the rollup columns plus the comparison."""


def _period_ok(rows: pa.Table, ok: pa.Table | None) -> dict[tuple[str, str], int]:
    out = _max_ok(rows, "period")
    if ok is not None:
        out |= {(r["location"], r["period"]): int(r["ok_images"]) for r in ok.to_pylist()}
    return out


def compare_periods(
    current: pa.Table,
    previous: pa.Table,
    params: TrendParams | None = None,
    ok: pa.Table | None = None,
) -> pa.Table:
    """Compare each (location, period) of ``current`` with the N periods before it.

    N is ``params.weekly_window`` for weeks, ``params.monthly_window`` for months and
    ``params.window_days`` for days; the kind of period is read from the keys.

    Args:
        current: :func:`rollup` rows of the periods judged.
        previous: :func:`rollup` rows of earlier periods (extra periods are ignored).
        params: Windows and thresholds.
        ok: Optional :func:`ok_counts` of both, for periods whose ok images show no label.

    Returns:
        A table with :data:`COMPARED_PERIOD_SCHEMA`.
    """
    params = params or TrendParams()
    units = sorted(
        {(r["location"], r["period"]) for r in current.select(["location", "period"]).to_pylist()}
    )
    if ok is not None:  # also units whose ok images show no label, in the periods judged
        periods = {p for _, p in units}
        extra = {(r["location"], r["period"]) for r in ok.to_pylist() if r["period"] in periods}
        units = sorted(set(units) | extra)
    ok_map = _period_ok(previous, ok) | _period_ok(current, ok)
    links = [
        (loc, p, prev)
        for loc, p in units
        for prev in previous_periods(p, params.window(period_kind(p)))
    ]
    cur_ok = _ok_table(
        [(loc, p, ok_map.get((loc, p), 0)) for loc, p in units], ("location", "g"), pa.string()
    )
    hist_units = sorted({(loc, q) for loc, _, q in links})
    hist_ok = _ok_table(
        [(loc, q, ok_map.get((loc, q), 0)) for loc, q in hist_units], ("hloc", "unit"), pa.string()
    )
    mapping = pa.table(
        {
            "location": pa.array([x[0] for x in links], pa.string()),
            "g": pa.array([x[1] for x in links], pa.string()),
            "hloc": pa.array([x[0] for x in links], pa.string()),
            "unit": pa.array([x[2] for x in links], pa.string()),
        }
    )
    cur = current.select(["location", "period", *_COUNT_COLUMNS]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS]
    )
    hist = previous.select(["location", "period", *_KEY, "images"]).rename_columns(
        ["hloc", "unit", *_KEY, "images"]
    )
    result = _compare(
        cur,
        cur_ok,
        hist,
        hist_ok,
        mapping,
        _trend_classifier(params),
        "trend",
        TRENDS,
    )
    return _select(
        _with_period_columns(result, current, ok),
        COMPARED_PERIOD_SCHEMA,
        {"g": "period", "baseline_units": "baseline_periods"},
    )


def _with_period_columns(result: pa.Table, current: pa.Table, ok: pa.Table | None) -> pa.Table:
    """Add ``period_start`` and ``days`` of each row's (location, period)."""
    days: dict[tuple[str, str], int] = {}
    for source in (current, ok):
        if source is not None and source.num_rows:
            for r in source.select(["location", "period", "days"]).to_pylist():
                days[(r["location"], r["period"])] = int(r["days"])
    keys = list(
        zip(result.column("location").to_pylist(), result.column("g").to_pylist(), strict=True)
    )
    return result.append_column(
        "period_start", pa.array([period_start(p) for _, p in keys], pa.date32())
    ).append_column("days", pa.array([days.get(k, 0) for k in keys], pa.int32()))


# --- a location against all others ----------------------------------------------------------

COMPARED_LOCATIONS_SCHEMA = pa.schema(
    [
        *ROLLUP_SCHEMA,
        pa.field("others_images", pa.int64(), nullable=False),
        pa.field("others_ok_images", pa.int64(), nullable=False),
        pa.field("others_share", pa.float64()),
        pa.field("other_locations", pa.int32(), nullable=False),  # other locations with data
        *TEST_FIELDS,
        pa.field(
            "comparison", pa.string(), nullable=False
        ),  # higher | lower | similar | insufficient
    ]
)
"""Columns of :func:`compare_locations`."""


def compare_locations(
    period_counts: pa.Table, params: TrendParams | None = None, ok: pa.Table | None = None
) -> pa.Table:
    """Compare each location's share of a period with the pooled share of all other locations.

    Labels seen elsewhere but not at a location appear there with ``images = 0``. The test and
    Benjamini-Hochberg (per location-period) are those of :func:`compare_with_baseline`;
    ``insufficient`` when the location has fewer than ``min_images`` ok images or the others
    fewer than ``min_baseline_images``.

    Args:
        period_counts: :func:`rollup` rows of one or more periods, all locations.
        params: Thresholds.
        ok: Optional :func:`ok_counts`, for locations whose ok images show no label.

    Returns:
        A table with :data:`COMPARED_LOCATIONS_SCHEMA`.
    """
    params = params or TrendParams()
    ok_map = _period_ok(period_counts, ok)
    units = sorted(ok_map)
    links = [(loc, p, other) for loc, p in units for other, q in units if q == p and other != loc]
    ok_table = _ok_table(
        [(loc, p, n) for (loc, p), n in ok_map.items()], ("hloc", "unit"), pa.string()
    )
    mapping = pa.table(
        {
            "location": pa.array([x[0] for x in links], pa.string()),
            "g": pa.array([x[1] for x in links], pa.string()),
            "hloc": pa.array([x[2] for x in links], pa.string()),
            "unit": pa.array([x[1] for x in links], pa.string()),
        }
    )
    cur = period_counts.select(["location", "period", *_COUNT_COLUMNS]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS]
    )
    hist = period_counts.select(["location", "period", *_KEY, "images"]).rename_columns(
        ["hloc", "unit", *_KEY, "images"]
    )

    def classify(v: dict[str, np.ndarray]) -> np.ndarray:
        return classify_comparison(
            v["delta"],
            v["p_adjusted"],
            v["ok_images"],
            v["baseline_ok_images"],
            alpha=params.alpha,
            min_delta=params.min_delta,
            min_images=params.min_images,
            min_others_images=params.min_baseline_images,
        )

    result = _compare(
        cur,
        ok_table.rename_columns(["location", "g", "ok_images"]),
        hist,
        ok_table,
        mapping,
        classify,
        "comparison",
        COMPARISONS,
    )
    rename = {
        "g": "period",
        "baseline_images": "others_images",
        "baseline_ok_images": "others_ok_images",
        "baseline_share": "others_share",
        "baseline_units": "other_locations",
    }
    result = _with_period_columns(result, period_counts, ok)
    return _select(result, COMPARED_LOCATIONS_SCHEMA, rename)


# --- one call for the pipeline ---------------------------------------------------------------


def trends_for_day(
    images: pa.Table,
    detections: pa.Table,
    day: date,
    params: TrendParams | None = None,
    include_scenes: bool = True,
) -> pa.Table:
    """Daily counts of ``day`` compared with its window, from image-level rows of the window.

    Args:
        images: ``images`` rows of one location for ``day`` and the window days before it.
        detections: The matching ``detections`` rows.
        day: The day judged.
        params: Window and thresholds.
        include_scenes: Whether to add the scene rows.

    Returns:
        A table with :data:`COMPARED_DAILY_SCHEMA`.
    """
    params = params or TrendParams()
    daily = rollup(images, detections, "day", include_scenes)
    daily = daily.append_column("date", daily.column("period_start"))
    on_day = pc.equal(daily.column("date"), pa.scalar(day, pa.date32()))
    ok = ok_counts(images, "day")
    ok = pa.table(
        {
            "location": ok.column("location"),
            "date": ok.column("period_start"),
            "ok_images": ok.column("ok_images"),
        }
    )
    return compare_with_baseline(
        daily.filter(on_day), daily.filter(pc.invert(on_day)), ok, day, params
    )
