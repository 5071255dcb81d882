"""Counting: how many ok images and authors show each label, per location and day/week/month.

Only ``ok`` images count. ``images`` and ``ok_images`` are distinct image ids over the whole
period (not sums of daily counts); ``objects`` counts detections. Object rows come as label
totals (``fine_label`` null) plus one row per fine label, and scenes (``images.scene``) as kind
``scene``.

Authors are the unit of evidence for trends: one account posting 60 umbrella photos is one
author showing an umbrella. An image whose author is unknown (null) counts as an author of its
own, so a day without any known author is counted by images, and ``evidence`` says which.
Colours (kind ``colour``): a target detection with a dominant colour family (the ``colour``
column :func:`~trendscope.tables.published.read_published` adds) shows ``<label>/<family>``,
e.g. ``handbag/red``; ``images`` counts the ok images with at least one such object, ``objects``
the objects. Detections without that column give no colour rows.

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

_PERIOD_SQL = {  # the period's key (a strftime format) and its first day
    "day": ("'%Y-%m-%d'", "date"),
    "week": ("'%G-W%V'", "date_trunc('week', date)::DATE"),
    "month": ("'%Y-%m'", "date_trunc('month', date)::DATE"),
}

# Rows come keyed by integers (:func:`_keyed`): ``img`` numbers the image ids and ``unit`` the
# evidence units (an author, or an image without one). Periods are grouped by their first day.
_OK_SQL = (
    """CREATE TEMP TABLE ok AS
    SELECT location, date, {start} AS period_start, img, unit, known, scene
    FROM images WHERE status = 'ok'""",
    # k: each unit's ok images in the period
    """CREATE TEMP TABLE unit_ok AS
    SELECT location, period_start, unit, count(DISTINCT img) AS k FROM ok
    GROUP BY location, period_start, unit""",
    """CREATE TEMP TABLE n AS
    SELECT i.location, strftime(i.period_start, {key}) AS period, i.period_start, ok_images,
           ok_authors, evidence, days, k2
    FROM (
        SELECT location, period_start, count(DISTINCT img) AS ok_images,
               CASE WHEN bool_or(known) THEN 'authors' ELSE 'images' END AS evidence,
               count(DISTINCT date)::INTEGER AS days
        FROM ok GROUP BY location, period_start
    ) i JOIN (
        SELECT location, period_start, count(unit) AS ok_authors, sum(k * k)::DOUBLE AS k2
        FROM unit_ok GROUP BY location, period_start
    ) u ON u.location = i.location AND u.period_start = i.period_start""",
)

_OK_COUNTS_SQL = "SELECT * EXCLUDE (k2) FROM n ORDER BY location, period"

_ROLLUP_SQL = """
WITH ok_k AS (
    SELECT ok.*, k FROM ok JOIN unit_ok u
      ON u.location = ok.location AND u.period_start = ok.period_start AND u.unit = ok.unit
),
d AS (
    SELECT o.location, o.period_start, o.unit, o.k, o.img, det.label, det.fine_label, det.colour
    FROM detections det
    JOIN (SELECT DISTINCT location, date, period_start, img, unit, k FROM ok_k) o
      ON det.location = o.location AND det.date = o.date AND det.img = o.img
),
-- one row per image first, then count rows: cheaper than count(DISTINCT img)
per_fine AS (
    SELECT location, period_start, unit, k, label, fine_label, img, count(*) AS objects
    FROM d GROUP BY ALL
),
per_colour AS (
    SELECT location, period_start, unit, k, label || '/' || colour AS label, img,
           count(*) AS objects
    FROM d WHERE colour IS NOT NULL GROUP BY ALL
),
per_label AS (
    SELECT location, period_start, unit, k, label, img, sum(objects) AS objects
    FROM per_fine GROUP BY ALL
),
per_scene AS (
    SELECT location, period_start, unit, k, scene, img, count(*) AS objects
    FROM ok_k WHERE scene IS NOT NULL AND $include_scenes GROUP BY ALL
),
per_unit AS (
    SELECT location, period_start, 'object' AS kind, label, NULL::VARCHAR AS fine_label, unit, k,
           count(*) AS images, sum(objects) AS objects
    FROM per_label GROUP BY location, period_start, label, unit, k
    UNION ALL
    SELECT location, period_start, 'object', label, fine_label, unit, k, count(*), sum(objects)
    FROM per_fine WHERE fine_label IS NOT NULL
    GROUP BY location, period_start, label, fine_label, unit, k
    UNION ALL
    SELECT location, period_start, 'scene', scene, NULL, unit, k, count(*), sum(objects)
    FROM per_scene GROUP BY location, period_start, scene, unit, k
    UNION ALL
    SELECT location, period_start, 'colour', label, NULL, unit, k, count(*), sum(objects)
    FROM per_colour GROUP BY location, period_start, label, unit, k
),
counts AS (
    SELECT location, period_start, kind, label, fine_label,
           sum(images)::BIGINT AS images, sum(objects)::BIGINT AS objects,
           count(*)::BIGINT AS authors,
           max(images)::DOUBLE / sum(images) AS top_author_share,
           -- -sum(p log2 p) with p = n / T, as log2 T - sum(n log2 n) / T
           CASE WHEN count(*) = 1 THEN 0.0
                ELSE greatest(0.0, log2(sum(images)) - sum(images * log2(images)) / sum(images))
           END AS author_entropy,
           sum(images * images)::DOUBLE AS y2, sum(images * k)::DOUBLE AS yk
    FROM per_unit GROUP BY location, period_start, kind, label, fine_label
)
SELECT c.location, n.period, c.period_start, kind, label, fine_label,
       images, objects, n.ok_images, images::DOUBLE / n.ok_images AS share,
       row_number() OVER (
           PARTITION BY c.location, c.period_start, kind,
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
FROM counts c JOIN n ON c.location = n.location AND c.period_start = n.period_start
ORDER BY c.location, n.period, kind, fine_label IS NOT NULL, label, rank
"""


def _codes(column: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Integer codes of a string column (null stays null) and the distinct values they number."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    return encoded.indices.cast(pa.int64()), encoded.dictionary


def _keyed(images: pa.Table, detections: pa.Table | None) -> tuple[pa.Table, pa.Table | None]:
    """The rows the SQL reads, string keys replaced by integers (same groups, faster joins).

    ``img`` numbers the image ids; ``unit`` is the author's number, or for an image without
    author a number past every author's (the image's own), so no image is mistaken for an author.
    """
    if "author" not in images.column_names:
        images = images.append_column("author", pa.nulls(images.num_rows, pa.string()))
    img, ids = _codes(images.column("image_id"))
    author, names = _codes(images.column("author"))
    keyed = pa.table(
        {
            **{c: images.column(c) for c in ("location", "date", "status", "scene")},
            "img": img,
            "unit": pc.coalesce(author, pc.add(img, len(names))),
            "known": pc.is_valid(images.column("author")),
        }
    )
    if detections is None:
        return keyed, None
    det = pa.table(
        {
            **{c: detections.column(c) for c in ("location", "date", "label", "fine_label")},
            "img": pc.index_in(detections.column("image_id"), value_set=ids).cast(pa.int64()),
            "colour": (
                detections.column("colour")
                if "colour" in detections.column_names
                else pa.nulls(detections.num_rows, pa.string())
            ),
        }
    )
    return keyed, det


def _count(
    images: pa.Table,
    detections: pa.Table | None,
    period: Period,
    include_scenes: bool,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pa.Table | None, pa.Table]:
    """Rollup rows (None without ``detections``) and ok counts, in one pass on one connection."""
    if period not in _PERIOD_SQL:
        raise ValueError(f"unknown period {period!r} (known: {', '.join(_PERIOD_SQL)})")
    key, start = _PERIOD_SQL[period]
    keyed, det = _keyed(images, detections)
    # a cursor of a caller's connection: its own temporary tables, gone when it closes
    cur = con.cursor() if con is not None else duckdb.connect()
    try:
        cur.register("images", keyed)
        for sql in _OK_SQL:
            cur.execute(sql.replace("{key}", key).replace("{start}", start))
        ok = cur.sql(_OK_COUNTS_SQL).to_arrow_table().cast(OK_COUNTS_SCHEMA)
        if det is None:
            return None, ok
        cur.register("detections", det)
        counts = cur.sql(_ROLLUP_SQL, params={"include_scenes": include_scenes})
        return counts.to_arrow_table().cast(ROLLUP_SCHEMA), ok
    finally:
        cur.close()


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
    return _count(images, detections, period, include_scenes)[0]


def ok_counts(images: pa.Table, period: Period) -> pa.Table:
    """Ok images, authors and days with ok images per (location, period).

    Unlike :func:`rollup` rows, this also covers periods whose ok images show no label.
    """
    return _count(images, None, period, False)[1]


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
    return daily_counts_with_ok(images, detections, include_scenes)[0]


def daily_counts_with_ok(
    images: pa.Table,
    detections: pa.Table,
    include_scenes: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pa.Table, pa.Table]:
    """:func:`daily_counts` and the day :func:`ok_counts` of the same rows, counted once.

    Args:
        images: ``images`` rows of one or more location-days.
        detections: The matching ``detections`` rows.
        include_scenes: Whether to add the scene rows.
        con: A DuckDB connection to count on; default a new one.

    Returns:
        ``(daily counts, ok counts per location-day)``.
    """
    counts, ok = _count(images, detections, "day", include_scenes, con)
    counts = counts.append_column("date", counts.column("period_start"))
    for name in ("detector_sha256", "classifier_sha256"):
        counts = counts.append_column(name, pa.nulls(counts.num_rows, pa.string()))
    table = conform(DAILY_COUNTS, counts.select(DAILY_COUNTS.columns))
    return with_models(table, images, detections), ok


_WEIGHTED_SQL = """
WITH ok AS (SELECT DISTINCT location, date, image_id FROM images WHERE status = 'ok'),
n AS (SELECT location, date, count(*) AS ok_images FROM ok GROUP BY ALL),
t AS (SELECT t.location, t.date, t.image_id, t.kind, t.tag, t.importance
      FROM tags t JOIN ok USING (location, date, image_id)),
w AS (
    SELECT location, date, 'object' AS kind, tag AS label, NULL::VARCHAR AS fine_label, importance
    FROM t WHERE kind = 'object'
    UNION ALL
    SELECT location, date, 'object', split_part(tag, '/', 1), substr(tag, strpos(tag, '/') + 1),
           importance
    FROM t WHERE kind = 'fine'
    UNION ALL
    SELECT location, date, 'scene', tag, NULL, importance FROM t WHERE kind = 'scene'
    UNION ALL  -- a colour row: its target's importance in each image showing that colour
    SELECT t.location, t.date, 'colour', c.label, NULL, t.importance
    FROM (SELECT DISTINCT location, date, image_id, label AS target,
                 label || '/' || colour AS label
          FROM detections WHERE colour IS NOT NULL) c
    JOIN t ON t.location = c.location AND t.date = c.date AND t.image_id = c.image_id
          AND t.kind = 'object' AND t.tag = c.target
)
SELECT location, date, kind, label, fine_label, sum(importance) / any_value(n.ok_images) AS w
FROM w JOIN n USING (location, date) GROUP BY location, date, kind, label, fine_label
"""


def with_weighted_share(
    table: pa.Table, images: pa.Table, detections: pa.Table, tags: pa.Table
) -> pa.Table:
    """``table`` (trend rows of location-days) with ``weighted_share`` filled from ``tags``.

    ``weighted_share`` is the label's share with each image weighted by the tag's importance in
    it: the sum over ok images of the importance / ok images (``share`` counts each image 1, so
    ``weighted_share <= share``). Colour rows weigh each image by its target label's importance.
    A row whose label no image shows today gets 0.
    """
    con = duckdb.connect()
    try:
        con.register("images", images.select(["location", "date", "image_id", "status"]))
        det = detections.select(["location", "date", "image_id", "label"]).append_column(
            "colour",
            detections.column("colour")
            if "colour" in detections.column_names
            else pa.nulls(detections.num_rows, pa.string()),
        )
        con.register("detections", det)
        con.register("tags", tags)
        rows = con.sql(_WEIGHTED_SQL).fetchall()
    finally:
        con.close()
    weights = {(loc, d, k, lab, fine): w for loc, d, k, lab, fine, w in rows}
    keys = zip(*(table.column(c).to_pylist() for c in _WEIGHT_KEY), strict=True)
    values = pa.array([weights.get(k, 0.0) for k in keys], pa.float64())
    if "weighted_share" in table.column_names:
        i = table.schema.get_field_index("weighted_share")
        return table.set_column(i, table.schema.field(i), values)
    return table.append_column(pa.field("weighted_share", pa.float64()), values)


_WEIGHT_KEY = ("location", "date", "kind", "label", "fine_label")
