"""Benchmark: one location-day's trends with its baseline, pruned partitions vs a full glob.

Builds (or reuses) a synthetic Hive-partitioned history under ``--dir``::

    tables/{images,detections}/location=<slug>/date=<YYYY-MM-DD>/data.parquet

then times :func:`trendscope.trends.compare.trends_for_day` fed by

* **pruned**: only that location's ``window_days + 1`` partition files, listed with
  :func:`~trendscope.tables.paths.partition_path`;
* **naive**: ``read_parquet`` over :func:`~trendscope.tables.paths.table_glob` filtered on
  location and date, which has to open every file of the table.

It prints seconds and the ratio and asserts nothing.

    python benchmarks/bench_trends.py --days 60 --locations 4 --images 500   # quick
    python benchmarks/bench_trends.py                                        # 365 x 20 x 2,000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trendscope.tables.paths import partition_path, table_glob
from trendscope.tables.schemas import DETECTIONS, IMAGES
from trendscope.trends.compare import TrendParams, trends_for_day
from trendscope.trends.synthetic import synthetic_day

START = date(2026, 1, 1)
SHARES = {
    "person": 0.55,
    "car": 0.25,
    "dog": 0.12,
    "cat": 0.10,
    "bicycle": 0.06,
    "cup": 0.15,
    "bird": 0.04,
    "umbrella": 0.03,
}
FINE = {"cat": {"tabby": 0.5, "siamese": 0.2}, "dog": {"pug": 0.3, "beagle": 0.3}}
SCENES = {"street": 0.4, "food": 0.2, "park": 0.15}
IMAGE_COLUMNS = ["image_id", "location", "date", "status", "scene"]
DETECTION_COLUMNS = ["image_id", "location", "date", "label", "fine_label"]


def _location(i: int) -> str:
    return f"loc-{i:02d}"


def _build_location(root: str, li: int, days: int, images: int, seed: int) -> int:
    """Write one location's partitions; return how many were written."""
    loc, written = _location(li), 0
    for di in range(days):
        day = START + timedelta(days=di)
        paths = [partition_path(root, t.name, loc, day) for t in (IMAGES, DETECTIONS)]
        if all(os.path.exists(p) for p in paths):
            continue
        shares = dict(SHARES)
        if li == 0 and di >= days - 10:  # a known trend near the end
            shares["cat"] = 0.25
        rng = np.random.default_rng([seed, li, di])
        tables = synthetic_day(loc, day, images, shares, rng, FINE, SCENES)
        for path, table in zip(paths, tables, strict=True):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd")
        written += 1
    return written


def build(root: str, days: int, locations: int, images: int, seed: int = 0) -> None:
    """Create the history unless ``root`` already holds one of the same size."""
    marker = Path(root) / "bench.json"
    spec = {"days": days, "locations": locations, "images": images, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        print(f"reusing history in {root}: {spec}")
        return
    if marker.exists():
        raise SystemExit(f"{root} holds another history ({marker.read_text()}); use another --dir")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = [
            pool.submit(_build_location, root, li, days, images, seed) for li in range(locations)
        ]
        written = sum(j.result() for j in jobs)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(spec))
    size = sum(f.stat().st_size for f in Path(root, "tables").rglob("*.parquet"))
    print(
        f"built {written} location-days in {time.perf_counter() - t0:.1f} s "
        f"({size / 2**30:.2f} GiB): {spec}"
    )


def _read(sql: str, params: dict) -> pa.Table:
    con = duckdb.connect()
    try:
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()


def pruned(root: str, location: str, day: date, params: TrendParams) -> pa.Table:
    """Read exactly the window's partition files of one location, then compute."""
    days = [day - timedelta(days=k) for k in range(params.window_days, -1, -1)]
    tables = []
    for contract, columns in ((IMAGES, IMAGE_COLUMNS), (DETECTIONS, DETECTION_COLUMNS)):
        files = [partition_path(root, contract.name, location, d) for d in days]
        files = [f for f in files if os.path.exists(f)]
        tables.append(
            _read(f"SELECT {', '.join(columns)} FROM read_parquet($files)", {"files": files})
        )
    return trends_for_day(*tables, day, params)


def naive(root: str, location: str, day: date, params: TrendParams) -> pa.Table:
    """Scan the whole table glob and filter on location and date."""
    first = day - timedelta(days=params.window_days)
    tables = []
    for contract, columns in ((IMAGES, IMAGE_COLUMNS), (DETECTIONS, DETECTION_COLUMNS)):
        sql = (
            f"SELECT {', '.join(columns)} FROM read_parquet($glob, hive_partitioning = false) "
            "WHERE location = $loc AND date BETWEEN $first AND $day"
        )
        glob = table_glob(root, contract.name)
        tables.append(_read(sql, {"glob": glob, "loc": location, "first": first, "day": day}))
    return trends_for_day(*tables, day, params)


def _time(fn, repeat: int) -> tuple[float, pa.Table]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/trendscope-bench", help="cache directory")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--images", type=int, default=2000, help="images per location-day")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path (best is printed)")
    args = parser.parse_args(argv)

    build(args.dir, args.days, args.locations, args.images)
    params = TrendParams()
    location, day = _location(0), START + timedelta(days=args.days - 1)
    t_pruned, result = _time(lambda: pruned(args.dir, location, day, params), args.repeat)
    t_naive, check = _time(lambda: naive(args.dir, location, day, params), args.repeat)
    same = result.equals(check)
    rising = [r["label"] for r in result.to_pylist() if r["trend"] == "rising"]
    print(f"{location} {day}: {result.num_rows} rows, rising={rising}, same result={same}")
    print(f"pruned ({params.window_days + 1} days x 2 files): {t_pruned:.3f} s")
    print(f"naive  (full glob, {args.days * args.locations} partitions x 2): {t_naive:.3f} s")
    print(f"ratio naive/pruned: {t_naive / t_pruned:.1f}x")


if __name__ == "__main__":
    main()
