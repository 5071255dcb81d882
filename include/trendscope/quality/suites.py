"""The expectation suites, one per table, kept as code.

A suite is a list of Great Expectations expectations built for one partition: it knows the
partition's location and day/period, the detector's vocabulary, each target's fine labels, how
many posts came in, how many ok images the location usually has, and the thresholds that name
a trend. Cross-column rules that Great Expectations cannot express on a pandas frame directly (a
box inside its image, a share equal to its counts, a delta equal to its shares) are checked on
derived columns that :func:`frame_for` adds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import OTHER, STATUS_DUPLICATE, STATUS_OK, STATUSES
from trendscope.trends.counting import EVIDENCE_AUTHORS, EVIDENCE_IMAGES
from trendscope.trends.stats import (
    DELTA_TOLERANCE,
    FALLING,
    INSUFFICIENT,
    NEW,
    RISING,
    STABLE,
    TRENDS,
    Rules,
)

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("object", "scene")
EVIDENCE = (EVIDENCE_AUTHORS, EVIDENCE_IMAGES)
SHARE_TOLERANCE = 1e-9
"""How far a published share or statistic may be from its formula (float rounding only)."""


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
    trend_rules: Rules | None = None  # thresholds that name a trend (None: trends not checked)


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


def _in_set(
    gx: Any,
    column: str,
    values: Sequence[str],
    where: str | None = None,
    description: str | None = None,
) -> Any:
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), **_where(where), description=description
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


def _gap_rule(gx: Any, column: str, description: str) -> Any:
    """A derived ``*_gap`` column (see :func:`frame_for`) is float rounding at most."""
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column, min_value=0.0, max_value=SHARE_TOLERANCE, description=description
    )


def _statistics(gx: Any) -> list[Any]:
    """The published statistics agree with each other and with the counts."""
    return [
        _gap_rule(gx, "share_gap", "share = images / ok_images"),
        _gap_rule(
            gx,
            "baseline_share_gap",
            "baseline_share = baseline_images / baseline_ok_images (null when "
            "baseline_ok_images = 0)",
        ),
        _gap_rule(
            gx,
            "expected_share_gap",
            "expected_share = baseline_share + coalesce(weekday_effect, 0)",
        ),
        _gap_rule(gx, "delta_gap", "delta = share - expected_share"),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="p_adjusted_excess",
            min_value=-SHARE_TOLERANCE,
            description="p_adjusted >= p_value (Benjamini-Hochberg never lowers a p-value)",
        ),
    ]


def _needs(
    gx: Any,
    trends: Sequence[str],
    column: str,
    rule: str,
    low: float | None = None,
    high: float | None = None,
    strict_high: bool = False,
) -> Any:
    """Rows labelled one of ``trends`` have ``low <= column <= high`` (``< high``: strict)."""
    where = f"trend=={trends[0]!r}" if len(trends) == 1 else f"trend in {list(trends)!r}"
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=low,
        max_value=high,
        strict_max=strict_high,
        **_where(where),
        description=f"{'/'.join(trends)} needs {rule}",
    )


def _trend_rules(gx: Any, rules: Rules) -> list[Any]:
    """Each row's trend is the one its numbers and the thresholds give (see ``classify_trend``).

    Both ways: a row labelled a trend meets that trend's conditions (one expectation per
    condition, so a failure names it), and a row that meets a trend's conditions (and no
    earlier rule's) carries that label, so a rise cannot be hidden as ``stable`` either.
    """
    ex = gx.expectations
    alpha, tol = rules.alpha, DELTA_TOLERANCE
    rise, fall = rules.min_delta - tol, tol - rules.min_delta
    top = rules.max_top_author_share + tol
    # pandas queries; NaN compares false, as in classify_trend (untested rows are stable)
    short = f"(ok_images < {rules.min_images} or baseline_ok_images < {rules.min_baseline_images})"
    unseen = "(baseline_images == 0 and images > 0)"
    supported = (
        f"(images >= {rules.new_min_images} and authors >= {rules.new_min_authors} "
        f"and p_adjusted < {alpha!r})"
    )
    up = (
        f"(p_adjusted < {alpha!r} and delta > 0 and delta >= {rise!r} "
        f"and authors >= {rules.min_authors} and top_author_share <= {top!r})"
    )
    down = f"(p_adjusted < {alpha!r} and delta < 0 and delta <= {fall!r})"
    judged = f"not {short} and not {unseen}"
    meets = {
        INSUFFICIENT: (
            f"{short} or ({unseen} and not {supported})",
            f"fewer than {rules.min_images} ok images or {rules.min_baseline_images} baseline ok "
            "images, or unseen before without support",
        ),
        NEW: (f"not {short} and {unseen} and {supported}", "every new condition"),
        RISING: (f"{judged} and {up}", "every rising condition"),
        FALLING: (f"{judged} and {down}", "every falling condition"),
        STABLE: (f"{judged} and not {up} and not {down}", "no new, rising or falling condition"),
    }
    judged_trends = (NEW, RISING, FALLING, STABLE)
    return [
        # what each label needs
        _needs(
            gx,
            judged_trends,
            "ok_images",
            f"ok_images >= min_images ({rules.min_images})",
            low=rules.min_images,
        ),
        _needs(
            gx,
            judged_trends,
            "baseline_ok_images",
            f"baseline_ok_images >= min_baseline_images ({rules.min_baseline_images})",
            low=rules.min_baseline_images,
        ),
        *[
            _needs(
                gx,
                [t],
                "p_adjusted",
                f"p_adjusted < alpha ({alpha:g})",
                high=alpha,
                strict_high=True,
            )
            for t in (RISING, FALLING, NEW)
        ],
        _needs(gx, [RISING], "delta", f"delta >= min_delta ({rules.min_delta:g})", low=rise),
        _needs(gx, [FALLING], "delta", f"delta <= -min_delta ({-rules.min_delta:g})", high=fall),
        _needs(
            gx,
            [RISING],
            "authors",
            f"authors >= min_authors ({rules.min_authors})",
            low=rules.min_authors,
        ),
        _needs(
            gx,
            [RISING],
            "top_author_share",
            f"top_author_share <= max_top_author_share ({rules.max_top_author_share:g})",
            high=top,
        ),
        _needs(gx, [NEW], "baseline_images", "baseline_images = 0", low=0, high=0),
        _needs(
            gx,
            [NEW],
            "images",
            f"images >= new_min_images ({rules.new_min_images})",
            low=rules.new_min_images,
        ),
        _needs(
            gx,
            [NEW],
            "authors",
            f"authors >= new_min_authors ({rules.new_min_authors})",
            low=rules.new_min_authors,
        ),
        *[
            ex.ExpectColumnValuesToNotBeNull(
                column=column,
                **_where(f"trend in {list(trends)!r}"),
                description=f"{'/'.join(trends)} needs a {column}",
            )
            for column, trends in (
                ("p_adjusted", (RISING, FALLING, NEW)),
                ("delta", (RISING, FALLING)),
                ("authors", (RISING, NEW)),
                ("top_author_share", (RISING,)),
            )
        ],
        # which label each row's numbers give
        *[
            _in_set(gx, "trend", [trend], condition, f"{trend}: a row meeting {what} reads {trend}")
            for trend, (condition, what) in meets.items()
        ],
    ]


def trends_suite(gx: Any, ctx: SuiteContext, key_column: str) -> list[Any]:
    """Trend tables: keys, ranges, statistics consistent with their counts, trends with the
    configured thresholds (when ``ctx.trend_rules`` is set)."""
    ex = gx.expectations
    rules = [
        *_not_null(gx, ["location", key_column, "kind", "label", "trend", "share"]),
        *_partition(gx, ctx, key_column),
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["location", key_column, "kind", "label", "fine_label"]
        ),
        _in_set(gx, "kind", KINDS),
        _in_set(gx, "trend", TRENDS),
        _in_set(gx, "evidence", EVIDENCE),
        *_between(
            gx, ["share", "baseline_share", "p_value", "p_adjusted", "top_author_share"], 0.0, 1.0
        ),
        *_between(gx, ["images", "objects", "ok_images", "baseline_images"], 0, None),
        *_between(gx, ["authors", "ok_authors", "author_entropy", "dispersion"], 0, None),
        *_between(gx, ["rank"], 1, None),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="ok_images", column_B="images", or_equal=True
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="objects", column_B="images", or_equal=True
        ),
        *_statistics(gx),
    ]
    if ctx.trend_rules is not None:
        rules += _trend_rules(gx, ctx.trend_rules)
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
    if "baseline_share" in df.columns:
        df = df.assign(**_statistic_gaps(df))
    return df


def _gap(value: pd.Series, formula: pd.Series) -> pd.Series:
    """``|value - formula|``: 0 where both are null, infinite where only one of them is."""
    both_null = value.isna() & formula.isna()
    return (value - formula).abs().mask(both_null, 0.0).fillna(math.inf)


def _statistic_gaps(df: pd.DataFrame) -> dict[str, pd.Series]:
    """How far each test statistic of a trend table is from its formula (see the contract)."""
    b_ok = df["baseline_ok_images"]
    baseline_share = df["baseline_images"] / b_ok.where(b_ok > 0)
    expected_share = df["baseline_share"] + df["weekday_effect"].fillna(0.0)
    return {
        "baseline_share_gap": _gap(df["baseline_share"], baseline_share),
        "expected_share_gap": _gap(df["expected_share"], expected_share),
        "delta_gap": _gap(df["delta"], df["share"] - df["expected_share"]),
        # null where either is (untested rows)
        "p_adjusted_excess": df["p_adjusted"] - df["p_value"],
    }
