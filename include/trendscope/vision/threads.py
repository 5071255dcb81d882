"""How many threads the models may use: the container's CPU quota, not the node's cores.

A pod limited to 4 CPUs on a 64-core node still sees 64 cores in ``os.cpu_count()`` and its
affinity mask; starting 64 intra-op threads there only gets them throttled by the CFS quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 mounts the cpu controller under one of these names
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def cgroup_cpu_limit(root: str | os.PathLike[str] = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup at ``root`` may use (quota / period), or None when it has no quota.

    Reads cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``), else cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: unlimited). In a container the
    runtime mounts the container's own cgroup at ``/sys/fs/cgroup``.
    """
    root = Path(root)
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        return _ratio(quota, period or "100000")
    except (OSError, ValueError):
        pass
    for name in _V1_CPU_DIRS:
        try:
            quota = (root / name / "cpu.cfs_quota_us").read_text().strip()
            period = (root / name / "cpu.cfs_period_us").read_text().strip()
            return _ratio(quota, period)
        except (OSError, ValueError):
            continue
    return None


def _ratio(quota: str, period: str) -> float | None:
    if quota in ("max", "-1"):
        return None
    q, p = int(quota), int(period)
    if q <= 0 or p <= 0:
        return None
    return q / p


def usable_cpus(cgroup_root: str | os.PathLike[str] = CGROUP_ROOT) -> int:
    """Cores this process may keep busy: its affinity mask, capped by its cgroup CPU quota.

    A fractional quota rounds down (1.5 CPUs: one thread), never below one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.floor(limit))
    return max(1, cores)
