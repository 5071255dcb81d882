"""Counting: how many ok images and authors show each label, per location and day/week/month.

Only ``ok`` images count. ``images`` and ``ok_images`` are distinct image ids over the whole
period (not sums of daily counts); ``objects`` counts detections. Object rows come as label
totals (``fine_label`` null) plus one row per fine label, and scenes (``images.scene``) as kind
``scene``.

Authors are the unit of evidence for trends: one account posting 60 umbrella photos is one
author showing an umbrella. An image whose author is unknown (null) counts as an author of its
own, so a day without any known author is counted by images, and ``evidence`` says which.
``top_author_share`` is the share of the label's images that its most active author posted,
``author_entropy`` the Shannon entropy (bits) of the label's images over authors, and
``design_effect`` how much the clustering of images by author widens the share's sampling
variance (1 when every author posts one image; one author's burst makes it large).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import DAILY_COUNTS, ROLLUP_FIELDS, conform
from trendscope.trends.calendar import Period

ROLLUP_SCHEMA = pa.schema(ROLLUP_FIELDS)
"""Columns of :func:`rollup`."""

EVIDENCE_AUTHORS = "authors"
EVIDENCE_IMAGES = "images"

OK_COUNTS_SCHEMA = pa.schema(
    [
        pa.field("location", pa.string(), nullable=False),
        pa.field("period", pa.string(), nullable=False),
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("ok_images", pa.int64(), nullable=False),
        pa.field("ok_authors", pa.int64(), nullable=False),
        pa.field("evidence", pa.string(), nullable=False),
        pa.field("days", pa.int32(), nullable=False),
    ]
)
"""Columns of :func:`ok_counts`."""

_PERIOD_SQL = {
    "day": ("strftime(date, '%Y-%m-%d')", "date"),
    "week": ("strftime(date, '%G-W%V')", "date_trunc('week', date)::DATE"),
    "month": ("strftime(date, '%Y-%m')", "date_trunc('month', date)::DATE"),
}

_OK_CTE = """
ok AS (
    SELECT location, date, image_id, scene, {key} AS period, {start} AS period_start,
           coalesce(author, '\x00image:' || image_id) AS unit, author IS NOT NULL AS known
    FROM images WHERE status = 'ok'
),
unit_ok AS (
    SELECT location, period, unit, count(DISTINCT image_id) AS k FROM ok
    GROUP BY location, period, unit
),
n AS (
    SELECT o.location, o.period, min(period_start) AS period_start,
           count(DISTINCT image_id) AS ok_images, count(DISTINCT o.unit) AS ok_authors,
           CASE WHEN bool_or(known) THEN 'authors' ELSE 'images' END AS evidence,
           count(DISTINCT date)::INTEGER AS days,
           (SELECT sum(u.k * u.k) FROM unit_ok u
             WHERE u.location = o.location AND u.period = o.period)::DOUBLE AS k2
    FROM ok o GROUP BY o.location, o.period
)"""

_ROLLUP_SQL = (
    "WITH"
    + _OK_CTE
    + """,
ok_ids AS (SELECT DISTINCT location, date, image_id, period, unit FROM ok),
d AS (
    SELECT ok_ids.location, ok_ids.period, ok_ids.unit, det.image_id, det.label, det.fine_label
    FROM detections det JOIN ok_ids
      ON det.location = ok_ids.location AND det.date = ok_ids.date
     AND det.image_id = ok_ids.image_id
),
per_unit AS (
    SELECT location, period, 'object' AS kind, label, NULL::VARCHAR AS fine_label, unit,
           count(DISTINCT image_id) AS images, count(*) AS objects
    FROM d GROUP BY location, period, label, unit
    UNION ALL
    SELECT location, period, 'object', label, fine_label, unit, count(DISTINCT image_id), count(*)
    FROM d WHERE fine_label IS NOT NULL GROUP BY location, period, label, fine_label, unit
    UNION ALL
    SELECT location, period, 'scene', scene, NULL, unit, count(DISTINCT image_id), count(*)
    FROM ok WHERE scene IS NOT NULL AND $include_scenes GROUP BY location, period, scene, unit
),
counts AS (
    SELECT p.location, p.period, kind, label, fine_label,
           sum(images)::BIGINT AS images, sum(objects)::BIGINT AS objects,
           count(*)::BIGINT AS authors,
           max(images)::DOUBLE / sum(images) AS top_author_share,
           greatest(0.0, -sum(images::DOUBLE / total * log2(images::DOUBLE / total)))
               AS author_entropy,
           sum(images * images)::DOUBLE AS y2, sum(images * u.k)::DOUBLE AS yk
    FROM (SELECT *, sum(images) OVER (PARTITION BY location, period, kind, label, fine_label)
                    AS total FROM per_unit) p
    JOIN unit_ok u ON u.location = p.location AND u.period = p.period AND u.unit = p.unit
    GROUP BY p.location, p.period, kind, label, fine_label
)
SELECT c.location, c.period, n.period_start, kind, label, fine_label,
       images, objects, n.ok_images, images::DOUBLE / n.ok_images AS share,
       row_number() OVER (
           PARTITION BY c.location, c.period, kind,
                        CASE WHEN fine_label IS NULL THEN NULL ELSE label END, fine_label IS NULL
           ORDER BY images DESC, objects DESC, label, fine_label
       )::INTEGER AS rank,
       authors, n.ok_authors, top_author_share, author_entropy, n.evidence,
       -- images cluster by author: the share's variance over authors (ratio estimator,
       -- authors as clusters) against the binomial one; 1 when every author posts one image
       CASE WHEN images = n.ok_images THEN 1.0
            WHEN n.ok_authors <= 1 THEN n.ok_images::DOUBLE
            ELSE greatest(1.0, least(n.ok_images::DOUBLE,
                 (y2 - 2 * (images::DOUBLE / n.ok_images) * yk
                     + (images::DOUBLE / n.ok_images) ^ 2 * n.k2)
                 * n.ok_authors / (n.ok_authors - 1)
                 / (images * (1 - images::DOUBLE / n.ok_images))))
       END AS design_effect,
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


def _run(sql: str, tables: dict[str, pa.Table], params: dict | None = None) -> pa.Table:
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()


def rollup(
    images: pa.Table,
    detections: pa.Table,
    period: Period,
    include_scenes: bool = True,
) -> pa.Table:
    """Counts per (location, period, kind, label, fine_label) from image-level rows.

    Args:
        images: Rows of the ``images`` contract (any locations and days; ``author`` optional).
        detections: Rows of the ``detections`` contract for the same partitions.
        period: ``day``, ``week`` (ISO week ``YYYY-Www``) or ``month`` (``YYYY-MM``).
        include_scenes: Whether to add the scene rows.

    Returns:
        A table with :data:`ROLLUP_SCHEMA`.
    """
    if "author" not in images.column_names:
        images = images.append_column("author", pa.nulls(images.num_rows, pa.string()))
    sql = _period_sql(_ROLLUP_SQL, period)
    result = _run(
        sql, {"images": images, "detections": detections}, {"include_scenes": include_scenes}
    )
    return result.cast(ROLLUP_SCHEMA)


def ok_counts(images: pa.Table, period: Period) -> pa.Table:
    """Ok images, authors and days with ok images per (location, period).

    Unlike :func:`rollup` rows, this also covers periods whose ok images show no label.
    """
    if "author" not in images.column_names:
        images = images.append_column("author", pa.nulls(images.num_rows, pa.string()))
    sql = _period_sql(
        "WITH" + _OK_CTE + " SELECT * EXCLUDE (k2) FROM n ORDER BY location, period", period
    )
    return _run(sql, {"images": images}).cast(OK_COUNTS_SCHEMA)


def _first(table: pa.Table, column: str) -> str | None:
    values = pc.drop_null(table.column(column)) if table.num_rows else []
    return values[0].as_py() if len(values) else None


def with_models(table: pa.Table, images: pa.Table, detections: pa.Table) -> pa.Table:
    """Fill ``detector_sha256``/``classifier_sha256`` from a day's rows (one model per run)."""
    det_sha, cls_sha = _first(detections, "model_sha256"), _first(images, "model_sha256")
    for name, value in (("detector_sha256", det_sha), ("classifier_sha256", cls_sha)):
        i = table.schema.get_field_index(name)
        table = table.set_column(
            i, table.schema.field(i), pa.array([value] * table.num_rows, pa.string())
        )
    return table


def daily_counts(images: pa.Table, detections: pa.Table, include_scenes: bool = True) -> pa.Table:
    """Counts per location-day (``DAILY_COUNTS``) of every day in the rows, model hashes filled.

    Args:
        images: ``images`` rows of one or more location-days.
        detections: The matching ``detections`` rows.
        include_scenes: Whether to add the scene rows.
    """
    counts = rollup(images, detections, "day", include_scenes)
    counts = counts.append_column("date", counts.column("period_start"))
    for name in ("detector_sha256", "classifier_sha256"):
        counts = counts.append_column(name, pa.nulls(counts.num_rows, pa.string()))
    table = conform(DAILY_COUNTS, counts.select(DAILY_COUNTS.columns))
    return with_models(table, images, detections)
