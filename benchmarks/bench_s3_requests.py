"""Benchmark: the S3 requests and bytes of one location-day, step by step, counted on the wire.

A real S3 API server (moto, the tests' ``s3_faults`` helper) behind a counting HTTP proxy holds
the drop zone and the data root (``source.path`` and ``data_dir`` both ``s3://``, as in
production). For two locations with different photo counts on the same day it runs the steps
exactly as the DAG's tasks do (``run_step`` with the run id: ``ingest``, ``analyze``,
``publish``, ``trends``), then what the ``trendscope_rollup`` run does for the day
(``refresh_trends`` of the day, ``rollup_period`` of its week and month). Every request the
product makes is counted by method and by what it touched, with the bytes sent and received.
From the two locations, each step's count is split into a part per location-day and a part
per photo (``requests = fixed + per_photo x photos``), which docs/scaling.md scales to a day.

The photos are small (0.3 MP) so that the run takes a minute: request counts do not depend on
a photo's size, and the bytes of the photos themselves are reported apart (scale them by the
real mean file size).

    .venv/bin/python benchmarks/bench_s3_requests.py --photos 10 30
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' moto server and proxy

from s3_faults import CREDENTIALS, FaultProxy, moto_server  # noqa: E402

RESULTS = Path(__file__).parent / "results"
BUCKET = "lake"
DAY = date(2026, 11, 4)  # a Wednesday: its week and month are both open
DAYS = (DAY - timedelta(days=1), DAY)  # the day before: one window day with data for DAY


def _run_id(day: date) -> str:
    return f"scheduled__{day.isoformat()}T00:00:00+00:00"


class CountingProxy(FaultProxy):
    """The tests' proxy, also recording the bytes of every request and response body."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.wire: list[tuple[str, str, int, int, int]] = []  # method, path, status, up, down

    def _forward(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        status, out_headers, data = super()._forward(method, path, headers, body)
        down = len(data) if method != "HEAD" else 0
        with self._lock:
            self.wire.append((method, path, status, len(body), down))
        return status, out_headers, data

    def take(self) -> list[tuple[str, str, int, int, int]]:
        with self._lock:
            out, self.wire = self.wire, []
        return out


def classify(method: str, path: str) -> str:
    """``GET photo``, ``LIST``, ``PUT tables/images`` ...: the request's kind and what it touched."""
    key = path.split("?", 1)[0].removeprefix(f"/{BUCKET}").lstrip("/")
    query = path.partition("?")[2]
    if method == "GET" and ("list-type" in query or (not key and "prefix" in query)):
        return "LIST"
    if method == "POST" and "delete" in query:
        return "DELETE (batch)"
    parts = key.split("/")
    if parts[0] == "dropzone":
        what = "photo"
    elif len(parts) > 2 and parts[1] in ("tables", "staging"):
        what = f"{parts[1]}/{parts[2]}"
    elif len(parts) > 1:
        what = parts[1]
    else:
        what = key
    return f"{method} {re.sub(r'=[^/]*', '', what)}"


def summarise(wire: list[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    up = down = photo_down = not_found = 0
    for method, path, status, sent, received in wire:
        kind = classify(method, path)
        kinds[kind] += 1
        by_method[kind.split(" ")[0]] += 1
        up += sent
        down += received
        photo_down += received if kind == "GET photo" else 0
        not_found += status == 404
    return {
        "requests": len(wire),
        "by_method": dict(sorted(by_method.items())),
        "by_kind": dict(sorted(kinds.items())),
        "not_found": not_found,
        "bytes_up": up,
        "bytes_down": down,
        "bytes_down_photos": photo_down,
    }


def _config(proxy_url: str, models: Path) -> Any:
    from trendscope.config import load_config

    return load_config(
        environ={},
        overrides={
            "data_dir": f"s3://{BUCKET}/data",
            "source.path": f"s3://{BUCKET}/dropzone",
            "models_dir": str(models),
            "storage.endpoint_url": proxy_url,
            "storage.region": "us-east-1",
            "locations": [{"slug": "small"}, {"slug": "large"}],
        },
    )


def run(photos: list[int]) -> dict[str, Any]:
    import boto3

    from trendscope.bench import make_images
    from trendscope.pipeline.rollup import rollup_period
    from trendscope.pipeline.run import run_step
    from trendscope.pipeline.shards import Shard
    from trendscope.pipeline.trends import refresh_trends
    from trendscope.tables import storage
    from trendscope.trends.calendar import period_key

    os.environ.update(CREDENTIALS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    steps: dict[str, dict[str, Any]] = defaultdict(dict)
    photo_bytes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        locations = dict(zip(("small", "large"), photos, strict=True))
        for loc, n in locations.items():
            for k, day in enumerate(DAYS):
                files = make_images(Path(tmp) / loc / str(k), n, seed=n + 1000 * k, megapixels=0.3)
                photo_bytes[loc] = sum(f.stat().st_size for f in files)
                for f in files:
                    s3.upload_file(str(f), BUCKET, f"dropzone/{loc}/{day.isoformat()}/{f.name}")
        with CountingProxy(endpoint) as proxy:
            config = _config(proxy.url, REPO / "models")
            storage.use(config.storage)
            for loc in locations:
                for day in DAYS:  # the day before first: DAY's steps are the ones fitted
                    proxy.take()
                    for step in ("ingest", "analyze", "publish", "trends"):
                        shard = Shard() if step == "analyze" else None
                        run_step(config, step, loc, day, shard=shard, run_id=_run_id(day))
                        name = step if day == DAY else f"{step} (day before)"
                        steps[name][loc] = summarise(proxy.take())
                refresh_trends(config, loc, [DAY])
                steps["rollup: refresh"][loc] = summarise(proxy.take())
                for kind in ("week", "month"):
                    rollup_period(config, loc, period_key(DAY, kind))
                    steps[f"rollup: {kind}"][loc] = summarise(proxy.take())
        storage.configure(None, None)
    small, large = photos
    fits = {}
    for step, per_loc in steps.items():
        if step.endswith("(day before)"):
            continue
        fit = {}
        for field in ("requests", "bytes_up", "bytes_down"):
            a, b = per_loc["small"][field], per_loc["large"][field]
            per_photo = (b - a) / (large - small)
            fit[field] = {"per_location_day": a - per_photo * small, "per_photo": per_photo}
        fits[step] = fit
    # what one more published day in a window costs a reader: DAY's trends read one (the day
    # before), the day before's read none; same window length, same location
    window_day = {
        loc: {
            f: steps["trends"][loc][f] - steps["trends (day before)"][loc][f]
            for f in ("requests", "bytes_down")
        }
        for loc in locations
    }
    return {
        "day": DAY.isoformat(),
        "trends_per_published_window_day": window_day,
        "photos": locations,
        "photo_bytes": photo_bytes,
        "steps": steps,
        "fit": fits,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, nargs=2, default=[10, 30], metavar=("SMALL", "LARGE"))
    parser.add_argument("--json", help="raw results (default: results/s3-requests-<date>.json)")
    args = parser.parse_args(argv)
    if args.photos[0] >= args.photos[1]:
        parser.error("--photos: the second location needs more photos than the first")
    report = {"when": datetime.now().isoformat(timespec="seconds")} | run(args.photos)
    print(f"{'step':<16} {'requests':>9} {'per photo':>10} {'per loc-day':>12}   kinds (large)")
    for step, fit in report["fit"].items():
        r = fit["requests"]
        kinds = report["steps"][step]["large"]["by_kind"]
        print(
            f"{step:<16} {report['steps'][step]['large']['requests']:>9} "
            f"{r['per_photo']:>10.2f} {r['per_location_day']:>12.1f}   {kinds}"
        )
    path = Path(args.json) if args.json else RESULTS / f"s3-requests-{date.today()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
