"""Engagement on the demo week: the planted lift recovered, and the "insta-bae" regression against
the mean baseline (one 8:2 holdout as the issue asks, and the mean over 20 seeded splits, since
one holdout of a small location is noisy).

    python benchmarks/bench_engagement.py --build /tmp/trendscope-engagement   # demo week, run
    python benchmarks/bench_engagement.py --data-dir data                      # after make run

``--build DIR`` writes the demo drop zone (``trendscope demo-data``: 2 locations x 7 days x 12
posts) and runs every location-day with ``trendscope run`` (real models) into ``DIR/data``; the
regression needs likes and followers, which the demo gives the manifest location (``shibuya``).
Writes ``benchmarks/results/engagement-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trendscope.config import load_config
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import ENGAGEMENT
from trendscope.trends.engagement import read_posts
from trendscope.trends.instabae import instabae, read_importance, repeated_holdouts

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=k) for k in range(7)]


def build(root: Path, config_path: str | None) -> str:
    """Build the demo week under ``root`` and run it; return the data root."""
    from trendscope.cli import main

    data = root / "data"
    common = ["--data-dir", str(data)] + (["--config", config_path] if config_path else [])
    if not (root / "dropzone" / "ground_truth.jsonl").exists():
        assert main(["-q", "demo-data", "--out", str(root / "dropzone"), "--days", "7"]) == 0
    config = load_config(config_path, overrides={"data_dir": str(data)})
    for slug in config.location_slugs:
        for day in DAYS:
            if storage.exists(partition_path(str(data), ENGAGEMENT.name, slug, day)):
                continue  # done by an earlier, interrupted build
            args = ["-q", "run", *common, "--source-dir", str(root / "dropzone")]
            assert main([*args, "--location", slug, "--date", day.isoformat()]) == 0
    return str(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", help="build and run the demo week in this directory first")
    parser.add_argument("--data-dir", help="a data root holding the demo week's tables")
    parser.add_argument("--config")
    parser.add_argument("--out", default=f"benchmarks/results/engagement-{date.today()}.json")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data_dir = build(Path(args.build), args.config) if args.build else args.data_dir
    config = load_config(args.config, overrides={"data_dir": data_dir} if data_dir else {})
    storage.use(config.storage)
    results = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "days": [DAYS[0].isoformat(), DAYS[-1].isoformat()],
        "locations": {},
    }
    for slug in config.location_slugs:
        posts = read_posts(config.data_root, slug, DAYS)
        rated = [p for p in posts if p.rate is not None]
        entry: dict = {"posts": len(posts), "rated_posts": len(rated)}
        path = partition_path(config.data_root, ENGAGEMENT.name, slug, DAYS[-1])
        if storage.exists(path):
            cols = ["window_days", "kind", "label", "fine_label", "rated_with", "rated_without"]
            cols += ["median_with", "median_without", "lift", "auc", "p_adjusted", "engagement"]
            table = storage.read_table(path, ENGAGEMENT, cols).to_pylist()
            entry["tested_labels_7d"] = [
                r for r in table if r["window_days"] == 7 and r["p_adjusted"] is not None
            ]
        if len(rated) >= 20:
            importance = read_importance(config.data_root, slug, DAYS, posts)
            entry["tag_importance"] = bool(importance)
            for model in ("ridge", "gbr"):
                one = instabae(posts, slug, model=model, importance=importance)
                many = repeated_holdouts(posts, slug, model=model, importance=importance)
                entry[model] = {"holdout_seed0": one.to_dict(), "splits20": many}
        results["locations"][slug] = entry
        print(slug, json.dumps(entry, indent=1))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
