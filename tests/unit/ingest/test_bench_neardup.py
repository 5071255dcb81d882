"""Smoke run of ``benchmarks/bench_neardup.py`` on a small set: every candidate agrees, JSON kept."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_neardup", REPO / "benchmarks" / "bench_neardup.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_run_agrees_and_records(tmp_path) -> None:
    out = tmp_path / "neardup.json"
    args = "--window 3000 --new 600 --photos 20 --brute-sample 5 --bktree-sample 5"
    code = _bench().main([*args.split(), "--sensitivity-queries", "50", "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0
    assert set(result["candidates"]) == {"scan", "mih", "bktree", "brute_python"}
    found = result["duplicates_found"]
    # 60 copies of window hashes and 60 of the day's at distances 0..8: most within 6
    assert 60 <= found["of_window"] + found["of_day"] <= 600
    assert len(result["sensitivity"]) == 8 and result["mark_near_duplicates_s"] > 0
