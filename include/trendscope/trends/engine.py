"""The comparison engine: each current row against its baseline units, through the model.

One engine serves every comparison (a day against its window, a period against earlier
periods, a location against the others). It lines up each current row (a label of one unit)
with that label's counts on each of its baseline units, hands the counts to
:func:`~trendscope.trends.stats.baseline_model` and
:func:`~trendscope.trends.stats.predictive_test`, adjusts the p-values per family (one current
unit) and names each row with the caller's classifier.

Baseline rules:

* A baseline unit without ok images carries no information: it adds nothing to
  ``baseline_ok_images`` and is not counted in ``baseline_units``. A unit *with* ok images but
  no row for a label adds 0 for that label.
* Labels seen in the baseline but absent now are reported too, with ``images = objects =
  authors = share = 0``, and tested like any other row, so a label that disappears can fall.
  Their ``rank`` continues after the ranks of the labels present, ordered by name.
* When the current unit has no ok images nothing is reported for it (there is no share).
* p-values are adjusted (Benjamini-Hochberg) over the rows of one current unit; its colour rows
  (kind ``colour``) form a family of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import duckdb
import numpy as np
import pyarrow as pa

from trendscope.trends.stats import (
    ModelParams,
    baseline_model,
    benjamini_hochberg,
    combine,
    predictive_test,
    recent_test,
)

Classifier = Callable[[dict[str, np.ndarray]], np.ndarray]

_SHARED: ContextVar[duckdb.DuckDBPyConnection | None] = ContextVar("shared_duckdb", default=None)


@contextmanager
def shared_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB connection for the block: :func:`compare_units` runs on cursors of it.

    A fresh in-memory connection costs about 20 ms, a cursor of an open one next to nothing;
    callers can pass the connection on (e.g. to :mod:`~trendscope.trends.counting`).
    """
    con = duckdb.connect()
    token = _SHARED.set(con)
    try:
        yield con
    finally:
        _SHARED.reset(token)
        con.close()


def _connect() -> duckdb.DuckDBPyConnection:
    """A cursor of the :func:`shared_connection` in force, else a new connection."""
    shared = _SHARED.get()
    return shared.cursor() if shared is not None else duckdb.connect()


_SQL = """
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
           coalesce(c.authors, c.images, 0) AS authors,
           coalesce(n.ok_authors, n.ok_images) AS ok_authors,
           -- counts without author columns: every image its own author
           coalesce(c.top_author_share, 1.0 / c.images) AS top_author_share,
           coalesce(c.author_entropy, log2(c.images)) AS author_entropy,
           coalesce(n.evidence, 'images') AS evidence,
           coalesce(c.design_effect, 1.0) AS design_effect,
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
       -- colour rows are their own family: they ask which colours of a label rise, and
       -- must not dilute the labels' own tests
       dense_rank() OVER (ORDER BY location, g, kind = 'colour') AS family,
       (row_number() OVER () - 1)::BIGINT AS row_id
FROM joined
WINDOW rank_group AS (
    PARTITION BY location, g, kind, CASE WHEN fine_label IS NULL THEN NULL ELSE label END,
                 fine_label IS NULL)
"""

_LONG_SQL = """
SELECT j.row_id, m.pos, m.weekday, o.ok_images AS n, coalesce(h.images, 0) AS x,
       coalesce(h.design_effect, 1.0) AS deff
FROM joined j
JOIN mapping m ON m.location = j.location AND m.g = j.g
JOIN hist_ok o ON o.hloc = m.hloc AND o.unit = m.unit AND o.ok_images > 0
LEFT JOIN hist h ON h.hloc = m.hloc AND h.unit = m.unit AND h.kind = j.kind
     AND h.label = j.label AND h.fine_label IS NOT DISTINCT FROM j.fine_label
"""

_SORT_SQL = """
SELECT * EXCLUDE (family, row_id) FROM result
ORDER BY location, g, list_position($order, {label}), p_adjusted NULLS LAST,
         kind, label, fine_label NULLS FIRST
"""


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=~np.isfinite(values))


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _dense(long: pa.Table, rows: int) -> dict[str, np.ndarray]:
    """``(rows, units)`` matrices of the long baseline table (0 where a unit has no data)."""
    row, pos = _column(long, "row_id").astype(np.int64), _column(long, "pos").astype(np.int64)
    width = int(pos.max()) + 1 if pos.size else 1
    out = {}
    for name in ("x", "n", "deff"):
        m = np.zeros((rows, width))
        m[row, pos] = _column(long, name).astype(np.float64)
        out[name] = m
    wd = np.full((rows, width), -1, dtype=np.int64)
    wd[row, pos] = _column(long, "weekday").astype(np.int64)
    out["weekday"] = wd
    return out


def compare_units(
    cur: pa.Table,
    cur_ok: pa.Table,
    hist: pa.Table,
    hist_ok: pa.Table,
    mapping: pa.Table,
    classify: Classifier,
    label_column: str,
    order: Sequence[str],
    model: ModelParams,
    passthrough: Sequence[str] = (),
    recent_days: bool = False,
) -> pa.Table:
    """Test each current row against its baseline units.

    Args:
        cur: ``location, g, kind, label, fine_label, images, objects, rank, authors,
            top_author_share, author_entropy, design_effect`` (+ passthrough) of the current
            units.
        cur_ok: ``location, g, ok_images, ok_authors, evidence, weekday`` of every current
            unit (``weekday`` 0 = Monday, -1 when units are not days).
        hist: ``hloc, unit, kind, label, fine_label, images, authors, design_effect`` of the
            baseline units.
        hist_ok: ``hloc, unit, ok_images, ok_authors`` of the baseline units.
        mapping: ``location, g, hloc, unit, pos, weekday``: the baseline units of each current
            unit, ``pos`` numbering them from 0 and ``weekday`` as in ``cur_ok``.
        classify: Trend name per row from the numeric columns.
        label_column: Name of the trend column.
        order: Trend names in sort order.
        model: The model of ordinary variation.
        passthrough: Columns of ``cur`` copied through (absent rows take any value of the unit).
        recent_days: Baseline units are days, oldest first (``pos``), so the last
            ``model.recent_days`` days can be tested pooled (:func:`recent_test`).

    Returns:
        Rows with ``baseline_images, baseline_ok_images, baseline_share, baseline_units,
        expected_share, weekday_effect, dispersion, statistic, delta, lift, p_value,
        p_adjusted`` and the trend column added.
    """
    extra = "".join(
        f"coalesce(c.{c}, max(c.{c}) OVER (PARTITION BY k.location, k.g)) AS {c}, "
        for c in passthrough
    )
    con = _connect()
    try:
        for name, table in (
            ("cur", cur),
            ("cur_ok", cur_ok),
            ("hist", hist),
            ("hist_ok", hist_ok),
            ("mapping", mapping),
        ):
            con.register(name, table)
        # window functions do not keep row order: index everything by row_id
        joined = con.sql(_SQL.replace("{passthrough}", extra)).to_arrow_table().sort_by("row_id")
        con.register("joined", joined)
        long = con.sql(_LONG_SQL).to_arrow_table()
        rows = joined.num_rows
        dense = _dense(long, rows)
        today = con.sql(
            "SELECT coalesce(o.weekday, -1) AS weekday FROM joined j "
            "LEFT JOIN cur_ok o ON o.location = j.location AND o.g = j.g ORDER BY j.row_id"
        ).to_arrow_table()
        today_wd = _column(today, "weekday").astype(np.int64)
        weekday = dense["weekday"] if (today_wd >= 0).any() else None

        base = baseline_model(dense["x"], dense["n"], weekday, today_wd, model)
        col = {
            name: _column(joined, name).astype(np.float64)
            for name in (
                "images",
                "ok_images",
                "authors",
                "ok_authors",
                "baseline_images",
                "baseline_ok_images",
                "top_author_share",
                "design_effect",
            )
        }
        # evidence counted per author: today's counts shrink by the design effect
        deff = np.maximum(col["design_effect"], 1.0)
        statistic, p_day = predictive_test(
            col["images"] / deff, col["ok_images"] / deff, base, model.false_positive_rate
        )
        recent, p_recent = np.full(rows, np.nan), np.full(rows, np.nan)
        if recent_days:
            recent, p_recent = recent_test(
                dense["x"],
                dense["n"],
                dense["deff"],
                weekday,
                today_wd if weekday is not None else None,
                col["images"],
                col["ok_images"],
                deff,
                model,
            )
        p = combine(p_day, p_recent)
        images, ok = col["images"], col["ok_images"]
        b_img, b_ok = col["baseline_images"], col["baseline_ok_images"]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(ok > 0, images / ok, np.nan)
            b_share = np.where(b_ok > 0, b_img / b_ok, np.nan)
            has_effect = np.isfinite(base.weekday_effect)
            expected = np.where(has_effect, base.expected, b_share)
            effect = np.where(has_effect, expected - b_share, np.nan)
            delta = share - expected
            lift = np.where(expected > 0, share / expected, np.nan)
        p_adj = benjamini_hochberg(p, _column(joined, "family"))
        numbers = col | {"delta": delta, "p_adjusted": p_adj}
        trend = classify(numbers)
        result = joined
        for name, values in (
            ("baseline_share", b_share),
            ("expected_share", expected),
            ("weekday_effect", effect),
            ("dispersion", np.sqrt(base.tau2)),
            ("statistic", statistic),
            ("recent_statistic", recent),
            ("delta", delta),
            ("lift", lift),
            ("p_value", p),
            ("p_adjusted", p_adj),
        ):
            result = result.append_column(name, _nullable(values))
        result = result.append_column(label_column, pa.array(trend, type=pa.string()))
        con.register("result", result)
        return con.sql(
            _SORT_SQL.replace("{label}", label_column), params={"order": list(order)}
        ).to_arrow_table()
    finally:
        con.close()
