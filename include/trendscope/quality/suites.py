"""The expectation suites, one per table, kept as code.

A suite is a list of Great Expectations expectations built for one partition: it knows the
partition's location and day/period, the detector's vocabulary, each target's fine labels, how
many posts came in and how many ok images the location usually has. Cross-column rules that
Great Expectations cannot express on a pandas frame directly (a box inside its image, a share
equal to its counts) are checked on derived columns that :func:`frame_for` adds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import OTHER, STATUS_DUPLICATE, STATUS_OK, STATUSES
from trendscope.trends.stats import TRENDS

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("object", "scene")
SHARE_TOLERANCE = 1e-9
"""How far a published share may be from ``images / ok_images`` (float rounding only)."""


@dataclass(frozen=True)
class SuiteContext:
    """What the suites of one partition need to know beyond its rows."""

    location: str
    key: str  # YYYY-MM-DD for daily tables, YYYY-Www or YYYY-MM for rollups
    vocabulary: tuple[str, ...] = ()
    fine_labels: Mapping[str, Sequence[str]] = field(default_factory=dict)  # target -> labels
    scene_labels: Sequence[str] = ()
    posts_in: int | None = None  # posts the ingest step found (images rows must match)
    usual_ok_images: float | None = None  # median ok images of recent days (volume check)
    volume_min_ratio: float = 0.1


def _not_null(gx: Any, columns: Sequence[str]) -> list[Any]:
    return [gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in columns]


def _between(gx: Any, columns: Sequence[str], low: float, high: float | None) -> list[Any]:
    return [
        gx.expectations.ExpectColumnValuesToBeBetween(column=c, min_value=low, max_value=high)
        for c in columns
    ]


def _where(condition: str | None) -> dict[str, str]:
    """Row-condition arguments: the expectation applies only to rows matching ``condition``."""
    return {"row_condition": condition, "condition_parser": "pandas"} if condition else {}


def _in_set(gx: Any, column: str, values: Sequence[str], where: str | None = None) -> Any:
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), **_where(where)
    )


def _fine_labels(gx: Any, ctx: SuiteContext, where: str = "") -> list[Any]:
    """Each target's fine labels are its configured set or ``other``."""
    return [
        _in_set(gx, "fine_label", [*labels, OTHER], f"{where}label=={target!r}")
        for target, labels in sorted(ctx.fine_labels.items())
    ]


def _partition(gx: Any, ctx: SuiteContext, key_column: str) -> list[Any]:
    return [
        _in_set(gx, "location", [ctx.location]),
        _in_set(gx, key_column, [ctx.key]),
    ]


def images_suite(gx: Any, ctx: SuiteContext) -> list[Any]:
    """``images``: keys, statuses with reasons, one row per file, posts reconcile, volume."""
    ex = gx.expectations
    ok, not_ok, duplicate = (
        f'status=="{STATUS_OK}"',
        f'status!="{STATUS_OK}"',
        f'status=="{STATUS_DUPLICATE}"',
    )
    rules = [
        *_not_null(gx, ["image_id", "location", "date", "source_uri", "status"]),
        *_partition(gx, ctx, "date"),
        _in_set(gx, "status", STATUSES),
        ex.ExpectCompoundColumnsToBeUnique(column_list=["location", "date", "source_uri"]),
        ex.ExpectColumnValuesToBeUnique(column="image_id", **_where(ok)),
        ex.ExpectColumnValuesToNotBeNull(column="reason", **_where(not_ok)),
        ex.ExpectColumnValuesToNotBeNull(column="duplicate_of", **_where(duplicate)),
        ex.ExpectColumnValuesToBeBetween(column="width", min_value=1, **_where(ok)),
        ex.ExpectColumnValuesToBeBetween(column="height", min_value=1, **_where(ok)),
        *_between(gx, ["scene_confidence"], 0.0, 1.0),
    ]
    if ctx.scene_labels:
        rules.append(_in_set(gx, "scene", ctx.scene_labels))
    if ctx.posts_in is not None:
        rules.append(
            ex.ExpectTableRowCountToEqual(
                value=ctx.posts_in,
                description="posts in = ok + duplicate + quarantined (one images row per post)",
            )
        )
    if ctx.usual_ok_images:
        floor = math.floor(ctx.usual_ok_images * ctx.volume_min_ratio)
        rules.append(
            ex.ExpectTableRowCountToBeBetween(
                # ok > usual * ratio, as integers: ok > floor(usual * ratio)
                min_value=floor,
                strict_min=True,
                severity="warning",
                **_where(ok),
                description=(
                    f"volume: ok images more than {ctx.volume_min_ratio:.0%} of the location's "
                    f"recent median ({ctx.usual_ok_images:g})"
                ),
            )
        )
    return rules


def detections_suite(gx: Any, ctx: SuiteContext) -> list[Any]:
    """``detections``: keys, confidences, boxes inside their image, labels in the vocabularies."""
    ex = gx.expectations
    rules = [
        *_not_null(gx, ["image_id", "location", "date", "detection", "label", "model"]),
        *_partition(gx, ctx, "date"),
        ex.ExpectCompoundColumnsToBeUnique(column_list=["image_id", "detection"]),
        *_between(gx, ["confidence", "fine_confidence"], 0.0, 1.0),
        *_between(gx, ["x1", "y1"], 0.0, None),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(column_A="x2", column_B="x1"),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(column_A="y2", column_B="y1"),
        ex.ExpectColumnValuesToNotBeNull(
            column="image_width", description="every detection belongs to an ok image of the day"
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="image_width",
            column_B="x2",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="image_height",
            column_B="y2",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]
    if ctx.vocabulary:
        rules.append(_in_set(gx, "label", ctx.vocabulary))
    rules += _fine_labels(gx, ctx)
    rules.append(
        ex.ExpectColumnValuesToBeNull(
            column="fine_label",
            **_where(f"label not in {sorted(ctx.fine_labels)!r}"),
            description="only target classes are classified fine-grained",
        )
    )
    return rules


def trends_suite(gx: Any, ctx: SuiteContext, key_column: str) -> list[Any]:
    """Trend tables: keys, shares and p-values in [0, 1], shares equal to their counts."""
    ex = gx.expectations
    rules = [
        *_not_null(gx, ["location", key_column, "kind", "label", "trend", "share"]),
        *_partition(gx, ctx, key_column),
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["location", key_column, "kind", "label", "fine_label"]
        ),
        _in_set(gx, "kind", KINDS),
        _in_set(gx, "trend", TRENDS),
        *_between(gx, ["share", "baseline_share", "p_value", "p_adjusted"], 0.0, 1.0),
        *_between(gx, ["images", "objects", "ok_images", "baseline_images"], 0, None),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="ok_images", column_B="images", or_equal=True
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="objects", column_B="images", or_equal=True
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="share_gap",
            min_value=0.0,
            max_value=SHARE_TOLERANCE,
            description="share = images / ok_images",
        ),
    ]
    if ctx.vocabulary:
        rules.append(_in_set(gx, "label", ctx.vocabulary, 'kind=="object"'))
    if ctx.scene_labels:
        rules.append(_in_set(gx, "label", ctx.scene_labels, 'kind=="scene"'))
    return rules + _fine_labels(gx, ctx, 'kind=="object" and ')


def suite_rules(gx: Any, table: str, ctx: SuiteContext) -> list[Any]:
    """The expectations of ``table``'s partition described by ``ctx``."""
    if table == "images":
        return images_suite(gx, ctx)
    if table == "detections":
        return detections_suite(gx, ctx)
    if table == "trends_daily":
        return trends_suite(gx, ctx, "date")
    if table in ("trends_weekly", "trends_monthly"):
        return trends_suite(gx, ctx, "period")
    raise ValueError(f"no expectation suite for table {table!r}")


def frame_for(table_name: str, table: pa.Table, images: pa.Table | None = None) -> pd.DataFrame:
    """The partition as a pandas frame, with dates as ISO strings and the derived columns.

    Args:
        table_name: The table.
        table: Its rows.
        images: For ``detections``, the day's ``images`` rows (for each box's image size).
    """
    cols = [c for c in table.column_names if not pa.types.is_list(table.schema.field(c).type)]
    df = table.select(cols).to_pandas()
    for c in ("date", "period_start"):
        if c in df.columns:
            df[c] = df[c].map(lambda d: None if d is None else d.isoformat())
    if table_name == "detections":
        sizes = {}
        if images is not None:
            ok = images.filter(pc.equal(images.column("status"), STATUS_OK))
            sizes = {
                r["image_id"]: (r["width"], r["height"])
                for r in ok.select(["image_id", "width", "height"]).to_pylist()
            }
        df["image_width"] = df["image_id"].map(lambda i: sizes.get(i, (None, None))[0])
        df["image_height"] = df["image_id"].map(lambda i: sizes.get(i, (None, None))[1])
        df["image_width"] = df["image_width"].astype("float64")
        df["image_height"] = df["image_height"].astype("float64")
    if "share" in df.columns and "ok_images" in df.columns:
        expected = df["images"] / df["ok_images"].where(df["ok_images"] > 0)
        df["share_gap"] = (df["share"] - expected).abs().fillna(0.0)
    return df
