"""Benchmark: one location-day's trends on the product's path, by phase, old statistics beside.

Builds (or completes) a synthetic Hive-partitioned history with authors under ``--dir``::

    tables/{images,detections}/location=<slug>/date=<YYYY-MM-DD>/data.parquet

drawn by :func:`trendscope.trends.synthetic.simulate`: overdispersed daily shares, a weekly
rhythm (weekend volume +30%, one label higher at weekends), Zipf-skewed authors, and at
``loc-00`` a known trend at the end (cat from 9% to 20% over the last three days). Then, for
``loc-00``'s last day, after one warm-up run, it times ``--repeat`` times the phases

* **read**: :func:`trendscope.tables.published.read_days` of the day and its window
  (:func:`trendscope.trends.calendar.window_days`), the product's reader;
* **compute**: :func:`trendscope.trends.compare.trends_for_day` on those rows;
* **naive read**: a DuckDB scan of the whole table glob filtered on location and date (a
  comparison point; its trends must equal the product's, floats up to rounding: sums over
  rows in another order);

and with ``--baseline-src`` the former statistics (``trends_for_day`` of an older checkout,
run in a subprocess with ``PYTHONPATH`` there, after a warm-up call) on the very rows the
product read. Every repeat's seconds go to ``--json``; nothing is asserted.

    python benchmarks/bench_trends.py --days 60 --locations 4 --images 500   # quick
    git worktree add /tmp/ts-old bef75b5
    python benchmarks/bench_trends.py --baseline-src /tmp/ts-old/include      # 365 x 20 x 2,000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

import trendscope
from trendscope.config import load_config
from trendscope.tables import storage
from trendscope.tables.commit import read_together
from trendscope.tables.paths import partition_path, table_glob
from trendscope.tables.published import DETECTION_COLUMNS, IMAGE_COLUMNS, empty_days, read_days
from trendscope.tables.schemas import DETECTIONS, IMAGES
from trendscope.trends.calendar import window_days
from trendscope.trends.compare import TrendParams, trends_for_day
from trendscope.trends.synthetic import LabelSpec, Ramp, Scenario, simulate

FORMAT = 2  # 1: binomial days without authors (synthetic_day); 2: simulate() with authors
START = date(2026, 1, 5)  # a Monday
WEEKEND_VOLUME = 1.3
AUTHORS = 10_000
LABELS = {
    "person": LabelSpec(0.50, 0.03),
    "car": LabelSpec(0.30, 0.025),
    "dog": LabelSpec(0.15, 0.025),
    "cat": LabelSpec(0.09, 0.025),
    "cup": LabelSpec(0.03, 0.01),
    "bicycle": LabelSpec(0.06, 0.015),
    "umbrella": LabelSpec(0.06, 0.02),
    "handbag": LabelSpec(0.09, 0.02, weekday_shares=(0.09,) * 5 + (0.12, 0.12)),
}
FINE = {"cat": {"tabby": 0.5, "siamese": 0.2}, "dog": {"pug": 0.3, "beagle": 0.3}}
SCENES = {"street": 0.4, "food": 0.2, "park": 0.15}
RESULTS = Path(__file__).parent / "results"

_OLD = """
import json, sys, time
from datetime import date
import pyarrow.feather as feather
import trendscope
from trendscope.trends.compare import trends_for_day
images, detections = feather.read_table(sys.argv[1]), feather.read_table(sys.argv[2])
day = date.fromisoformat(sys.argv[3])
trends_for_day(images, detections, day)  # warm-up, as in the parent
t0 = time.perf_counter()
result = trends_for_day(images, detections, day)
seconds = time.perf_counter() - t0
rising = [r["label"] + (f"/{r['fine_label']}" if r["fine_label"] else "")
          for r in result.to_pylist() if r["trend"] == "rising"]
print(json.dumps({"module": trendscope.__file__, "seconds": seconds,
                  "rows": result.num_rows, "rising": rising}))
"""


def _location(i: int) -> str:
    return f"loc-{i:02d}"


def scenario(days: int, images: int, li: int) -> Scenario:
    """One location's history; ``images`` is the mean per day (weekends have 30% more)."""
    loc = _location(li)
    return Scenario(
        days=days,
        locations=(loc,),
        labels=LABELS,
        posts_per_day=images * 7 / (5 + 2 * WEEKEND_VOLUME),
        weekend_volume=WEEKEND_VOLUME,
        volume_cv=0.1,
        authors=AUTHORS,
        ramps=(Ramp(loc, "cat", days - 3, 3, 0.20),) if li == 0 else (),
        start=START,
        fine_labels=FINE,
        scene_shares=SCENES,
    )


def _build_location(root: str, li: int, days: int, images: int, seed: int) -> int:
    """Write the missing partitions of one location; return how many days were written."""
    # simulate() seeds by (seed, location index in its scenario, day): one location per
    # scenario, so each location gets a seed of its own.
    scen, loc, written = scenario(days, images, li), _location(li), 0
    for di in range(days):
        day = START + timedelta(days=di)
        paths = [partition_path(root, t.name, loc, day) for t in (IMAGES, DETECTIONS)]
        if all(os.path.exists(p) for p in paths):
            continue
        tables = simulate(scen, seed * 1000 + li, days=[di])
        for path, table in zip(paths, tables, strict=True):
            storage.write_table_atomic(table, path)
        written += 1
    return written


def build(root: str, days: int, locations: int, images: int, seed: int = 0) -> dict[str, Any]:
    """Create or complete the history in ``root``; refuse one built from another spec."""
    marker = Path(root) / "bench.json"
    spec = {"format": FORMAT, "days": days, "locations": locations, "images": images}
    spec |= {"seed": seed, "authors": AUTHORS, "weekend_volume": WEEKEND_VOLUME}
    # any change to the scenarios (labels, ramp, volumes) makes another history
    scenarios = repr([scenario(days, images, li) for li in range(min(locations, 2))])
    spec["scenario_sha256"] = hashlib.sha256(scenarios.encode()).hexdigest()[:16]
    if marker.exists() and json.loads(marker.read_text()) != spec:
        raise SystemExit(f"{root} holds another history ({marker.read_text()}); use another --dir")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(locations, os.cpu_count() or 1)) as pool:
        jobs = [
            pool.submit(_build_location, root, li, days, images, seed) for li in range(locations)
        ]
        written = sum(j.result() for j in jobs)
    size = sum(f.stat().st_size for f in Path(root, "tables").rglob("*.parquet"))
    print(
        f"history in {root}: wrote {written} of {days * locations} location-days in "
        f"{time.perf_counter() - t0:.1f} s ({size / 2**30:.2f} GiB): {spec}"
    )
    return spec | {"gib": round(size / 2**30, 3)}


def product_read(
    root: str, location: str, day: date, params: TrendParams
) -> tuple[pa.Table, pa.Table]:
    """The day and its window, read as the trends step reads them."""
    return read_days(root, location, [*window_days(day, params.window_days), day])


def two_table_read(root: str, location: str, day: date, params: TrendParams) -> int:
    """A diagnostic, not a reader: the same days through ``read_together`` with ``images`` and
    ``detections`` only, once each, i.e. what the product reader costs when it does not first
    look for a ``colors`` partition that days published before colours do not have."""
    specs = [(IMAGES, IMAGE_COLUMNS), (DETECTIONS, [*DETECTION_COLUMNS, "detection"])]
    rows = 0
    for d in [*window_days(day, params.window_days), day]:
        try:
            rows += read_together(root, location, d, specs)[0].num_rows
        except FileNotFoundError:
            continue
    return rows


def naive_read(
    root: str, location: str, day: date, params: TrendParams
) -> tuple[pa.Table, pa.Table]:
    """Scan every file of each table and filter on location and date.

    The product reader's columns that the history's files lack (``colour``, from ``colors``
    partitions this history does not have) are null, as the product reader gives them.
    """
    first = day - timedelta(days=params.window_days)
    out = []
    for contract, columns, empty in zip(
        (IMAGES, DETECTIONS), (IMAGE_COLUMNS, DETECTION_COLUMNS), empty_days(), strict=True
    ):
        missing = [f for f in empty.schema if f.name not in columns]
        sql = (
            f"SELECT {', '.join(columns)} FROM read_parquet($glob, hive_partitioning = false) "
            "WHERE location = $loc AND date BETWEEN $first AND $day"
        )
        query = {"glob": table_glob(root, contract.name), "loc": location, "first": first}
        con = duckdb.connect()
        try:
            table = con.sql(sql, params=query | {"day": day}).to_arrow_table()
        finally:
            con.close()
        for field in missing:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
        out.append(table.cast(empty.schema))
    return out[0], out[1]


def _rising(table: pa.Table) -> list[str]:
    return [
        r["label"] + (f"/{r['fine_label']}" if r["fine_label"] else "")
        for r in table.to_pylist()
        if r["trend"] == "rising"
    ]


def same_table(a: pa.Table, b: pa.Table) -> bool:
    """Equal, but floating-point columns only up to rounding (sums in another row order)."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    floats = [f.name for f in a.schema if pa.types.is_floating(f.type)]
    close = all(
        np.allclose(
            a[c].to_numpy(zero_copy_only=False),
            b[c].to_numpy(zero_copy_only=False),
            rtol=1e-12,
            atol=0,
            equal_nan=True,
        )
        for c in floats
    )
    return close and a.drop_columns(floats).equals(b.drop_columns(floats))


def _timed(seconds: list[float], fn: Callable[..., Any], *args: Any) -> Any:
    t0 = time.perf_counter()
    result = fn(*args)
    seconds.append(time.perf_counter() - t0)
    return result


def baseline(src: str, frames: list[str], day: date) -> dict[str, Any]:
    """One timed ``trends_for_day`` of the checkout at ``src`` on the rows in ``frames``."""
    args = [sys.executable, "-c", _OLD, *frames, day.isoformat()]
    env = os.environ | {"PYTHONPATH": src}
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the baseline failed:\n{out.stderr}")
    result = json.loads(out.stdout)
    if not result["module"].startswith(os.path.abspath(src)):
        raise SystemExit(f"the baseline imported {result['module']}, not the code in {src}")
    return result


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def code() -> dict[str, Any]:
    """Which ``trendscope`` was timed: its folder, git state and a hash of its sources."""
    package = Path(trendscope.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "package": str(package),
        "commit": _git(str(package), "describe", "--always", "--dirty"),
        "sources_sha256": digest.hexdigest()[:16],
    }


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_avg_after": os.getloadavg(),  # other work on the machine slows every phase
        "machine": platform.machine(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("duckdb", "pyarrow", "numpy", "scipy")},
    }


def _json_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    # every recorded run is kept: numbered after the day's last one (some numbers were
    # never kept, and a new run must not take an old run's name)
    stem = f"trends-{date.today()}"
    taken = [
        1 if p.stem == stem else int(p.stem.rsplit("-", 1)[1])
        for p in RESULTS.glob(f"{stem}*.json")
    ]
    n = max(taken, default=0) + 1
    return RESULTS / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")


def measure(root: str, days: int, repeat: int, baseline_src: str | None) -> dict[str, Any]:
    """Time the phases on ``loc-00``'s last day; the raw report (without the spec)."""
    # the trends step's own parameters: the shipped config's ``trends`` section
    trends = load_config().trends
    params, scenes = TrendParams.from_config(trends), trends.include_scenes
    load_before = os.getloadavg()
    location, day = _location(0), START + timedelta(days=days - 1)
    images, detections = product_read(root, location, day, params)
    result = trends_for_day(images, detections, day, params, scenes)  # warm-up: imports, cache
    phases: dict[str, list[float]] = {"read": [], "compute": [], "naive_read": []}
    phases["read_two_tables"] = []  # diagnostic: see two_table_read
    if baseline_src:
        phases["old_compute"] = []
    old: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        frames = [os.path.join(tmp, f"{n}.arrow") for n in ("images", "detections")]
        for path, table in zip(frames, (images, detections), strict=True):
            feather.write_feather(table, path)
        for _ in range(repeat):  # phases interleaved, so a busy moment hits all of them
            images, detections = _timed(phases["read"], product_read, root, location, day, params)
            result = _timed(
                phases["compute"], trends_for_day, images, detections, day, params, scenes
            )
            naive = _timed(phases["naive_read"], naive_read, root, location, day, params)
            _timed(phases["read_two_tables"], two_table_read, root, location, day, params)
            if baseline_src:
                old = baseline(baseline_src, frames, day)
                phases["old_compute"].append(old["seconds"])
    phases["total"] = [r + c for r, c in zip(phases["read"], phases["compute"], strict=True)]
    median = {k: statistics.median(v) for k, v in phases.items()}
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "location": location,
        "day": day.isoformat(),
        "params": asdict(params) | {"include_scenes": scenes},
        "code": code(),
        "machine": machine() | {"load_avg_before": load_before},
        "input_rows": {"images": images.num_rows, "detections": detections.num_rows},
        "seconds": phases,
        "median": median,
        "rows": result.num_rows,
        "rising": _rising(result),
        "naive_same_result": same_table(result, trends_for_day(*naive, day, params, scenes)),
        "target_s": 0.5,
        "target_met": median["total"] <= 0.5,
    }
    if baseline_src:
        report["baseline"] = {k: old[k] for k in ("rows", "rising")} | {
            "src": baseline_src,
            "commit": _git(baseline_src, "rev-parse", "HEAD"),
            "old_over_new_compute": median["old_compute"] / median["compute"],
        }
    return report


def _print(report: dict[str, Any]) -> None:
    rows, phases, median = report["input_rows"], report["seconds"], report["median"]
    print(
        f"{report['location']} {report['day']}: read {rows['images']} images, "
        f"{rows['detections']} detections; {report['rows']} trend rows"
    )
    print(f"rising: {report['rising']}; naive read, same trends: {report['naive_same_result']}")
    print(f"{'phase':<12} {'median s':>9} {'best s':>9}   ({len(phases['read'])} runs)")
    for name, values in phases.items():
        print(f"{name:<12} {median[name]:>9.3f} {min(values):>9.3f}")
    if "baseline" in report:
        old = report["baseline"]
        print(f"old: {old['rows']} rows, rising={old['rising']}")
        print(f"compute old/new: {old['old_over_new_compute']:.2f}x")
    met = "met" if report["target_met"] else "NOT met"
    print(f"target <= 0.5 s per location-day (read + compute, median): {met}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/trendscope-bench-v2", help="cache directory")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--images", type=int, default=2000, help="mean images per location-day")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each phase")
    parser.add_argument("--baseline-src", help="include/ of an older checkout to time as well")
    parser.add_argument("--json", help="raw results (default: benchmarks/results/trends-<date>)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    spec = build(args.dir, args.days, args.locations, args.images)
    report = {"spec": spec} | measure(args.dir, args.days, args.repeat, args.baseline_src)
    path = _json_path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
