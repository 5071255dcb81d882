"""The ``trendscope`` command line: the same functions the Airflow tasks and pods call."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from trendscope.cli.args import _age, _common, _config, _date, _run_id
from trendscope.config import ConfigError, TrendscopeConfig, load_config

if TYPE_CHECKING:
    from trendscope.pipeline.gc import GcReport, Publish
    from trendscope.pipeline.status import StatusGrid
    from trendscope.trends.explain import Explanation

log = logging.getLogger("trendscope")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trendscope", description="Visual trends in social-media photos."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a whole location-day (ingest, analyze, publish, trends)")
    _common(p)
    p.add_argument("--source-dir", help="drop zone (overrides source.path)")
    _run_id(p)

    for step, text in (
        ("ingest", "stage the images of a location-day from the drop zone"),
        ("analyze", "detect, crop and classify the staged images (the GPU step)"),
        ("publish", "publish the staged partitions atomically"),
        ("compute-trends", "compute trends_daily from the published partitions"),
    ):
        p = sub.add_parser(step, help=text)
        _common(p)
        if step == "ingest":
            p.add_argument("--source-dir", help="drop zone (overrides source.path)")
        if step == "analyze":
            p.add_argument("--shard", default="0/1", help="i/N: analyze every N-th ok image from i")
        _run_id(p)

    p = sub.add_parser("k8s-pod", help="print the analyze pod manifest the DAG would launch (YAML)")
    _common(p, location=False)
    p.add_argument("--location", help="location slug from the config")
    p.add_argument("--date", type=_date, help="day to process, YYYY-MM-DD")
    p.add_argument("--shard", default="0/1", help="i/N")
    p.add_argument(
        "--config-map",
        action="store_true",
        help="print the ConfigMap the pods mount (the resolved config) instead",
    )

    p = sub.add_parser("trends", help="print the trend table of a location-day (or its period)")
    _common(p)
    p.add_argument("--top", type=int, default=15, help="label totals to show")
    p.add_argument(
        "--period", choices=["week", "month"], help="the published rollup of the week/month of D"
    )
    p.add_argument(
        "--compare", action="store_true", help="all locations side by side for the day/period"
    )

    p = sub.add_parser("explain", help="why a label is (or is not) flagged on a location-day")
    _common(p)
    p.add_argument("--label", required=True, help="COCO label (objects) or scene category")
    p.add_argument("--fine-label", help="one fine label of the object label (e.g. tabby)")
    p.add_argument("--kind", choices=["object", "scene", "colour"], default="object")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")

    p = sub.add_parser("rollup", help="compute trends_weekly/trends_monthly of a location-period")
    _common(p, location=False)
    p.add_argument("--location", required=True, help="location slug from the config")
    p.add_argument("--period", required=True, help="ISO week YYYY-Www or month YYYY-MM")

    p = sub.add_parser("validate", help="run a table's expectation suite on one partition")
    _common(p, location=False)
    p.add_argument("--table", required=True, help="images, detections, trends_daily, ...")
    p.add_argument("--location", required=True, help="location slug from the config")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=_date, help="day of a daily table, YYYY-MM-DD")
    when.add_argument("--period", help="week YYYY-Www or month YYYY-MM of a rollup table")
    p.add_argument("--staged", action="store_true", help="validate the staged partition")

    p = sub.add_parser("query", help="run SQL over the published tables (DuckDB views)")
    _common(p, location=False)
    p.add_argument("sql", help="e.g. SELECT label, sum(images) FROM trends_daily GROUP BY 1")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = sub.add_parser("report", help="write a self-contained HTML trend report for a range")
    _common(p, location=False)
    p.add_argument("--from", dest="start", required=True, type=_date, help="first day")
    p.add_argument("--to", dest="end", required=True, type=_date, help="last day")
    p.add_argument("--location", help="one location slug (default: all)")
    p.add_argument("--out", required=True, help="HTML file to write")

    p = sub.add_parser(
        "status",
        help="which location-days are published, failed, stale, in staging or missing",
        description="Print a day x location grid of the pipeline's state. Exit code: 0 when "
        "every location-day is published and fresh, 1 when any is not, 2 for a usage or "
        "config error.",
    )
    _common(p, location=False)
    p.add_argument("--source-dir", help="drop zone (overrides source.path)")
    p.add_argument(
        "--from",
        dest="start",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first day (default: 14 days back)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=_date,
        metavar="YYYY-MM-DD",
        help="last day (default: yesterday, UTC)",
    )
    p.add_argument("--location", help="one location slug (default: all)")
    p.add_argument("--json", action="store_true", help="print the grid as JSON")

    p = sub.add_parser(
        "gc",
        help="remove abandoned staging, old validation results and Data Docs pages",
        description="Finish interrupted publishes, then remove staged files of abandoned "
        "location-days, per-run validation results (never latest.json) and Data Docs runs older "
        "than --older-than. Never a published partition, the runs table or a live lease.",
    )
    _common(p, location=False)
    p.add_argument(
        "--older-than",
        type=_age,
        metavar="AGE",
        help="30d, 12h or 90m, by modification time (default: retention.days)",
    )
    p.add_argument("--dry-run", action="store_true", help="remove nothing; list what would go")
    p.add_argument("--location", help="one location slug (default: all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "recover", help="finish the publishes a crash interrupted after their intent was written"
    )
    _common(p, location=False)
    p.add_argument("--location", help="one location slug (default: all)")

    p = sub.add_parser("demo-data", help="build the demo drop zone from real packaged photos")
    p.add_argument("--out", required=True, help="directory to write (a previous demo is replaced)")
    p.add_argument("--config", help="config YAML (locations and start_date)")
    p.add_argument("--start", type=_date, help="first day (default: start_date from the config)")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--posts-per-day", type=int, default=30)

    p = sub.add_parser("fetch-models", help="download and verify the offline model files")
    p.add_argument("--config", help="config YAML (models_dir)")
    p.add_argument("--models-dir", help="where to put the models (overrides models_dir)")

    p = sub.add_parser("bench", help="time the analyze step against its decode and model ceilings")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: the config's devices")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--workdir", default="/tmp/trendscope-bench-pipeline", help="images cache")
    p.add_argument(
        "--memory", action="store_true", help="only the pipeline, streaming N images: peak RSS"
    )
    p.add_argument("--config", help="config YAML: its models, batch_size, analyze.workers ...")

    p = sub.add_parser("check-config", help="validate the config and print it")
    p.add_argument("--config")

    p = sub.add_parser(
        "unlock", help="break a location-day's lease (a dead run's; a live run would interleave)"
    )
    _common(p)
    for module in _extensions():
        module.register(sub)
    return parser


def _extensions() -> list:
    """Subcommand modules beside this one; each has ``register(sub)`` and ``HANDLERS``."""
    import importlib

    return [importlib.import_module(f"trendscope.cli.{name}") for name in EXTENSIONS]


#: Modules of ``trendscope.cli`` that add subcommands (kept light: heavy imports inside handlers).
EXTENSIONS: tuple[str, ...] = ("insights", "detector", "training")


def _cmd_run(args: argparse.Namespace) -> int:
    from trendscope.pipeline.run import run_day

    config = _config(args)
    results = run_day(
        config, args.location, args.date, source_dir=args.source_dir, run_id=args.run_id
    )
    for result in results:
        print(result.summary())
    return print_trends(config, args.location, args.date, top=15)


def _cmd_step(args: argparse.Namespace) -> int:
    from trendscope.pipeline.run import run_step
    from trendscope.pipeline.shards import Shard

    config = _config(args)
    step = "trends" if args.command == "compute-trends" else args.command
    result = run_step(
        config,
        step,
        args.location,
        args.date,
        shard=Shard.parse(args.shard) if step == "analyze" else None,
        source_dir=args.source_dir if step == "ingest" else None,
        run_id=args.run_id,
    )
    print(json.dumps(result.to_dict()))
    return 0


_TREND_ORDER = {"rising": 0, "new": 1, "falling": 2, "stable": 3, "insufficient": 4}


def _trend_order(r: dict) -> tuple:
    return (
        _TREND_ORDER.get(r["trend"], 9),
        r["p_adjusted"] if r["p_adjusted"] is not None else 2,
        r["rank"],
    )


def _print_trend_rows(rows: list[dict], top: int) -> None:
    """Objects, fine labels, scenes and colours of one location-day/period: rising first, then
    by rank."""
    from trendscope.display import format_rows

    cols = ["label", "images", "authors", "top_share", "share", "baseline", "expected"]
    cols += ["delta", "lift", "p_adj", "trend"]
    rows = [
        r
        | {
            "top_share": r["top_author_share"],
            "baseline": r["baseline_share"],
            "expected": r["expected_share"],
            "p_adj": r["p_adjusted"],
        }
        for r in rows
    ]
    print(
        "authors: distinct authors showing it; top_share: share of its images from its most "
        "active author;\nexpected: baseline share + weekday effect; delta = share - expected; "
        "p_adj: adjusted p-value"
    )
    objects = sorted(
        (r for r in rows if r["kind"] == "object" and r["fine_label"] is None), key=_trend_order
    )
    print("\nObjects\n" + format_rows(objects[:top], cols))
    fine = sorted(
        (r for r in rows if r["fine_label"] is not None),
        key=lambda r: (r["label"], *_trend_order(r)),
    )
    if fine:
        print("\nFine labels of targets\n" + format_rows(fine, ["label", "fine_label", *cols[1:]]))
    scenes = sorted((r for r in rows if r["kind"] == "scene"), key=_trend_order)
    if scenes:
        print("\nScenes\n" + format_rows(scenes, cols))
    colours = sorted(
        (r for r in rows if r["kind"] == "colour"),
        key=lambda r: (r["label"].split("/")[0], *_trend_order(r)),
    )
    if colours:
        print(
            "\nColours of targets (label/dominant colour family of each object)\n"
            + format_rows(colours, cols)
        )


def print_trends(config: TrendscopeConfig, location: str, day: date, top: int = 15) -> int:
    """Print a location-day's trend table: rising labels first, then by rank."""
    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import TRENDS_DAILY

    storage.use(config.storage)
    path = partition_path(config.data_root, TRENDS_DAILY.name, location, day)
    if not storage.exists(path):
        print(f"no trends for {location} {day}: {path} does not exist", file=sys.stderr)
        return 1
    rows = [
        r
        for r in storage.read_table(path, TRENDS_DAILY).to_pylist()
        if r["images"] or r["baseline_images"]
    ]
    ok = rows[0]["ok_images"] if rows else 0
    print(f"\nTrends for {location} on {day} ({ok} ok images)   table: {path}")
    _print_trend_rows(rows, top)
    return 0


def print_period_trends(
    config: TrendscopeConfig, location: str, day: date, period: str, top: int = 15
) -> int:
    """Print the published weekly/monthly rollup of the period containing ``day``."""
    from trendscope.tables import storage
    from trendscope.tables.paths import period_partition_path
    from trendscope.trends.calendar import period_key
    from trendscope.trends.rollups import rollup_contract

    storage.use(config.storage)
    config.location(location)
    key = period_key(day, period)  # type: ignore[arg-type]
    contract_ = rollup_contract(key)
    path = period_partition_path(config.data_root, contract_.name, location, key)
    if not storage.exists(path):
        print(
            f"no {contract_.name} for {location} {key}: {path} does not exist\n"
            f"compute it with: trendscope rollup --location {location} --period {key} "
            f"--data-dir {config.data_root}",
            file=sys.stderr,
        )
        return 1
    rows = [
        r
        for r in storage.read_table(path, contract_).to_pylist()
        if r["images"] or r["baseline_images"]
    ]
    ok = rows[0]["ok_images"] if rows else 0
    days = rows[0]["days"] if rows else 0
    print(
        f"\nTrends for {location} in {key} ({ok} ok images over {days} days, "
        f"against the previous {rows[0]['baseline_periods'] if rows else 0} "
        f"{period}s with data)   table: {path}"
    )
    _print_trend_rows(rows, top)
    return 0


_COMPARISON_ORDER = {"higher": 0, "lower": 1, "similar": 2, "insufficient": 3}


def print_comparison(config: TrendscopeConfig, key: str, top: int = 15) -> int:
    """Print every location's share of each label in period ``key`` side by side.

    Each cell is ``share`` and, in brackets, the comparison with all other locations pooled
    (``+`` higher, ``-`` lower, ``=`` similar, ``?`` insufficient).
    """
    from trendscope.display import format_rows
    from trendscope.trends.rollups import compare_locations_for_period

    table = compare_locations_for_period(config, key)
    rows = [r for r in table.to_pylist() if r["fine_label"] is None]
    if not rows:
        print(f"no published images for any location in {key}", file=sys.stderr)
        return 1
    locations = sorted({r["location"] for r in rows})
    mark = {"higher": "+", "lower": "-", "similar": "=", "insufficient": "?"}
    cells: dict[tuple[str, str], dict] = {}
    for r in rows:
        cells.setdefault((r["kind"], r["label"]), {})[r["location"]] = r
    ok = {r["location"]: r["ok_images"] for r in rows}

    def order(item: tuple) -> tuple:
        (kind, label), by_loc = item
        best = min(
            (_COMPARISON_ORDER.get(r["comparison"], 9), r["p_adjusted"] or 2)
            for r in by_loc.values()
        )
        return (kind != "object", *best, -sum(r["images"] for r in by_loc.values()), label)

    out = []
    for (kind, label), by_loc in sorted(cells.items(), key=order):
        line: dict = {"kind": kind, "label": label}
        for loc in locations:
            r = by_loc.get(loc)
            line[loc] = f"{r['share']:.3f} {mark.get(r['comparison'], '?')}" if r else "-"
        out.append(line)
    header = ", ".join(f"{loc} {ok[loc]}" for loc in locations)
    print(f"\nLocations compared in {key} (ok images: {header})")
    print("share and comparison with all other locations: + higher, - lower, = similar")
    print(format_rows(out[:top], ["kind", "label", *locations]))
    return 0


def _cmd_trends(args: argparse.Namespace) -> int:
    from trendscope.trends.calendar import period_key

    config = _config(args)
    if args.compare:
        key = period_key(args.date, args.period or "day")
        return print_comparison(config, key, args.top)
    if args.period:
        return print_period_trends(config, args.location, args.date, args.period, args.top)
    return print_trends(config, args.location, args.date, args.top)


def _num(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_explanation(e: Explanation) -> None:
    """Print why a label has its trend on a location-day (see :mod:`trendscope.trends.explain`)."""
    from trendscope.display import format_rows
    from trendscope.trends.explain import describe

    row, b, today = e.row, e.baseline, e.today
    name = describe((e.kind, e.label, e.fine_label))
    print(f"\n{name} at {e.location} on {e.date} ({today.weekday}): {e.trend}")
    print(f"  rule: {e.rule}")
    print(f"  table: {e.path}")
    if e.mismatches:
        print(
            "  WARNING: images/detections changed after these trends were computed ("
            + "; ".join(e.mismatches)
            + f"): re-run trendscope compute-trends --location {e.location} --date {e.date}"
        )

    print("\nThat day")
    print(
        f"  images {row['images']} of {row['ok_images']} ok (share {_num(row['share'])}), "
        f"authors {_num(row['authors'], 'd')} of {_num(row['ok_authors'], 'd')} "
        f"(author share {_num(today.author_share)}; evidence: {row['evidence'] or '-'})"
    )
    print(
        f"  top_author_share {_num(row['top_author_share'])}, "
        f"author_entropy {_num(row['author_entropy'], '.2f')} bits"
    )

    first, last = e.series[0].date, e.series[-1].date
    print(
        f"\nWindow: the {b.window_days} days before, {first} to {last} "
        f"({b.days} with ok images); the day judged last"
    )
    series = []
    for d in [*e.series, today]:
        line = {"date": d.date.isoformat(), "day": d.weekday}
        if d.published and d.ok_images:
            line |= {
                "ok_images": d.ok_images,
                "images": d.images,
                "share": d.share,
                "ok_authors": d.ok_authors,
                "authors": d.authors,
                "author_share": d.author_share,
            }
        note = "not published" if not d.published else "no ok images" if not d.ok_images else ""
        line["note"] = "<- judged" if d is today else note
        series.append(line)
    cols = ["date", "day", "ok_images", "images", "share", "ok_authors", "authors"]
    print(format_rows(series, [*cols, "author_share", "note"]))

    effect = b.weekday_note
    if b.weekday_effect is not None:
        effect = f"{b.weekday_effect:+.3f}  ({b.weekday_note})"
    print("\nBaseline and test")
    facts = [
        (
            "baseline_share",
            f"{_num(row['baseline_share'])}  ({b.images} of {b.ok_images} ok images "
            f"over {b.days} window days)",
        ),
        ("author share", f"{_num(b.author_share)}  (pooled authors showing it / posting)"),
        (
            "design_effect",
            f"{_num(b.design_effect, '.2f')}  (authors posting several images; today's counts "
            "are divided by it)",
        ),
        ("weekday effect", effect),
        ("expected_share", f"{_num(b.expected_share)}  (baseline_share + weekday effect)"),
        ("dispersion", f"{_num(b.dispersion)}  ({b.dispersion_note})"),
        ("statistic", f"{_num(b.statistic, '.2f')}  ((share - expected) / predictive sd, today)"),
        (
            "recent",
            f"{_num(b.recent_statistic, '.2f')}  (the same for the last recent_days days pooled)",
        ),
        ("p_value", f"{_num(b.p_value, '.2g')}  (the two tests combined, Simes)"),
        (
            "p_adjusted",
            f"{_num(b.p_adjusted, '.2g')}  (Benjamini-Hochberg over the location-day's labels)",
        ),
        ("delta, lift", f"{_num(row['delta'], '+.3f')}, {_num(row['lift'], '.2f')}"),
    ]
    for key, text in facts:
        print(f"  {key:<15} {text}")

    print(
        f"\nExamples ({len(e.examples)} of {row['images']} images showing it; "
        "one per author first, highest confidence first)"
    )
    if e.examples:
        examples = [
            {"confidence": x.confidence, "author": x.author, "source_uri": x.source_uri}
            for x in e.examples
        ]
        print(format_rows(examples, ["confidence", "author", "source_uri"]))
    else:
        print("  none: no ok image shows it that day")


def _cmd_explain(args: argparse.Namespace) -> int:
    from trendscope.trends.explain import NotPublished, explain

    config = _config(args)
    try:
        explanation = explain(
            config, args.location, args.date, args.label, args.fine_label, args.kind
        )
    except NotPublished as exc:
        print(f"error: --{exc.field}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(explanation.to_dict(), indent=1))
    else:
        print_explanation(explanation)
    return 0


def _cmd_rollup(args: argparse.Namespace) -> int:
    from trendscope.pipeline.rollup import rollup_period

    result = rollup_period(_config(args), args.location, args.period)
    print(json.dumps(result.to_dict()))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from trendscope.pipeline.validate import validate_stored

    key = args.date.isoformat() if args.date else args.period
    report = validate_stored(_config(args), args.table, args.location, key, staged=args.staged)
    print(report.summary())
    return 0 if report.success else 1


def _cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from trendscope.display import format_rows
    from trendscope.tables.query import run_query

    config = _config(args)
    try:
        table = run_query(config.data_root, args.sql)
    except duckdb.Error as exc:
        print(f"query failed: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        sys.stdout.write(buf.getvalue().decode("utf-8"))
    elif args.format == "json":
        print(json.dumps(table.to_pylist(), default=str, indent=1))
    else:
        print(format_rows(table.to_pylist(), table.column_names))
        print(f"({table.num_rows} rows)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from trendscope.report import build_report

    path = build_report(_config(args), args.start, args.end, args.location, args.out)
    print(f"report written to {path}")
    return 0


_ERROR_LINE = 300


def _short(text: str | None) -> str:
    """The first line of an error, cut for the terminal (``--json`` has it whole)."""
    lines = (text or "?").strip().splitlines() or ["?"]
    first = lines[0]
    cut = len(first) > _ERROR_LINE or len(lines) > 1
    return first[:_ERROR_LINE] + (" [...]" if cut else "")


def print_status(grid: StatusGrid, data_root: str) -> None:
    """Print a status grid: one row per day, one column per location, then what needs a look."""
    from trendscope.display import format_rows
    from trendscope.pipeline.status import FAILED, LEGEND, STAGING, STALE

    n = len(grid.days)
    print(
        f"Trendscope status, {grid.start} to {grid.end} ({n} day{'s' if n != 1 else ''}, "
        f"{len(grid.locations)} location{'s' if len(grid.locations) != 1 else ''})   "
        f"data: {data_root}\n"
    )
    rows = []
    for day in grid.days:
        row = {"date": day.isoformat(), "day": day.strftime("%a")}
        row |= {loc: grid.cell(loc, day).state for loc in grid.locations}
        rows.append(row)
    print(format_rows(rows, ["date", "day", *grid.locations]))
    counts = ", ".join(f"{k} {v}" for k, v in grid.counts().items() if v)
    verdict = "all published and fresh" if grid.ok else "NOT all published and fresh"
    print(f"\n{len(grid.cells)} location-days: {counts} ({verdict})")

    titles = {
        FAILED: "Failed (the step, when it started, the Airflow run, and its error)",
        STALE: "Stale (the source changed after the publish)",
        STAGING: "In staging (not published yet)",
    }
    for state, title in titles.items():
        cells = grid.in_state(state)
        if not cells:
            continue
        print(f"\n{title}:")
        for c in cells:
            where = f"  {c.location} {c.date}"
            if state != FAILED:
                print(f"{where}  {c.detail}")
            for f in c.failures if state == FAILED else ():
                shard = f" shard {f.shard}" if f.shard else ""
                run = f", run {f.run_id}" if f.run_id else ""
                when = f.started_at.strftime("%Y-%m-%d %H:%M UTC")
                print(f"{where}  {f.step}{shard}, {when}{run}\n      {_short(f.error)}")
    if not grid.ok:
        print(
            "\nRe-run a location-day with `trendscope run --location L --date D` "
            "(or clear its tasks in Airflow); see docs/operations.md."
        )
    print("\nLegend:")
    for state, text in LEGEND.items():
        print(f"  {state:<10} {text}")


def _cmd_status(args: argparse.Namespace) -> int:
    from trendscope.pipeline.status import status_grid, status_range

    config = _config(args)
    if args.location:
        config.location(args.location)
    try:
        start, end = status_range(config, args.start, args.end)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    grid = status_grid(config, start, end, [args.location] if args.location else None)
    if args.json:
        print(json.dumps(grid.to_dict(), indent=1))
    else:
        print_status(grid, config.data_root)
    return 0 if grid.ok else 1


def _size(n: float) -> str:
    """``512 B``, ``3.4 MB``."""
    units = ("B", "KB", "MB", "GB", "TB")
    step = 0
    while n >= 1024 and step < len(units) - 1:
        n, step = n / 1024, step + 1
    return f"{n:.0f} B" if step == 0 else f"{n:.1f} {units[step]}"


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _age_text(age: timedelta) -> str:
    """``30d``, ``12h`` or ``90m``: as ``--older-than`` takes it."""
    minutes = int(age.total_seconds() // 60)
    if minutes * 60 != age.total_seconds():
        return str(age)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _publish_line(verb: str, p: Publish) -> str:
    return f"{verb} publish {p.publish_id} of {p.location} {p.key} ({', '.join(p.tables)})"


def print_gc(report: GcReport) -> None:
    """Print what gc removed (or, on a dry run, would remove), then the totals per kind."""
    dry = report.dry_run
    cutoff = report.cutoff.strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"gc {report.data_root}: older than {_age_text(report.older_than)} (last written "
        f"before {cutoff}){' - dry run, nothing removed' if dry else ''}"
    )
    for p in report.recovered:
        print("  " + _publish_line("would finish" if dry else "finished", p))
    for p in report.in_progress:
        print("  " + _publish_line("left", p) + ": its run is live")
    verb = "would remove" if dry else "removed"
    for r in report.removed:
        print(f"  {verb}  {r.kind:<18}  {r.path}  ({_files(len(r.files))}, {_size(r.bytes)})")
    for kind, t in report.totals().items():
        if t["count"]:
            print(f"{kind}: {_files(t['files'])}, {_size(t['bytes'])}")
    print(f"total: {verb} {_files(report.files)}, {_size(report.bytes)}")


def _cmd_gc(args: argparse.Namespace) -> int:
    from trendscope.pipeline.gc import collect_garbage

    report = collect_garbage(
        _config(args), args.older_than, dry_run=args.dry_run, location=args.location
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print_gc(report)
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    from trendscope.pipeline.gc import recover_publishes

    finished, live = recover_publishes(_config(args), args.location)
    for p in finished:
        print(_publish_line("finished", p))
    for p in live:
        print(_publish_line("left", p) + ": its run is live")
    if not finished and not live:
        print("no interrupted publish")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from trendscope.demo import build_demo

    config = load_config(args.config)
    summary = build_demo(
        Path(args.out),
        start=args.start or config.start_date,
        days=args.days,
        posts_per_day=args.posts_per_day,
        locations={loc.slug: loc.timezone for loc in config.locations},
    )
    print(f"demo drop zone written to {args.out}: {summary}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from trendscope.models.fetch import fetch_models

    config = _config(args)
    for name, path in fetch_models(config.resolve(config.models_dir)).items():
        print(f"{name}: {path}")
    return 0


def _cmd_k8s_pod(args: argparse.Namespace) -> int:
    import yaml

    from trendscope.orchestration.k8s import config_map_manifest, pod_manifest
    from trendscope.pipeline.shards import Shard

    config = _config(args)
    if args.config_map:
        print(yaml.safe_dump(config_map_manifest(config), sort_keys=False), end="")
        return 0
    missing = [f"--{name}" for name in ("location", "date") if getattr(args, name) is None]
    if missing:
        print(f"error: {' and '.join(missing)} required (or --config-map)", file=sys.stderr)
        return 2
    config.location(args.location)
    manifest = pod_manifest(config, args.location, args.date, Shard.parse(args.shard))
    print(yaml.safe_dump(manifest, sort_keys=False), end="")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from trendscope.bench import main as bench_main

    if args.images < 1:
        print("error: --images must be at least 1", file=sys.stderr)
        return 2
    config = load_config(args.config)
    return bench_main(args.images, args.device, args.json, args.workdir, args.memory, config)


def _cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    return 0


def _cmd_unlock(args: argparse.Namespace) -> int:
    from trendscope.tables.locks import break_lease

    config = _config(args)
    config.location(args.location)
    removed = break_lease(config.data_root, args.location, args.date)
    print(f"removed the lease of {removed.describe()}" if removed else "no lease to remove")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handlers = {
        "run": _cmd_run,
        "ingest": _cmd_step,
        "analyze": _cmd_step,
        "publish": _cmd_step,
        "compute-trends": _cmd_step,
        "trends": _cmd_trends,
        "explain": _cmd_explain,
        "rollup": _cmd_rollup,
        "validate": _cmd_validate,
        "query": _cmd_query,
        "report": _cmd_report,
        "status": _cmd_status,
        "gc": _cmd_gc,
        "recover": _cmd_recover,
        "demo-data": _cmd_demo,
        "fetch-models": _cmd_fetch,
        "check-config": _cmd_check,
        "k8s-pod": _cmd_k8s_pod,
        "bench": _cmd_bench,
        "unlock": _cmd_unlock,
    }
    for module in _extensions():
        handlers.update(module.HANDLERS)
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
