"""Model threads follow the pod's CPU quota (cgroup v2 and v1), not the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trendscope.vision.threads import cgroup_cpu_limit, usable_cpus


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "400000 100000"}, 4.0),  # v2, a 4-CPU limit
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "max 100000"}, None),  # v2, no limit
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),  # v1
        ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),  # v1, no limit
        ({"cpu.max": "garbage"}, None),
        ({}, None),  # no cgroup filesystem (macOS, a bare sandbox)
    ],
)
def test_cgroup_cpu_limit(tmp_path: Path, files: dict[str, str], limit: float | None) -> None:
    assert cgroup_cpu_limit(_cgroup(tmp_path, files)) == limit


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ("100000 100000", 1),
        ("150000 100000", 1),  # 1.5 CPUs: one thread, not two fighting over the quota
        ("20000 100000", 1),  # never below one
        ("100000000 100000", None),  # a quota above the cores: the cores
        ("max 100000", None),
    ],
)
def test_usable_cpus_is_capped_by_the_quota(
    tmp_path: Path, quota: str, expected: int | None
) -> None:
    root = _cgroup(tmp_path, {"cpu.max": quota})
    assert usable_cpus(root) == (expected or _cores())


def test_usable_cpus_of_a_two_cpu_pod(tmp_path: Path) -> None:
    root = _cgroup(tmp_path, {"cpu.max": "200000 100000"})
    assert usable_cpus(root) == min(2, _cores())
