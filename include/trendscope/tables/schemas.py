"""One data contract per table: column names, Arrow types, keys and the schema version.

Every writer builds its Arrow table through :func:`to_table` and every reader gets the same
schema back, so a column cannot be renamed in one place and not the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

STATUS_OK = "ok"
STATUS_DUPLICATE = "duplicate"
STATUS_QUARANTINED = "quarantined"
STATUSES = (STATUS_OK, STATUS_DUPLICATE, STATUS_QUARANTINED)
OTHER = "other"
COLOUR_FAMILIES = (
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "beige",
    "black",
    "white",
    "gray",
)
"""The basic colour families of ``colors.family`` (and of colour trend labels ``target/family``)."""
TAG_KINDS = ("object", "fine", "scene")
"""``tags.kind``: a detected label, a fine label (``label/fine``), the scene category."""

_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableContract:
    """A table's schema, its key columns, and its version."""

    name: str
    version: int
    schema: pa.Schema
    key: tuple[str, ...]
    description: str

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def with_metadata(self) -> pa.Schema:
        return self.schema.with_metadata(
            {
                b"trendscope.table": self.name.encode(),
                b"trendscope.schema_version": str(self.version).encode(),
            }
        )


IMAGES = TableContract(
    name="images",
    version=1,
    key=("location", "date", "source_uri"),
    description="One row per post/file seen for a location-day, whatever became of it.",
    schema=pa.schema(
        [
            pa.field("image_id", pa.string(), nullable=False),  # sha256 of the file bytes
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("taken_at", _TS),
            pa.field("source_uri", pa.string(), nullable=False),
            pa.field("bytes", pa.int64()),
            pa.field("format", pa.string()),
            pa.field("width", pa.int32()),  # upright (after EXIF orientation)
            pa.field("height", pa.int32()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
            pa.field("duplicate_of", pa.string()),
            pa.field("phash", pa.string()),  # 64-bit perceptual hash (hex), for near-duplicates
            pa.field("scene", pa.string()),
            pa.field("scene_confidence", pa.float32()),
            pa.field("post_id", pa.string()),
            pa.field("author", pa.string()),
            pa.field("caption", pa.string()),
            pa.field("hashtags", pa.list_(pa.string())),
            pa.field("likes", pa.int64()),
            pa.field("followers", pa.int64()),
            pa.field("source_url", pa.string()),
            pa.field("model", pa.string()),  # scene classifier
            pa.field("model_sha256", pa.string()),
        ]
    ),
)

DETECTIONS = TableContract(
    name="detections",
    version=2,  # 2: fine_model_version (a registered classifier's version)
    key=("location", "date", "image_id", "detection"),
    description="One row per detected object in an ok image; targets carry a fine label.",
    schema=pa.schema(
        [
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("detection", pa.int32(), nullable=False),  # index within the image
            pa.field("label", pa.string(), nullable=False),  # detector vocabulary (COCO)
            pa.field("confidence", pa.float32(), nullable=False),
            pa.field("x1", pa.float32(), nullable=False),
            pa.field("y1", pa.float32(), nullable=False),
            pa.field("x2", pa.float32(), nullable=False),
            pa.field("y2", pa.float32(), nullable=False),
            pa.field("fine_label", pa.string()),  # null: not a cropped target
            pa.field("fine_confidence", pa.float32()),
            pa.field("model", pa.string(), nullable=False),
            pa.field("model_sha256", pa.string(), nullable=False),
            pa.field("fine_model", pa.string()),  # the ImageNet model or a registered name
            pa.field("fine_model_sha256", pa.string()),
            pa.field("fine_model_version", pa.int32()),  # registry version; null: ImageNet model
        ]
    ),
)

COLORS = TableContract(
    name="colors",
    version=1,
    key=("location", "date", "image_id", "detection", "rank"),
    description=(
        "One row per dominant colour (k-means cluster in CIELAB) of each cropped target "
        "detection, ranked by its share of the object's pixels (trendscope.vision.colours)."
    ),
    schema=pa.schema(
        [
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("detection", pa.int32(), nullable=False),  # detections.detection
            pa.field("label", pa.string(), nullable=False),  # the detection's (target) label
            pa.field("rank", pa.int32(), nullable=False),  # 1 = largest fraction
            pa.field("L", pa.float32(), nullable=False),  # CIELAB lightness, 0-100
            pa.field("a", pa.float32(), nullable=False),  # CIELAB green (-) .. red (+)
            pa.field("b", pa.float32(), nullable=False),  # CIELAB blue (-) .. yellow (+)
            pa.field("hex", pa.string(), nullable=False),  # the centre as sRGB #rrggbb
            pa.field("name", pa.string(), nullable=False),  # nearest palette colour
            pa.field("family", pa.string(), nullable=False),  # red, orange, ... gray
            pa.field("fraction", pa.float64(), nullable=False),  # share of the object's pixels
        ]
    ),
)

TAGS = TableContract(
    name="tags",
    version=1,
    key=("location", "date", "image_id", "kind", "tag"),
    description=(
        "One row per tag of an ok image (detected labels, fine labels, scene category) with "
        "its importance in [0, 1] within the image (trendscope.vision.tags)."
    ),
    schema=pa.schema(
        [
            pa.field("image_id", pa.string(), nullable=False),
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("rank", pa.int32(), nullable=False),  # 1 = most important in the image
            pa.field("tag", pa.string(), nullable=False),  # cat | cat/tabby | food (a scene)
            pa.field("kind", pa.string(), nullable=False),  # object | fine | scene
            pa.field("importance", pa.float64(), nullable=False),  # 1 for the image's top tag
            pa.field("score", pa.float64(), nullable=False),  # before the per-image scaling
            pa.field("area_share", pa.float64()),  # of the image, summed over its objects
            pa.field("confidence", pa.float64()),  # best detection / fine / scene confidence
            pa.field("centrality", pa.float64()),  # 1 at the image centre, 0 at a corner
            pa.field("objects", pa.int32()),  # detections behind the tag (scenes: null)
        ]
    ),
)

_COUNT_FIELDS = [
    pa.field("kind", pa.string(), nullable=False),  # object | scene | colour
    pa.field("label", pa.string(), nullable=False),
    pa.field("fine_label", pa.string()),  # null: the label's total
    pa.field("images", pa.int64(), nullable=False),  # distinct ok images showing it
    pa.field("objects", pa.int64(), nullable=False),
    pa.field("ok_images", pa.int64(), nullable=False),
    pa.field("share", pa.float64(), nullable=False),  # images / ok_images
    pa.field("rank", pa.int32(), nullable=False),
    # who posts it (authors are the unit of evidence; see trendscope.trends.counting)
    pa.field("authors", pa.int64()),  # distinct authors showing it (unknown author: one each)
    pa.field("ok_authors", pa.int64()),  # distinct authors of the ok images
    pa.field("top_author_share", pa.float64()),  # share of its images from its top author
    pa.field("author_entropy", pa.float64()),  # Shannon entropy (bits) of its images over authors
    pa.field("evidence", pa.string()),  # authors | images (no author known: counted by images)
    pa.field("design_effect", pa.float64()),  # sampling variance / binomial, authors as clusters
]

DAILY_COUNTS = TableContract(
    name="daily_counts",
    version=2,
    key=("location", "date", "kind", "label", "fine_label"),
    description="One location-day's counts (the input of the baseline comparison; not published).",
    schema=pa.schema(
        [
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            *_COUNT_FIELDS,
            pa.field("detector_sha256", pa.string()),
            pa.field("classifier_sha256", pa.string()),
        ]
    ),
)

BASELINE_FIELDS = [
    pa.field("baseline_images", pa.int64(), nullable=False),
    pa.field("baseline_ok_images", pa.int64(), nullable=False),
    pa.field("baseline_share", pa.float64()),  # null: no baseline data
]
TEST_FIELDS = [
    # the model of ordinary variation (docs/methodology.md)
    pa.field("expected_share", pa.float64()),  # baseline_share + weekday_effect
    pa.field("weekday_effect", pa.float64()),  # null: no weekday adjustment
    pa.field("dispersion", pa.float64()),  # sd of the daily share beyond binomial
    pa.field("statistic", pa.float64()),  # (share - expected) / predictive sd, today
    pa.field("recent_statistic", pa.float64()),  # the same for the last recent_days pooled
    pa.field("delta", pa.float64()),  # share - expected_share
    pa.field("lift", pa.float64()),  # share / expected_share; null when expected_share is 0
    pa.field("p_value", pa.float64()),  # null: not testable
    pa.field("p_adjusted", pa.float64()),  # Benjamini-Hochberg within the location-day/period
]

TRENDS_DAILY = TableContract(
    name="trends_daily",
    version=2,
    key=DAILY_COUNTS.key,
    description="Per location-day counts and shares of each label against its trailing baseline.",
    schema=pa.schema(
        [
            *DAILY_COUNTS.schema,
            *BASELINE_FIELDS,
            pa.field("baseline_days", pa.int32(), nullable=False),  # window days with ok images
            *TEST_FIELDS,
            pa.field(
                "trend", pa.string(), nullable=False
            ),  # rising|falling|stable|new|insufficient
            # images weighted by the tag's importance / ok_images; null unless
            # trends.importance_weighted (docs/methodology.md, section 11)
            pa.field("weighted_share", pa.float64()),
        ]
    ),
)

ROLLUP_FIELDS = [
    pa.field("location", pa.string(), nullable=False),
    pa.field("period", pa.string(), nullable=False),  # 2026-11-02 | 2026-W45 | 2026-11
    pa.field("period_start", pa.date32(), nullable=False),
    *_COUNT_FIELDS,
    pa.field("days", pa.int32(), nullable=False),  # days of the period with ok images
]

_PERIOD_SCHEMA = pa.schema(
    [
        *ROLLUP_FIELDS,
        *BASELINE_FIELDS,
        pa.field("baseline_periods", pa.int32(), nullable=False),
        *TEST_FIELDS,
        pa.field("trend", pa.string(), nullable=False),
    ]
)

TRENDS_WEEKLY = TableContract(
    name="trends_weekly",
    version=2,
    key=("location", "period", "kind", "label", "fine_label"),
    description="Per location and ISO week (YYYY-Www), from image-level rows, against earlier weeks.",
    schema=_PERIOD_SCHEMA,
)

TRENDS_MONTHLY = TableContract(
    name="trends_monthly",
    version=2,
    key=("location", "period", "kind", "label", "fine_label"),
    description="Per location and month (YYYY-MM), from image-level rows, against earlier months.",
    schema=_PERIOD_SCHEMA,
)

ENGAGEMENT_VERDICTS = ("higher", "lower", "similar", "insufficient")
"""``engagement.engagement``: how the label's posts engage against the others (rank test)."""

ENGAGEMENT = TableContract(
    name="engagement",
    version=1,
    key=("location", "date", "window_days", "kind", "label", "fine_label"),
    description=(
        "Per location-day and trailing window (the day alone, and window_days days ending on "
        "it): engagement (likes / followers) of the posts showing each label against the posts "
        "without it, with a Mann-Whitney rank test (trendscope.trends.engagement)."
    ),
    schema=pa.schema(
        [
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),  # the window's last day
            pa.field("window_days", pa.int32(), nullable=False),  # 1: the day alone
            pa.field("window_start", pa.date32(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),  # object | scene | colour
            pa.field("label", pa.string(), nullable=False),
            pa.field("fine_label", pa.string()),  # null: the label's total
            pa.field("posts", pa.int64(), nullable=False),  # ok posts in the window
            pa.field("rated_posts", pa.int64(), nullable=False),  # of them with a rate
            pa.field("label_posts", pa.int64(), nullable=False),  # ok posts showing the label
            pa.field("rated_with", pa.int64(), nullable=False),  # rated posts showing it
            pa.field("rated_without", pa.int64(), nullable=False),  # rated posts not showing it
            pa.field("share", pa.float64()),  # rated_with / rated_posts
            pa.field("engagement_share", pa.float64()),  # its share of the summed rates
            pa.field("median_with", pa.float64()),  # median rate of rated_with
            pa.field("median_without", pa.float64()),
            pa.field("lift", pa.float64()),  # median_with / median_without
            pa.field("u_statistic", pa.float64()),  # Mann-Whitney U of the posts with it
            pa.field("auc", pa.float64()),  # u_statistic / (rated_with * rated_without)
            pa.field("p_value", pa.float64()),  # two-sided; null: not tested
            pa.field("p_adjusted", pa.float64()),  # Benjamini-Hochberg within location-day-window
            pa.field("engagement", pa.string(), nullable=False),  # ENGAGEMENT_VERDICTS
        ]
    ),
)

RUN_SUCCESS = "success"
RUN_FAILED = "failed"

RUNS = TableContract(
    name="runs",
    version=1,
    key=("location", "date", "step", "shard", "attempt_id"),
    description=(
        "One row per attempt of a pipeline step on a location-day (and analyze shard): when, "
        "how it ended, what it counted, and with which models and config."
    ),
    schema=pa.schema(
        [
            pa.field("location", pa.string(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("step", pa.string(), nullable=False),  # ingest | analyze | publish | trends
            pa.field("shard", pa.string()),  # "i/N" (0-based) for analyze; null otherwise
            pa.field("attempt_id", pa.string(), nullable=False),  # random, one per attempt
            pa.field("started_at", _TS, nullable=False),
            pa.field("ended_at", _TS, nullable=False),
            pa.field("status", pa.string(), nullable=False),  # success | failed
            pa.field("duration_s", pa.float64(), nullable=False),
            # what the step counted; null where the step does not know it
            pa.field("posts", pa.int64()),  # images rows (every post/file seen)
            pa.field("ok", pa.int64()),
            pa.field("duplicate", pa.int64()),
            pa.field("quarantined", pa.int64()),
            pa.field("detections", pa.int64()),
            pa.field("detector_sha256", pa.string()),  # of the configured files; null: absent
            pa.field("classifier_sha256", pa.string()),
            pa.field("config_hash", pa.string(), nullable=False),  # short sha256 of the config
            pa.field("run_id", pa.string()),  # the Airflow run id; null outside Airflow
            pa.field("error", pa.string()),  # "<type>: <message>" of a failed attempt
        ]
    ),
)

# the tables with a partition per location-day/period and an expectation suite (``validate``);
# ``runs`` is a log of attempts beside them, read with :mod:`trendscope.pipeline.runs`
CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (
        IMAGES,
        DETECTIONS,
        COLORS,
        TAGS,
        TRENDS_DAILY,
        TRENDS_WEEKLY,
        TRENDS_MONTHLY,
        ENGAGEMENT,
    )
}


def contract(name: str) -> TableContract:
    """The contract of table ``name``; a clear error for an unknown table."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r} (known: {', '.join(CONTRACTS)})") from None


def to_table(contract_: TableContract, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build an Arrow table that matches the contract exactly (missing columns become nulls)."""
    rows = list(rows)
    unknown = {k for row in rows for k in row} - set(contract_.columns)
    if unknown:
        raise ValueError(f"{contract_.name}: columns not in the contract: {sorted(unknown)}")
    arrays = [pa.array([row.get(f.name) for row in rows], type=f.type) for f in contract_.schema]
    return pa.Table.from_arrays(arrays, schema=contract_.with_metadata())


def conform(contract_: TableContract, table: pa.Table) -> pa.Table:
    """Check a table read or built elsewhere against the contract and cast it to its schema.

    A nullable column added to the contract after a partition was written reads as nulls (so
    older partitions stay readable); a missing required column or an unknown column is an error.
    """
    missing = [c for c in contract_.columns if c not in table.column_names]
    extra = [c for c in table.column_names if c not in contract_.columns]
    required = [c for c in missing if not contract_.schema.field(c).nullable]
    if required or extra:
        raise ValueError(f"{contract_.name}: schema mismatch, missing={required} extra={extra}")
    for name in missing:
        f = contract_.schema.field(name)
        table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    table = table.select(contract_.columns)
    schema = contract_.with_metadata()
    if any(not f.nullable and table.column(f.name).null_count for f in schema):
        # keep the rows so the quality gate can name the broken column; Parquet writes of the
        # published tables still refuse the nulls
        return table.cast(relaxed_schema(schema))
    return table.cast(schema)


def relaxed_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field nullable."""
    return pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)


def relaxed(table: pa.Table) -> pa.Table:
    """``table`` with every column nullable, so rows that break the contract can still be kept
    in staging for inspection."""
    return table.cast(relaxed_schema(table.schema))
