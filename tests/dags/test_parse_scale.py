"""The daily DAG with 500 configured locations: parsed in under 2 s, and the tasks a day maps.

The parse is measured as Airflow's dag-processor parses a file: in a fresh interpreter that has
imported Airflow and the ``airflow.*`` modules the file imports at its top (the processor does
that once, then forks a parser per parse), timing ``DagBag`` on the file: reading the config,
importing ``trendscope``, building the DAG. Interpreter start and Airflow's own import are not
parse time. docs/scaling.md works from these numbers (a day of 1,000,000 photos over 500
locations).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCATIONS = 500
PHOTOS_PER_DAY = 1_000_000
PARSE_LIMIT_S = 2.0
# docs/scaling.md: 500 ingest + 500 analyze shards (2,000 photos a location, one shard each)
# + 500 publish + 500 trends mapped task instances a day, and 4 unmapped tasks
MAPPED_PER_DAY = 2_000


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_dag_parse", REPO / "benchmarks" / "bench_dag_parse.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def config_500(tmp_path_factory) -> Path:
    return bench.write_config(LOCATIONS, tmp_path_factory.mktemp("cfg") / "trendscope.yaml")


def _parse(config: Path, executor: str, home: Path) -> dict:
    """The parse, once more if the first is over the limit: a busy moment on a shared machine
    can slow one run, a DAG file that is slow to parse fails both."""
    result = bench.parse_dag(config, executor, home)
    if not result["errors"] and result["parse_s"] >= PARSE_LIMIT_S:
        result = bench.parse_dag(config, executor, home)
    return result


@pytest.fixture(scope="module", params=["local", "kubernetes"])
def parsed(request, config_500, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp(f"airflow-{request.param}")
    return {"executor": request.param, **_parse(config_500, request.param, home)}


def test_500_locations_parse_in_under_2_s(parsed) -> None:
    assert parsed["errors"] == {}
    # the processor imports the operators the file imports at its top before it forks
    assert "airflow.providers.cncf.kubernetes.operators.pod" in parsed["pre_imported"]
    assert parsed["parse_s"] < PARSE_LIMIT_S, f"{parsed['executor']}: {parsed['parse_s']:.2f} s"


def test_every_location_is_mapped_once_per_step(parsed) -> None:
    mapped = parsed["mapped"]
    for task in ("ingest", "location.publish", "location.trends"):
        assert mapped[task] == LOCATIONS, task
    assert mapped["analyze"] == "NotFullyPopulated"  # mapped over plan's result, at run time
    unmapped = {t for t, n in mapped.items() if n == "NotMapped"}
    assert unmapped == {"wait_for_day_end", "plan", "trigger_rollup", "finish"}


def test_mapped_tasks_of_a_day_of_a_million_photos(parsed) -> None:
    plan = bench.analyze_plan(LOCATIONS, PHOTOS_PER_DAY)
    # every location's 2,000 photos fit one shard (sharding.max_images_per_shard: 2000)
    assert len(plan) == LOCATIONS
    assert len({tuple(args) for args in plan}) == len(plan)
    assert all(args[args.index("--shard") + 1] == "0/1" for args in plan)
    mapped = parsed["mapped"]
    per_day = sum(mapped[t] for t in ("ingest", "location.publish", "location.trends"))
    assert per_day + len(plan) == MAPPED_PER_DAY
    # no mapped task of the day exceeds Airflow's [core] max_map_length (1024 by default)
    assert max(len(plan), mapped["ingest"]) <= bench.max_map_length()


@pytest.mark.parametrize(
    ("photos", "shards"),
    [
        (1_000_000, 500),  # 2,000 a location: one shard each
        (1_000_500, 1_000),  # 2,001 a location: two shards each, the most a day maps
        (500 * 2000 * 16 * 2, 500 * 16),  # sharding.max_shards caps a location at 16
    ],
)
def test_analyze_shards_follow_the_photos(photos, shards) -> None:
    assert len(bench.analyze_plan(LOCATIONS, photos)) == shards
