"""``trendscope authors``, ``engagement`` and ``instabae``: who posts a label, how it engages,
and how well a photo's content predicts its engagement; plus the printers ``make run`` uses for
engagement and colour trends."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from trendscope.cli.args import _common, _config, _date
from trendscope.config import TrendscopeConfig


def _range(p: argparse.ArgumentParser) -> None:
    _common(p, location=False)
    p.add_argument("--location", required=True, help="location slug from the config")
    p.add_argument("--from", dest="start", required=True, type=_date, help="first day")
    p.add_argument("--to", dest="end", required=True, type=_date, help="last day")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``authors``, ``engagement`` and ``instabae`` to the ``trendscope`` subcommands."""
    p = sub.add_parser("authors", help="the authors behind a label over a range of days")
    _range(p)
    p.add_argument("--label", help="cat, cat/tabby (fine), food (scene), handbag/red (colour)")
    p.add_argument("--kind", choices=["object", "scene", "colour"], help="only this kind of label")
    p.add_argument("--top", type=int, default=20, help="authors to show")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    p = sub.add_parser("engagement", help="engagement per label of a location-day (lift, test)")
    _common(p)
    p.add_argument("--window", type=int, help="window_days (default: the configured window)")
    p.add_argument("--top", type=int, default=15, help="labels to show")

    p = sub.add_parser("instabae", help="regress engagement rate on what the photos show")
    _range(p)
    p.add_argument("--model", choices=["ridge", "gbr"], default="ridge")
    p.add_argument("--seed", type=int, default=0, help="seed of the 8:2 holdout split")
    p.add_argument(
        "--splits", type=int, default=20, help="also the mean over this many seeded splits (0: no)"
    )
    p.add_argument("--json", help="also write the result as JSON here")


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise SystemExit(f"error: --to {end} is before --from {start}")
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def _cmd_authors(args: argparse.Namespace) -> int:
    from trendscope.display import format_rows
    from trendscope.tables import storage
    from trendscope.trends.authors import author_rows
    from trendscope.trends.engagement import read_posts

    config = _config(args)
    config.location(args.location)
    storage.use(config.storage)
    posts = read_posts(config.data_root, args.location, _days(args.start, args.end))
    rows = author_rows(posts, args.label, args.kind)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    what = f"posts showing {args.label!r}" if args.label else "posts"
    unknown = sum(1 for p in posts if p.author is None)
    print(
        f"Authors of {what} in {args.location}, {args.start} to {args.end} "
        f"({len(posts)} ok posts, {unknown} without an author)\n"
        "label_posts: their posts showing it; share: of its posts by known authors; entropy: "
        "bits over the label combinations of all their posts (0 = always the same kind of photo)"
    )
    cols = ["author", "posts", "label_posts", "share", "combinations", "entropy"]
    print(format_rows(rows[: args.top], cols) if rows else "(no author posted it)")
    return 0


def _engagement_rows(
    config: TrendscopeConfig, locations: Sequence[str], day: date, window: int | None
) -> list[dict[str, Any]]:
    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import ENGAGEMENT

    window = window or config.engagement.window_days
    rows: list[dict[str, Any]] = []
    for slug in locations:
        path = partition_path(config.data_root, ENGAGEMENT.name, slug, day)
        try:
            table = storage.read_table(path, ENGAGEMENT)
        except FileNotFoundError:
            continue
        rows += [r for r in table.to_pylist() if r["window_days"] == window]
    return rows


_ENGAGEMENT_COLS = ["label", "with", "without", "median_with", "median_without", "lift"]
_ENGAGEMENT_COLS += ["share", "weighted", "p_adj", "engagement"]


def _engagement_view(r: dict[str, Any]) -> dict[str, Any]:
    label = r["label"] if r["fine_label"] is None else f"{r['label']}/{r['fine_label']}"
    if r["kind"] == "scene":
        label = f"scene:{label}"
    return r | {
        "label": label,
        "with": r["rated_with"],
        "without": r["rated_without"],
        "weighted": r["engagement_share"],
        "p_adj": r["p_adjusted"],
    }


def _engagement_order(r: dict[str, Any]) -> tuple:
    tested = r["p_adjusted"] is not None
    return (not tested, r["p_adjusted"] if tested else 0.0, -(r["lift"] or 0.0), r["label"])


def print_engagement(
    config: TrendscopeConfig, location: str, day: date, window: int | None = None, top: int = 15
) -> int:
    """Print a location-day's engagement table: tested labels by p_adjusted, then the rest."""
    from trendscope.display import format_rows

    rows = _engagement_rows(config, [location], day, window)
    if not rows:
        print(f"no engagement rows for {location} {day} (no rated posts, or not computed yet)")
        return 1
    first = rows[0]
    print(
        f"\nEngagement in {location}, {first['window_start']} to {day} "
        f"({first['rated_posts']} of {first['posts']} posts with likes and followers)\n"
        "rate = likes / followers; lift = median rate with / without the label; weighted: its "
        "share of all likes per follower\n(beside share: its share of the posts); p_adj: "
        "Mann-Whitney U, Benjamini-Hochberg"
    )
    rows = sorted((_engagement_view(r) for r in rows), key=_engagement_order)
    print(format_rows(rows[:top], _ENGAGEMENT_COLS))
    return 0


def print_engagement_summary(config: TrendscopeConfig, day: date, top: int = 5) -> None:
    """For ``make run``: each location's labels with the largest significant engagement lifts
    over the configured window ending on ``day`` (a line when there is nothing to show)."""
    from trendscope.display import format_rows

    window = config.engagement.window_days
    print(f"\nEngagement, {window} days to {day} (likes / followers of posts with vs without)")
    shown = False
    for slug in config.location_slugs:
        rows = _engagement_rows(config, [slug], day, window)
        tested = [_engagement_view(r) for r in rows if r["p_adjusted"] is not None]
        rated = rows[0]["rated_posts"] if rows else 0
        if not tested:
            print(f"{slug}: no label tested ({rated} posts with likes and followers)")
            continue
        tested.sort(key=lambda r: (r["engagement"] == "similar", r["p_adj"], -(r["lift"] or 0)))
        cols = ["label", "with", "without", "lift", "p_adj", "engagement"]
        print(f"{slug} ({rated} rated posts)\n" + format_rows(tested[:top], cols))
        shown = True
    if not shown:
        print("(no location had enough posts with likes and followers)")


def print_colour_trends(config: TrendscopeConfig, day: date, top: int = 3) -> None:
    """For ``make run``: per location and target label, its colours on ``day`` with the highest
    share (rising ones first), from the ``colour`` rows of ``trends_daily``."""
    from trendscope.display import format_rows
    from trendscope.orchestration.alerts import read_trends_day

    cols = ["kind", "label", "images", "share", "expected_share", "p_adjusted", "trend"]
    rows = [r for r in read_trends_day(config, day, columns=["location", *cols]) if r["images"]]
    colour = [r for r in rows if r["kind"] == "colour"]
    print(f"\nColours of the target labels on {day} (share of ok images; rising first)")
    if not colour:
        print("(no colour rows yet)")
        return
    order = {"rising": 0, "new": 1}
    colour.sort(
        key=lambda r: (
            r["location"],
            r["label"].split("/")[0],
            order.get(r["trend"], 2),
            -r["share"],
        )
    )
    out, seen = [], {}
    for r in colour:
        target = (r["location"], r["label"].split("/")[0])
        seen[target] = seen.get(target, 0) + 1
        if seen[target] <= top:
            out.append(r | {"colour": r["label"]})
    print(format_rows(out, ["location", "colour", "images", "share", "expected_share", "trend"]))


def _cmd_engagement(args: argparse.Namespace) -> int:
    config = _config(args)
    config.location(args.location)
    return print_engagement(config, args.location, args.date, args.window, args.top)


def _cmd_instabae(args: argparse.Namespace) -> int:
    from trendscope.tables import storage
    from trendscope.trends.engagement import read_posts
    from trendscope.trends.instabae import instabae, read_importance, repeated_holdouts

    config = _config(args)
    config.location(args.location)
    storage.use(config.storage)
    days = _days(args.start, args.end)
    posts = read_posts(config.data_root, args.location, days)
    importance = read_importance(config.data_root, args.location, days, posts)
    try:
        result = instabae(
            posts, args.location, model=args.model, seed=args.seed, importance=importance
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"insta-bae {result.model} regression for {args.location}, {args.start} to {args.end}: "
        f"{result.posts} rated posts, {result.train} train / {result.test} held out, "
        f"{result.features} features{' (tag importances)' if importance else ''}\n"
        f"  held-out R2 {result.r2:.3f}  MAE {result.mae:.5f}\n"
        f"  mean baseline R2 {result.baseline_r2:.3f}  MAE {result.baseline_mae:.5f}\n"
        f"  {'beats' if result.beats_baseline else 'does not beat'} the mean baseline; "
        "largest effects: "
        + ", ".join(f"{name} {effect:+.4f}" for name, effect in result.top_features[:5])
    )
    out = result.to_dict()
    if args.splits > 0:
        seeds = range(args.seed, args.seed + args.splits)
        many = repeated_holdouts(
            posts, args.location, seeds=seeds, model=args.model, importance=importance
        )
        print(
            f"  over {many['splits']} seeded 8:2 splits: mean R2 {many['r2']:.3f} "
            f"(baseline {many['baseline_r2']:.3f}), MAE {many['mae']:.5f} "
            f"(baseline {many['baseline_mae']:.5f}); beats the baseline in {many['wins']:.0%}"
        )
        out["splits"] = many
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "authors": _cmd_authors,
    "engagement": _cmd_engagement,
    "instabae": _cmd_instabae,
}
