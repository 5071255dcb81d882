"""Benchmark: the daily DAG parsed with N configured locations, and the tasks a day maps.

Parse: the config (the shipped YAML with N generated locations, ``TRENDSCOPE_CONFIG``) is read
by a fresh interpreter, which first imports what Airflow's dag-processor imports before it
forks a parser for a file (Airflow itself and the ``airflow.*`` modules the file imports at its
top: ``airflow.utils.file.iter_airflow_imports``), then times ``DagBag`` on
``dags/trendscope_daily.py`` (interpreter start and Airflow's own import are not parse time),
a second parse in the same process, and the serialization the scheduler stores. ``cold``
also times a parse without the pre-import (a plain ``python`` process that imports only
``DagBag``). Both executors: ``local`` and ``kubernetes`` (analyze as pods).

Fan-out of one day: ``ingest`` and the ``location`` group (``publish``, ``trends``) map over
the configured locations (read from the serialized DAG, the scheduler's view); ``analyze``
maps over the shard plan, computed by the product's ``plan_analysis`` for the photos spread
over the locations; the rollup DAG run each day triggers maps ``refresh`` per location and
``rollup`` per location-period, counted by the product's ``plan_refresh``/``plan_rollups`` on a
data root holding the day's partitions (and, for a re-run of an old day, the later periods).

    .venv/bin/python benchmarks/bench_dag_parse.py --locations 500 --photos 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DAILY = REPO / "dags" / "trendscope_daily.py"
RESULTS = Path(__file__).parent / "results"
ZONES = (
    "Asia/Tokyo",
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "UTC",
)

_PROBE = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
from airflow.utils.file import iter_airflow_imports
path, pre_import = sys.argv[1], sys.argv[2] == "1"
pre = []
if pre_import:  # what the dag-processor imports once, before it forks a parser for the file
    for module in iter_airflow_imports(path):
        importlib.import_module(module)
        pre.append(module)
ready = time.perf_counter()
bag = DagBag(dag_folder=path)
parsed = time.perf_counter()
DagBag(dag_folder=path)
reparsed = time.perf_counter()
out = {"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "pre_imported": pre}
dag = bag.dags.get("trendscope_daily")
if dag is not None:
    t = time.perf_counter()
    data = DagSerialization.to_dict(dag)
    out["serialize_s"] = time.perf_counter() - t
    out["serialized_bytes"] = len(json.dumps(data))
    mapped = {}
    for task in DagSerialization.from_dict(data).tasks:
        try:
            mapped[task.task_id] = task.get_parse_time_mapped_ti_count()
        except Exception as exc:  # NotMapped, or mapped over an upstream's result
            mapped[task.task_id] = type(exc).__name__
    out["mapped"] = mapped
out |= {
    "startup_s": ready - t0,
    "parse_s": parsed - ready,
    "reparse_s": reparsed - parsed,
}
print("PROBE" + json.dumps(out))
"""


def write_config(locations: int, path: Path) -> Path:
    """The shipped config with ``locations`` generated locations (slugs ``loc-000`` ...)."""
    data = yaml.safe_load((REPO / "include" / "config" / "trendscope.yaml").read_text())
    data["locations"] = [
        {"slug": f"loc-{i:03d}", "name": f"Location {i}", "timezone": ZONES[i % len(ZONES)]}
        for i in range(locations)
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def parse_dag(
    config_path: Path, executor: str, airflow_home: Path, pre_import: bool = True
) -> dict[str, Any]:
    """Parse ``dags/trendscope_daily.py`` in a fresh interpreter under ``config_path``."""
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "TRENDSCOPE_CONFIG": str(config_path)}
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["TRENDSCOPE_EXECUTOR"] = executor
    if executor == "kubernetes":  # pods need an object store
        env["TRENDSCOPE_DATA_DIR"] = "s3://trendscope/lake"
        env["TRENDSCOPE_SOURCE_DIR"] = "s3://trendscope/dropzone"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(DAILY), "1" if pre_import else "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PROBE")), None)
    if line is None:
        raise RuntimeError(f"DAG parse probe failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(line[len("PROBE") :])


def analyze_plan(locations: int, photos: int) -> list[list[str]]:
    """The analyze shards of a day with ``photos`` ok images spread evenly over the locations
    (the product's shard count and plan, default ``sharding``)."""
    from trendscope.config import ShardingConfig
    from trendscope.orchestration.tasks import plan_analysis
    from trendscope.pipeline.shards import shard_count

    per, extra = divmod(photos, locations)
    day = "2026-11-02"
    ingested = [
        {
            "location": f"loc-{i:03d}",
            "date": day,
            "shards": shard_count(per + (i < extra), ShardingConfig()),
        }
        for i in range(locations)
    ]
    return plan_analysis(ingested, "scheduled__2026-11-02")


def rollup_fanout(config_path: Path, day: date, later: date | None = None) -> dict[str, int]:
    """How many ``refresh`` and ``rollup`` tasks the rollup run after ``day`` maps.

    On a temporary data root holding every location's ``day`` (empty partition files: the
    planners only look for them) and, with ``later``, every day from ``day`` to ``later`` and
    the weekly and monthly partitions already published by then (a re-run of an old day).
    """
    from trendscope.config import load_config
    from trendscope.pipeline.rollup import plan_refresh, plan_rollups
    from trendscope.tables.paths import partition_path, period_partition_path
    from trendscope.tables.schemas import DETECTIONS, IMAGES
    from trendscope.trends.calendar import period_key

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(config_path, environ={}, overrides={"data_dir": tmp})
        last = later or day
        span = [day + timedelta(days=k) for k in range((last - day).days + 1)]
        # the planners look for one published day per period: the day, each later week's
        # Monday and each later month's first day stand for every day up to ``last``
        days = [d for d in span if d == day or d.weekday() == 0 or d.day == 1]
        for loc in config.location_slugs:
            for d in days:
                for table in (IMAGES.name, DETECTIONS.name):
                    _touch(partition_path(tmp, table, loc, d))
            if later is None:
                continue
            for kind, table in (("week", "trends_weekly"), ("month", "trends_monthly")):
                for key in {period_key(d, kind) for d in span}:  # each daily run rolls up
                    _touch(period_partition_path(tmp, table, loc, key))  # its week and month
        params = {"date": day.isoformat()}
        return {
            "refresh": len(plan_refresh(config, None, params)),
            "rollup": len(plan_rollups(config, None, params)),
        }


def _touch(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).touch()


def max_map_length() -> int:
    """Airflow's ``[core] max_map_length``: the most tasks one upstream result may map."""
    from airflow.configuration import conf

    return conf.getint("core", "max_map_length")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=500)
    parser.add_argument("--photos", type=int, default=1_000_000, help="ok photos a day")
    parser.add_argument("--json", help="raw results (default: results/dag-parse-<date>.json)")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "locations": args.locations,
        "photos": args.photos,
        "machine": {
            "cpus_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_avg_before": os.getloadavg(),
        },
        "parse": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config_path = write_config(args.locations, Path(tmp) / "trendscope.yaml")
        for executor in ("local", "kubernetes"):
            for mode, pre in (("processor", True), ("cold", False)):
                home = Path(tmp) / f"airflow-{executor}-{mode}"
                result = parse_dag(config_path, executor, home, pre_import=pre)
                report["parse"][f"{executor}/{mode}"] = result
                print(
                    f"{executor:<10} {mode:<9} parse {result['parse_s']:.2f} s, again "
                    f"{result['reparse_s']:.2f} s, serialized {result.get('serialized_bytes')} "
                    f"bytes in {result.get('serialize_s', 0):.3f} s; errors {result['errors']}"
                )
        mapped = report["parse"]["local/processor"]["mapped"]
        plan = analyze_plan(args.locations, args.photos)
        day = date(2026, 11, 2)
        daily = {
            "ingest": mapped["ingest"],
            "analyze": len(plan),
            "location.publish": mapped["location.publish"],
            "location.trends": mapped["location.trends"],
        }
        report["mapped_per_day"] = {
            "daily": daily,
            "daily_unmapped": sum(1 for v in mapped.values() if v == "NotMapped"),
            "rollup_in_order": rollup_fanout(config_path, day),
            "rollup_rerun_of_day_8_weeks_old": rollup_fanout(
                config_path, day, day + timedelta(weeks=8)
            ),
            "max_map_length": max_map_length(),
        }
    report["machine"]["load_avg_after"] = os.getloadavg()
    print(json.dumps(report["mapped_per_day"], indent=2))
    path = Path(args.json) if args.json else RESULTS / f"dag-parse-{date.today()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
