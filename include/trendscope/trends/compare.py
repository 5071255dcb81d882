"""What is trending: the front ends of the comparison engine.

* :func:`compare_with_baseline`: one location-day against the ``window_days`` days before it,
  with the weekly rhythm when the window allows it.
* :func:`compare_periods`: a week or month against the ``weekly_window``/``monthly_window``
  periods before it (rows from :func:`~trendscope.trends.counting.rollup`).
* :func:`compare_locations`: a location's period against each other location.
* :func:`trends_for_day`: counts and comparison of one day from image-level rows.

The model and the test are in :mod:`trendscope.trends.stats`, the engine that lines rows up
with their baseline in :mod:`trendscope.trends.engine`. Rows are sorted by location and
day/period, then trend (``rising``, ``new``, ``falling``, ``stable``, ``insufficient``), then
``p_adjusted`` (nulls last), kind, label, fine label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import ROLLUP_FIELDS, TEST_FIELDS, TRENDS_DAILY, TRENDS_WEEKLY
from trendscope.trends.calendar import (
    Period,
    period_kind,
    period_start,
    previous_periods,
    window_days,
)
from trendscope.trends.counting import daily_counts_with_ok
from trendscope.trends.engine import Classifier, compare_units, shared_connection
from trendscope.trends.series import fine_series, model_changes
from trendscope.trends.stats import (
    COMPARISONS,
    TRENDS,
    ModelParams,
    Rules,
    classify_comparison,
    classify_trend,
)


@dataclass(frozen=True)
class TrendParams:
    """Knobs of the trend comparison (mirrors ``TrendsConfig``; see :meth:`from_config`).

    Attributes:
        window_days: Trailing baseline window of a day, in days before it.
        weekly_window: Previous ISO weeks a week is compared with.
        monthly_window: Previous months a month is compared with.
        The rest: see :class:`~trendscope.trends.stats.Rules` and
        :class:`~trendscope.trends.stats.ModelParams`.
    """

    window_days: int = 28
    weekly_window: int = 4
    monthly_window: int = 3
    min_images: int = 20
    min_baseline_images: int = 50
    alpha: float = 0.05
    min_delta: float = 0.02
    min_authors: int = 5
    max_top_author_share: float = 0.5
    new_min_images: int = 5
    new_min_authors: int = 3
    false_positive_rate: float = 0.005
    min_dispersion_units: int = 7
    default_icc: float = 0.01
    weekly_rhythm: bool = True
    weekly_min_weeks: int = 3
    recent_days: int = 4

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

    def _pick(self, cls: type) -> Any:
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    @property
    def model(self) -> ModelParams:
        """The model-of-variation part."""
        return self._pick(ModelParams)

    @property
    def rules(self) -> Rules:
        """The classification part."""
        return self._pick(Rules)


_KEY = ("kind", "label", "fine_label")
_AUTHOR_COLUMNS = ("authors", "top_author_share", "author_entropy", "design_effect")
_COUNT_COLUMNS = (*_KEY, "images", "objects", "rank", *_AUTHOR_COLUMNS)
_OK_COLUMNS = ("ok_images", "ok_authors", "evidence")


def _select(table: pa.Table, schema: pa.Schema, rename: Mapping[str, str]) -> pa.Table:
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    return table.select(schema.names).cast(schema)


_HIST_COLUMNS = (*_KEY, "images", "authors", "design_effect")


def _baseline_units(rows: pa.Table, unit: str) -> pa.Table:
    """Count rows as the engine's baseline units: ``hloc, unit`` and the label's counts."""
    columns = ["location", unit, *_HIST_COLUMNS]
    return rows.select(columns).rename_columns(["hloc", "unit", *_HIST_COLUMNS])


def _trend_classifier(params: TrendParams) -> Classifier:
    rules = params.rules

    def classify(v: dict[str, np.ndarray]) -> np.ndarray:
        return classify_trend(
            delta=v["delta"],
            p_adjusted=v["p_adjusted"],
            ok_images=v["ok_images"],
            baseline_ok_images=v["baseline_ok_images"],
            images=v["images"],
            baseline_images=v["baseline_images"],
            authors=v["authors"],
            top_author_share=v["top_author_share"],
            rules=rules,
        )

    return classify


def _with_columns(table: pa.Table, columns: Mapping[str, pa.DataType]) -> pa.Table:
    """``table`` with any of ``columns`` it lacks added as nulls (counts built without authors)."""
    for name, type_ in columns.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, type_))
    return table


_AUTHOR_TYPES = {
    "authors": pa.int64(),
    "ok_authors": pa.int64(),
    "top_author_share": pa.float64(),
    "author_entropy": pa.float64(),
    "evidence": pa.string(),
    "design_effect": pa.float64(),
}


def _unit_ok(rows: pa.Table, g: str) -> dict[tuple[str, Any], dict[str, Any]]:
    """Per (location, unit): ``ok_images``, ``ok_authors``, ``evidence`` from count rows."""
    if rows.num_rows == 0:
        return {}
    rows = _with_columns(rows, _AUTHOR_TYPES)
    agg = rows.group_by(["location", g]).aggregate(
        [("ok_images", "max"), ("ok_authors", "max"), ("evidence", "max")]
    )
    return {
        (r["location"], r[g]): {
            "ok_images": r["ok_images_max"],
            "ok_authors": r["ok_authors_max"],
            "evidence": r["evidence_max"],
        }
        for r in agg.to_pylist()
    }


def _ok_table(
    units: list[tuple[str, Any]],
    ok: Mapping[tuple[str, Any], Mapping[str, Any]],
    names: tuple[str, str],
    g_type: pa.DataType,
    weekday: bool = False,
) -> pa.Table:
    """One row per unit with its ok counts (0 where unknown), as the engine expects."""
    values = [ok.get(u, {}) for u in units]
    columns = {
        names[0]: pa.array([u[0] for u in units], pa.string()),
        names[1]: pa.array([u[1] for u in units], g_type),
        "ok_images": pa.array([int(v.get("ok_images") or 0) for v in values], pa.int64()),
        "ok_authors": pa.array([v.get("ok_authors") for v in values], pa.int64()),
        "evidence": pa.array([v.get("evidence") for v in values], pa.string()),
        "weekday": pa.array([u[1].weekday() if weekday else -1 for u in units], pa.int64()),
    }
    return pa.table(columns)


def _mapping(links: list[tuple[str, Any, str, Any, int]], g_type: pa.DataType) -> pa.Table:
    """``location, g, hloc, unit, pos, weekday`` rows from ``(loc, g, hloc, unit, pos)``."""
    return pa.table(
        {
            "location": pa.array([x[0] for x in links], pa.string()),
            "g": pa.array([x[1] for x in links], g_type),
            "hloc": pa.array([x[2] for x in links], pa.string()),
            "unit": pa.array([x[3] for x in links], g_type),
            "pos": pa.array([x[4] for x in links], pa.int64()),
            "weekday": pa.array(
                [x[3].weekday() if isinstance(x[3], date) else -1 for x in links], pa.int64()
            ),
        }
    )


def _ok_overrides(
    ok_by_day: Mapping[date, int] | pa.Table | None, locations: list[str]
) -> dict[tuple[str, date], dict[str, Any]]:
    if ok_by_day is None:
        return {}
    if isinstance(ok_by_day, pa.Table):
        out = {}
        for r in ok_by_day.to_pylist():
            for loc in [r["location"]] if r.get("location") else locations:
                out[(loc, r["date"])] = {k: r.get(k) for k in _OK_COLUMNS}
        return out
    return {(loc, d): {"ok_images": int(n)} for d, n in ok_by_day.items() for loc in locations}


# --- one location-day against its trailing window ------------------------------------------

COMPARED_DAILY_SCHEMA = pa.schema([f for f in TRENDS_DAILY.schema if f.name != "weighted_share"])
"""Columns of :func:`compare_with_baseline`: the ``trends_daily`` columns plus the comparison
(``weighted_share`` is added by the trends step when configured)."""


def compare_with_baseline(
    today: pa.Table,
    history: pa.Table,
    ok_by_day: Mapping[date, int] | pa.Table | None,
    day: date,
    params: TrendParams | None = None,
) -> pa.Table:
    """Compare a location-day's label shares with its trailing window.

    Args:
        today: ``trends_daily`` count rows of ``day`` (at least location, date, kind, label,
            fine_label, images, objects, ok_images, share, rank; the author columns and model
            hashes are used when present, else authors are taken to be the images).
        history: Count rows of earlier days of the same location; rows outside
            ``[day - window_days, day - 1]`` are ignored.
        ok_by_day: Ok images per day (a ``{date: n}`` dict, or a table with ``date``,
            ``ok_images`` and optionally ``ok_authors``, ``evidence``, ``location``). It is
            needed for days whose ok images show no label (no rows in ``history``); days not in
            it fall back to the values of their rows, and days in neither have no data.
        day: The day compared.
        params: Window, model and thresholds.

    Returns:
        A table with :data:`COMPARED_DAILY_SCHEMA`: today's rows plus the labels seen in the
        window but not today, rising first (by ``p_adjusted``), then new, falling, stable,
        insufficient.
    """
    params = params or TrendParams()
    today = _with_columns(today, _AUTHOR_TYPES)
    history = _with_columns(history, _AUTHOR_TYPES)
    today = today.filter(pc.equal(today.column("date"), pa.scalar(day, pa.date32())))
    window = window_days(day, params.window_days)
    if history.num_rows:
        in_window = pc.is_in(history.column("date"), pa.array(window, pa.date32()))
        history = history.filter(in_window)
    locations = sorted(set(today.column("location").to_pylist())) or sorted(
        set(history.column("location").to_pylist())
    )
    if isinstance(ok_by_day, pa.Table) and "location" in ok_by_day.column_names and not locations:
        locations = sorted(set(ok_by_day.column("location").to_pylist()))

    ok = _unit_ok(history, "date") | _unit_ok(today, "date") | _ok_overrides(ok_by_day, locations)
    cur_ok = _ok_table([(loc, day) for loc in locations], ok, ("location", "g"), pa.date32(), True)
    hist_ok = _ok_table(
        [(loc, d) for loc in locations for d in window], ok, ("hloc", "unit"), pa.date32()
    )
    links = [(loc, day, loc, d, i) for loc in locations for i, d in enumerate(window)]
    passthrough = tuple(
        c for c in ("detector_sha256", "classifier_sha256") if c in today.column_names
    )
    cur = today.select(["location", "date", *_COUNT_COLUMNS, *passthrough]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS, *passthrough]
    )
    hist = _baseline_units(history, "date")
    result = compare_units(
        cur,
        cur_ok,
        hist,
        hist_ok,
        _mapping(links, pa.date32()),
        _trend_classifier(params),
        "trend",
        TRENDS,
        params.model,
        passthrough,
        recent_days=True,
    )
    for name in ("detector_sha256", "classifier_sha256"):
        if name not in result.column_names:
            result = result.append_column(name, pa.nulls(result.num_rows, pa.string()))
    return _select(result, COMPARED_DAILY_SCHEMA, {"g": "date", "baseline_units": "baseline_days"})


# --- periods against previous periods -------------------------------------------------------

COMPARED_PERIOD_SCHEMA = TRENDS_WEEKLY.schema
"""Columns of :func:`compare_periods`: the rollup columns plus the comparison."""


def _period_ok(rows: pa.Table, ok: pa.Table | None) -> dict[tuple[str, str], dict[str, Any]]:
    out = _unit_ok(rows, "period")
    if ok is not None:
        out |= {
            (r["location"], r["period"]): {k: r[k] for k in _OK_COLUMNS} for r in ok.to_pylist()
        }
    return out


def compare_periods(
    current: pa.Table,
    previous: pa.Table,
    params: TrendParams | None = None,
    ok: pa.Table | None = None,
) -> pa.Table:
    """Compare each (location, period) of ``current`` with the N periods before it.

    N is ``params.weekly_window`` for weeks, ``params.monthly_window`` for months and
    ``params.window_days`` for days; the kind of period is read from the keys. Periods have no
    weekly rhythm; with fewer than ``min_dispersion_units`` earlier periods the dispersion is
    the conservative default.

    Args:
        current: :func:`~trendscope.trends.counting.rollup` rows of the periods judged.
        previous: Rollup rows of earlier periods (extra periods are ignored).
        params: Windows, model and thresholds.
        ok: Optional :func:`~trendscope.trends.counting.ok_counts` of both, for periods whose
            ok images show no label.

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
        (loc, p, loc, prev, i)
        for loc, p in units
        for i, prev in enumerate(previous_periods(p, params.window(period_kind(p))))
    ]
    cur_ok = _ok_table(units, ok_map, ("location", "g"), pa.string())
    hist_units = sorted({(loc, q) for loc, _, _, q, _ in links})
    hist_ok = _ok_table(hist_units, ok_map, ("hloc", "unit"), pa.string())
    current = _with_columns(current, _AUTHOR_TYPES)
    previous = _with_columns(previous, _AUTHOR_TYPES)
    cur = current.select(["location", "period", *_COUNT_COLUMNS]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS]
    )
    hist = _baseline_units(previous, "period")
    result = compare_units(
        cur,
        cur_ok,
        hist,
        hist_ok,
        _mapping(links, pa.string()),
        _trend_classifier(params),
        "trend",
        TRENDS,
        params.model,
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
        *ROLLUP_FIELDS,
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
    """Compare each location's share of a period with the other locations.

    Each other location is a baseline unit, so the spread between locations is the ordinary
    variation a location is judged against (the conservative default below
    ``min_dispersion_units`` other locations). Labels seen elsewhere but not at a location
    appear there with ``images = 0``. ``insufficient`` when the location has fewer than
    ``min_images`` ok images or the others fewer than ``min_baseline_images``.

    Args:
        period_counts: Rollup rows of one or more periods, all locations.
        params: Model and thresholds.
        ok: Optional :func:`~trendscope.trends.counting.ok_counts`, for locations whose ok
            images show no label.

    Returns:
        A table with :data:`COMPARED_LOCATIONS_SCHEMA`.
    """
    params = params or TrendParams()
    ok_map = _period_ok(period_counts, ok)
    units = sorted(ok_map)
    links = []
    for loc, p in units:
        others = [other for other, q in units if q == p and other != loc]
        links += [(loc, p, other, p, i) for i, other in enumerate(others)]
    period_counts = _with_columns(period_counts, _AUTHOR_TYPES)
    cur = period_counts.select(["location", "period", *_COUNT_COLUMNS]).rename_columns(
        ["location", "g", *_COUNT_COLUMNS]
    )
    hist = _baseline_units(period_counts, "period")
    rules = params.rules

    def classify(v: dict[str, np.ndarray]) -> np.ndarray:
        return classify_comparison(
            delta=v["delta"],
            p_adjusted=v["p_adjusted"],
            ok_images=v["ok_images"],
            others_ok_images=v["baseline_ok_images"],
            rules=rules,
        )

    result = compare_units(
        cur,
        _ok_table(units, ok_map, ("location", "g"), pa.string()),
        hist,
        _ok_table(units, ok_map, ("hloc", "unit"), pa.string()),
        _mapping(links, pa.string()),
        classify,
        "comparison",
        COMPARISONS,
        params.model,
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


def trends_for_days(
    images: pa.Table,
    detections: pa.Table,
    days: list[date],
    params: TrendParams | None = None,
    include_scenes: bool = True,
) -> dict[date, pa.Table]:
    """Each of ``days`` compared with its window, counting the image-level rows once.

    Args:
        images: ``images`` rows of one location for ``days`` and the window days before them.
        detections: The matching ``detections`` rows.
        days: The days judged.
        params: Window, model and thresholds.
        include_scenes: Whether to add the scene rows.

    Returns:
        ``{day: table}``, each with :data:`COMPARED_DAILY_SCHEMA`.
    """
    params = params or TrendParams()
    with shared_connection() as con:  # one connection for the counts and every comparison
        counts, ok = daily_counts_with_ok(images, detections, include_scenes, con)
        ok = pa.table(
            {
                "location": ok.column("location"),
                "date": ok.column("period_start"),
                **{c: ok.column(c) for c in _OK_COLUMNS},
            }
        )
        series = fine_series(detections)
        out = {}
        for day in days:
            on_day = pc.equal(counts.column("date"), pa.scalar(day, pa.date32()))
            today, history = counts.filter(on_day), counts.filter(pc.invert(on_day))
            changes = model_changes(series, day, window_days(day, params.window_days))
            if changes:  # a target's fine model changed in the window: new series
                out[day] = _compare_per_model(today, history, ok, day, params, changes)
            else:
                out[day] = compare_with_baseline(today, history, ok, day, params)
    return out


def _fine_rows_of(table: pa.Table, location: str, label: str) -> pa.Array:
    return pc.and_(
        pc.and_(
            pc.equal(table.column("location"), location), pc.equal(table.column("label"), label)
        ),
        pc.and_(pc.equal(table.column("kind"), "object"), pc.is_valid(table.column("fine_label"))),
    )


def _compare_per_model(
    today: pa.Table,
    history: pa.Table,
    ok: pa.Table,
    day: date,
    params: TrendParams,
    changes: Mapping[tuple[str, str], list[date]],
) -> pa.Table:
    """:func:`compare_with_baseline`, with the fine rows of each target in ``changes`` judged
    only against the window days its current fine model labelled (:mod:`.series`)."""
    parts = _split_by_model(
        today,
        history,
        ok,
        "date",
        pa.scalar(day, pa.date32()),
        changes,
        lambda t, h, o: compare_with_baseline(t, h, o, day, params),
    )
    return _ordered(parts, "date", COMPARED_DAILY_SCHEMA)


def compare_periods_per_model(
    current: pa.Table,
    previous: pa.Table,
    ok: pa.Table,
    key: str,
    params: TrendParams,
    changes: Mapping[tuple[str, str], list[str]],
) -> pa.Table:
    """:func:`compare_periods` of period ``key``, with the fine rows of each target in
    ``changes`` judged only against the earlier periods its current fine model labelled
    throughout (:func:`~trendscope.trends.series.period_series`)."""
    parts = _split_by_model(
        current,
        previous,
        ok,
        "period",
        pa.scalar(key, pa.string()),
        changes,
        lambda c, p, o: compare_periods(c, p, params, o),
    )
    return _ordered(parts, "period", COMPARED_PERIOD_SCHEMA)


def _split_by_model(
    current: pa.Table,
    history: pa.Table,
    ok: pa.Table,
    unit: str,
    judged: pa.Scalar,
    changes: Mapping[tuple[str, str], list[Any]],
    compare: Any,
) -> list[pa.Table]:
    """``compare(current, history, ok)`` of everything but the changed targets' fine rows, and
    of each changed target's fine rows against the units (days or periods) of its model."""
    rest_current, rest_history, parts = current, history, []
    for (location, label), same_model in changes.items():
        mine_current = _fine_rows_of(rest_current, location, label)
        mine_history = _fine_rows_of(rest_history, location, label)
        units = pa.array([*same_model, judged.as_py()], judged.type)
        at_location = pc.equal(ok.column("location"), location)
        parts.append(
            compare(
                rest_current.filter(mine_current),
                rest_history.filter(
                    pc.and_(mine_history, pc.is_in(rest_history.column(unit), units))
                ),
                ok.filter(pc.and_(at_location, pc.is_in(ok.column(unit), units))),
            )
        )
        rest_current = rest_current.filter(pc.invert(mine_current))
        rest_history = rest_history.filter(pc.invert(mine_history))
    parts.insert(0, compare(rest_current, rest_history, ok))
    return parts


def _ordered(parts: list[pa.Table], unit: str, schema: pa.Schema) -> pa.Table:
    """The parts as one table, in the order of the comparison's own output."""
    con = duckdb.connect()
    try:
        con.register("r", pa.concat_tables([p.cast(schema) for p in parts]))
        return (
            con.sql(
                f"SELECT * FROM r ORDER BY location, {unit}, list_position($order, trend), "
                "p_adjusted NULLS LAST, kind, label, fine_label NULLS FIRST",
                params={"order": list(TRENDS)},
            )
            .to_arrow_table()
            .cast(schema)
        )
    finally:
        con.close()


def trends_for_day(
    images: pa.Table,
    detections: pa.Table,
    day: date,
    params: TrendParams | None = None,
    include_scenes: bool = True,
) -> pa.Table:
    """Daily counts of ``day`` compared with its window (see :func:`trends_for_days`)."""
    return trends_for_days(images, detections, [day], params, include_scenes)[day]
