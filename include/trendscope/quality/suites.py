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

from trendscope.tables.schemas import (
    COLOUR_FAMILIES,
    ENGAGEMENT_VERDICTS,
    OTHER,
    STATUS_DUPLICATE,
    STATUS_OK,
    STATUSES,
    TAG_KINDS,
)
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

KINDS = ("object", "scene", "colour")
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
    # target -> (name, version, sha256) of its registered classifier (targets.<t>.classifier)
    fine_models: Mapping[str, tuple[str, int, str]] = field(default_factory=dict)
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


def _fine_labels(
    gx: Any, ctx: SuiteContext, where: str = "", *, spans_days: bool = False
) -> list[Any]:
    """Each target's fine labels are its configured set or ``other``.

    A table over several days (a week, an engagement window) may hold a registered target's
    previous model's labels from before a model change; its rows come from detections checked
    against the model of their day, so those targets are not checked again there.
    """
    return [
        _in_set(gx, "fine_label", [*labels, OTHER], f"{where}label=={target!r}")
        for target, labels in sorted(ctx.fine_labels.items())
        if not (spans_days and target in ctx.fine_models)
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
    for target, (name, version, sha256) in sorted(ctx.fine_models.items()):
        where = f"label=={target!r} and fine_label==fine_label"  # not null
        rules += [  # a registered model's rows name it, its version and its file
            _in_set(gx, "fine_model", [name], where, description=f"targets.{target}.classifier"),
            _in_set(gx, "fine_model_version", [version], where),
            _in_set(gx, "fine_model_sha256", [sha256], where),
        ]
    return rules


def _belongs_to_ok_image(gx: Any) -> Any:
    return gx.expectations.ExpectColumnValuesToNotBeNull(
        column="image_width", description="every row belongs to an ok image of the day"
    )


def colors_suite(gx: Any, ctx: SuiteContext) -> list[Any]:
    """``colors``: keys, CIELAB ranges, families, ranks 1..n and fractions summing to 1 per
    detection, targets only, rows of ok images."""
    ex = gx.expectations
    rules = [
        *_not_null(gx, ["image_id", "location", "date", "detection", "label", "rank", "family"]),
        *_not_null(gx, ["L", "a", "b", "hex", "name", "fraction"]),
        *_partition(gx, ctx, "date"),
        ex.ExpectCompoundColumnsToBeUnique(column_list=["image_id", "detection", "rank"]),
        *_between(gx, ["L"], 0.0, 100.0),
        *_between(gx, ["a", "b"], -128.0, 128.0),
        ex.ExpectColumnValuesToBeBetween(
            column="fraction", min_value=0.0, max_value=1.0, strict_min=True
        ),
        _in_set(gx, "family", COLOUR_FAMILIES),
        ex.ExpectColumnValuesToMatchRegex(column="hex", regex=r"^#[0-9a-f]{6}$"),
        _gap_rule(gx, "rank_gap", "a detection's ranks are 1, 2, ... n without gaps"),
        _gap_rule(gx, "fraction_sum_gap", "a detection's fractions sum to 1"),
        _gap_rule(gx, "fraction_rise", "a better rank never has a smaller fraction"),
        _belongs_to_ok_image(gx),
    ]
    if ctx.fine_labels:
        rules.append(_in_set(gx, "label", sorted(ctx.fine_labels), description="targets only"))
    return rules


def tags_suite(gx: Any, ctx: SuiteContext) -> list[Any]:
    """``tags``: keys, kinds, importances in [0, 1] with 1 for each image's top tag, ranks
    1..n in importance order, tags from the vocabularies, rows of ok images."""
    ex = gx.expectations
    rules = [
        *_not_null(gx, ["image_id", "location", "date", "rank", "tag", "kind", "importance"]),
        *_partition(gx, ctx, "date"),
        ex.ExpectCompoundColumnsToBeUnique(column_list=["image_id", "kind", "tag"]),
        _in_set(gx, "kind", TAG_KINDS),
        *_between(gx, ["importance", "area_share", "confidence", "centrality"], 0.0, 1.0),
        *_between(gx, ["score"], 0.0, None),
        *_between(gx, ["objects"], 1, None),
        _gap_rule(gx, "rank_gap", "an image's ranks are 1, 2, ... n without gaps"),
        _gap_rule(gx, "top_importance_gap", "each image's top tag has importance 1"),
        _gap_rule(gx, "importance_rise", "a better rank never has a smaller importance"),
        _belongs_to_ok_image(gx),
    ]
    if ctx.vocabulary:
        rules.append(_in_set(gx, "tag", ctx.vocabulary, 'kind=="object"'))
    if ctx.scene_labels:
        rules.append(
            _in_set(gx, "tag", [s for s in ctx.scene_labels if s != OTHER], 'kind=="scene"')
        )
    if ctx.fine_labels:
        fine = [f"{t}/{f}" for t, labels in sorted(ctx.fine_labels.items()) for f in labels]
        rules.append(_in_set(gx, "tag", fine, 'kind=="fine"'))
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
    if key_column == "date":  # trends_daily: shares weighted by tag importance, when filled
        rules += [
            *_between(gx, ["weighted_share"], 0.0, 1.0),
            ex.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="share_ceiling",
                column_B="weighted_share",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description="weighted_share <= share (importances are at most 1)",
            ),
        ]
    if ctx.trend_rules is not None:
        rules += _trend_rules(gx, ctx.trend_rules)
    if ctx.vocabulary:
        rules.append(_in_set(gx, "label", ctx.vocabulary, 'kind=="object"'))
    if ctx.scene_labels:
        rules.append(_in_set(gx, "label", ctx.scene_labels, 'kind=="scene"'))
    if ctx.fine_labels:  # colour rows: <target>/<family>, totals only
        colours = [f"{t}/{f}" for t in sorted(ctx.fine_labels) for f in COLOUR_FAMILIES]
        rules.append(_in_set(gx, "label", colours, 'kind=="colour"'))
        rules.append(
            gx.expectations.ExpectColumnValuesToBeNull(
                column="fine_label", **_where('kind=="colour"')
            )
        )
    spans_days = key_column != "date"  # weeks and months may span a fine model change
    return rules + _fine_labels(gx, ctx, 'kind=="object" and ', spans_days=spans_days)


def engagement_suite(gx: Any, ctx: SuiteContext) -> list[Any]:
    """``engagement``: keys, counts that add up, rates and statistics consistent with their
    formulas, and each verdict following from ``p_adjusted``, the test's direction and ``alpha``."""
    ex = gx.expectations
    counts = ["posts", "rated_posts", "label_posts", "rated_with", "rated_without"]
    rules = [
        *_not_null(gx, ["location", "date", "window_days", "window_start", "kind", "label"]),
        *_not_null(gx, [*counts, "engagement"]),
        *_partition(gx, ctx, "date"),
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["window_days", "kind", "label", "fine_label"]
        ),
        _in_set(gx, "kind", KINDS),
        _in_set(gx, "engagement", ENGAGEMENT_VERDICTS),
        *_between(gx, ["window_days", "label_posts"], 1, None),
        *_between(gx, counts, 0, None),
        *_between(gx, ["share", "engagement_share", "auc", "p_value", "p_adjusted"], 0.0, 1.0),
        *_between(gx, ["median_with", "median_without", "lift", "u_statistic"], 0.0, None),
        *[
            ex.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True)
            for a, b in (
                ("posts", "rated_posts"),
                ("posts", "label_posts"),
                ("label_posts", "rated_with"),
            )
        ],
        _gap_rule(gx, "rated_gap", "rated_with + rated_without = rated_posts"),
        _gap_rule(gx, "share_gap", "share = rated_with / rated_posts"),
        _gap_rule(gx, "lift_gap", "lift = median_with / median_without"),
        _gap_rule(gx, "auc_gap", "auc = u_statistic / (rated_with * rated_without)"),
        _gap_rule(gx, "window_gap", "window_start = date - (window_days - 1) days"),
        ex.ExpectColumnValuesToBeBetween(
            column="p_adjusted_excess",
            min_value=-SHARE_TOLERANCE,
            description="p_adjusted >= p_value (Benjamini-Hochberg never lowers a p-value)",
        ),
        ex.ExpectColumnValuesToBeNull(
            column="p_value", **_where('engagement=="insufficient"'), description="untested"
        ),
        *[
            ex.ExpectColumnValuesToNotBeNull(
                column=c,
                **_where('engagement!="insufficient"'),
                description="a verdict needs a test",
            )
            for c in ("u_statistic", "auc", "p_value", "p_adjusted")
        ],
    ]
    if ctx.trend_rules is not None:
        alpha = ctx.trend_rules.alpha
        for name, condition in (
            ("higher", f"p_adjusted < {alpha!r} and auc > 0.5"),
            ("lower", f"p_adjusted < {alpha!r} and auc < 0.5"),
            ("similar", f"p_adjusted >= {alpha!r}"),
        ):
            rules.append(
                _in_set(gx, "engagement", [name], condition, f"a row with {condition} is {name}")
            )
    if ctx.vocabulary:
        rules.append(_in_set(gx, "label", ctx.vocabulary, 'kind=="object"'))
    if ctx.scene_labels:
        rules.append(_in_set(gx, "label", ctx.scene_labels, 'kind=="scene"'))
    if ctx.fine_labels:  # colour labels: <target>/<family>
        colours = [f"{t}/{f}" for t in sorted(ctx.fine_labels) for f in COLOUR_FAMILIES]
        rules.append(_in_set(gx, "label", colours, 'kind=="colour"'))
    return rules + _fine_labels(gx, ctx, 'kind=="object" and ', spans_days=True)


def suite_rules(gx: Any, table: str, ctx: SuiteContext) -> list[Any]:
    """The expectations of ``table``'s partition described by ``ctx``."""
    if table == "images":
        return images_suite(gx, ctx)
    if table == "detections":
        return detections_suite(gx, ctx)
    if table == "colors":
        return colors_suite(gx, ctx)
    if table == "tags":
        return tags_suite(gx, ctx)
    if table == "trends_daily":
        return trends_suite(gx, ctx, "date")
    if table in ("trends_weekly", "trends_monthly"):
        return trends_suite(gx, ctx, "period")
    if table == "engagement":
        return engagement_suite(gx, ctx)
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
    if table_name in ("detections", "colors", "tags"):
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
    if table_name == "colors":
        df = df.assign(**_ranked_gaps(df, ["image_id", "detection"], "fraction", "fraction"))
    if table_name == "tags":
        df = df.assign(**_ranked_gaps(df, ["image_id"], "importance", "importance"))
    if "weighted_share" in df.columns:
        df["share_ceiling"] = df["share"] + SHARE_TOLERANCE
    if "share" in df.columns and "ok_images" in df.columns:
        expected = df["images"] / df["ok_images"].where(df["ok_images"] > 0)
        df["share_gap"] = (df["share"] - expected).abs().fillna(0.0)
    if "baseline_share" in df.columns:
        df = df.assign(**_statistic_gaps(df))
    if table_name == "engagement":
        df = df.assign(**_engagement_gaps(df))
    return df


def _ranked_gaps(df: pd.DataFrame, group: list[str], value: str, name: str) -> dict[str, pd.Series]:
    """Per group of ranked rows: ``rank_gap`` (rank against 1..n), ``<name>_rise`` (how much a
    row's value exceeds the previous rank's) and, for fractions, ``fraction_sum_gap`` (|sum - 1|)
    or, for importances, ``top_importance_gap`` (|max - 1|)."""
    if df.empty:
        empty = df[value].astype("float64")
        out = {"rank_gap": empty, f"{name}_rise": empty}
        out["fraction_sum_gap" if name == "fraction" else "top_importance_gap"] = empty
        return out
    ordered = df.sort_values([*group, "rank"])
    grouped = ordered.groupby(group, sort=False, dropna=False)
    expected = grouped.cumcount() + 1
    rise = (ordered[value] - grouped[value].shift(1)).clip(lower=0.0).fillna(0.0)
    out = {
        "rank_gap": (ordered["rank"] - expected).abs().astype("float64"),
        f"{name}_rise": rise,
    }
    if name == "fraction":
        out["fraction_sum_gap"] = (grouped[value].transform("sum") - 1.0).abs()
    else:
        out["top_importance_gap"] = (grouped[value].transform("max") - 1.0).abs()
    return {k: v.reindex(df.index).fillna(math.inf) for k, v in out.items()}


def _gap(value: pd.Series, formula: pd.Series) -> pd.Series:
    """``|value - formula|``: 0 where both are null, infinite where only one of them is."""
    both_null = value.isna() & formula.isna()
    return (value - formula).abs().mask(both_null, 0.0).fillna(math.inf)


def _engagement_gaps(df: pd.DataFrame) -> dict[str, pd.Series]:
    """How far each ``engagement`` statistic is from its formula (see the contract)."""
    import pandas as pd

    rated, n1, n2 = df["rated_posts"], df["rated_with"], df["rated_without"]
    m2 = df["median_without"]
    pairs = (n1 * n2).astype("float64")
    days = (pd.to_datetime(df["date"]) - pd.to_datetime(df["window_start"])).dt.days
    return {
        "rated_gap": (n1 + n2 - rated).abs().astype("float64").fillna(math.inf),
        "share_gap": _gap(df["share"], n1 / rated.where(rated > 0)),
        "lift_gap": _gap(df["lift"], df["median_with"] / m2.where(m2 > 0)),
        "auc_gap": _gap(df["auc"], df["u_statistic"] / pairs.where(pairs > 0)),
        "window_gap": (days - (df["window_days"] - 1)).abs().astype("float64").fillna(math.inf),
        "p_adjusted_excess": df["p_adjusted"] - df["p_value"],
    }


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
