"""Near-duplicate search at scale (issue 16): 20,000 new hashes against 140,000 in the window.

Every candidate answers the ingest step's question on the same hashes in one run: for each new
hash in the day's order, the earliest hash (window first, then the day's originals) within
``max_distance``; a hash with no match joins the set. Candidates:

* ``scan``: the product's :class:`~trendscope.ingest.neardup.NearDuplicateIndex` (numpy XOR and
  popcount over uint64 blocks);
* ``mih``: multi-index hashing, the 64 bits cut into ``max_distance + 1`` chunks (pigeonhole: a
  hash within the distance equals the query on at least one chunk), one bucket table per chunk;
* ``bktree``: a BK-tree in pure Python (all matches, then the earliest);
* ``brute``: the former pure-Python pairwise scan, timed on a sample of the queries and
  extrapolated to all of them.

Also timed: ``mark_near_duplicates`` itself (rows and hex strings in, as ingest calls it), the
target's measure (<= 30 s). Hashes: about 60% uniform (with the always-set DC bit of a DCT
pHash), 40% clustered around the pHashes of real photo crops, then planted copies at distances
0..max_distance+2 of window hashes and of the day's own. Every candidate's answers are checked
against the scan's (the brute-force sample against the same state). A sensitivity pass times the scan and
multi-index hashing on 5,000 queries for distances 2..14 and 40% or 90% clustered hashes.
Peak memory: tracemalloc in a second pass (it slows Python code, so it is not timed), and the process's peak RSS.

Run:  .venv/bin/python benchmarks/bench_neardup.py --json benchmarks/results/neardup-<date>.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trendscope.ingest.inspect import hamming, hash_image
from trendscope.ingest.neardup import NearDuplicateIndex, hash_value
from trendscope.pipeline.ingest import mark_near_duplicates


class Index(Protocol):
    def first_within(self, phash: str) -> tuple[int, int] | None: ...
    def add(self, phash: str) -> int: ...


# ---------------------------------------------------------------------------------- hashes


def real_seeds(n: int, rng: np.random.Generator) -> list[int]:
    """pHashes of random crops of the packaged photos (real hashes are not uniform)."""
    from PIL import Image

    from trendscope.photos import SAMPLE_PHOTOS, sample_photo

    photos = [Image.fromarray(sample_photo(name)) for name in SAMPLE_PHOTOS]
    seeds = []
    for k in range(n):
        src = photos[k % len(photos)]
        w, h = src.size
        f = rng.uniform(0.3, 1.0)
        x, y = int(rng.integers(0, w - int(w * f) + 1)), int(rng.integers(0, h - int(h * f) + 1))
        crop = src.crop((x, y, x + int(w * f), y + int(h * f))).resize((256, 192))
        seeds.append(int(hash_image(crop), 16))
    return seeds


def make_hashes(
    window: int, new: int, max_distance: int, seed: int, clustered: float = 0.4, photos: int = 300
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Window and day hashes (hex) with planted copies; and how they were drawn."""
    rng = np.random.default_rng(seed)
    seeds = np.array(real_seeds(photos, rng), dtype=np.uint64)
    dc_bit = np.uint64(1 << 63)
    share = clustered

    def fresh(n: int) -> np.ndarray:
        uniform = rng.integers(0, 2**63, size=n, dtype=np.uint64) | dc_bit
        flips = rng.random((n, 63)) < rng.uniform(0.08, 0.25, size=(n, 1))  # 5..16 bits
        noise = (flips.astype(np.uint64) << np.arange(63, dtype=np.uint64)).sum(axis=1)
        clustered_values = seeds[rng.integers(0, len(seeds), size=n)] ^ noise.astype(np.uint64)
        return np.where(rng.random(n) < share, clustered_values, uniform)

    def at_distance(values: np.ndarray, distances: np.ndarray) -> np.ndarray:
        out = values.copy()
        for k, d in enumerate(distances):
            for b in rng.choice(63, size=d, replace=False):  # never the DC bit
                out[k] ^= np.uint64(1) << np.uint64(b)
        return out

    w = fresh(window)
    planted_window = planted_day = new // 10
    day = fresh(new - planted_window - planted_day)
    d_w = rng.integers(0, max_distance + 3, size=planted_window)
    d_d = rng.integers(0, max_distance + 3, size=planted_day)
    copies_w = at_distance(w[rng.integers(0, window, size=planted_window)], d_w)
    copies_d = at_distance(day[rng.integers(0, len(day), size=planted_day)], d_d)
    day = np.concatenate([day, copies_w, copies_d])
    day = day[rng.permutation(len(day))]
    info = {
        "window": window,
        "new": new,
        "uniform_share": 1 - clustered,
        "clustered_share": clustered,
        "real_seed_hashes": len(seeds),
        "planted_copies_of_window_hashes": planted_window,
        "planted_copies_of_day_hashes": planted_day,
        "planted_distances": f"0..{max_distance + 2}, uniform",
    }
    return [f"{int(v):016x}" for v in w], [f"{int(v):016x}" for v in day], info


# ------------------------------------------------------------------------------ candidates


class MultiIndex:
    """Multi-index hashing: ``max_distance + 1`` chunk tables, candidates verified by popcount."""

    def __init__(self, max_distance: int, hashes: list[str]) -> None:
        self.r = max_distance
        m = max_distance + 1
        widths = [64 // m + (1 if k < 64 % m else 0) for k in range(m)]
        self.shifts = [sum(widths[:k]) for k in range(m)]
        self.masks = [(1 << wd) - 1 for wd in widths]
        values = np.fromiter((hash_value(h) for h in hashes), dtype=np.uint64)
        self.values = np.empty(max(len(values), 1024), dtype=np.uint64)
        self.values[: len(values)] = values
        self.size = len(values)
        self.static: list[dict[int, np.ndarray]] = []
        self.dynamic: list[dict[int, list[int]]] = [{} for _ in range(m)]
        for shift, mask in zip(self.shifts, self.masks, strict=True):
            keys = (values >> np.uint64(shift)) & np.uint64(mask)
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
            starts = np.concatenate([[0], cuts])
            groups = np.split(order, cuts)
            self.static.append(
                {int(sorted_keys[s]): g for s, g in zip(starts, groups, strict=True)}
            )

    def first_within(self, phash: str) -> tuple[int, int] | None:
        q = hash_value(phash)
        parts: list[Any] = []
        for shift, mask, static, dynamic in zip(
            self.shifts, self.masks, self.static, self.dynamic, strict=True
        ):
            key = (q >> shift) & mask
            if (a := static.get(key)) is not None:
                parts.append(a)
            if (lst := dynamic.get(key)) is not None:
                parts.append(np.asarray(lst, dtype=np.int64))
        if not parts:
            return None
        cands = np.concatenate(parts)
        d = np.bitwise_count(self.values[cands] ^ np.uint64(q))
        hits = cands[d <= self.r]
        if not len(hits):
            return None
        pos = int(hits.min())
        return pos, int(np.bitwise_count(self.values[pos] ^ np.uint64(q)))

    def add(self, phash: str) -> int:
        q = hash_value(phash)
        if self.size == len(self.values):
            self.values = np.concatenate([self.values, np.empty_like(self.values)])
        self.values[self.size] = q
        for shift, mask, dynamic in zip(self.shifts, self.masks, self.dynamic, strict=True):
            dynamic.setdefault((q >> shift) & mask, []).append(self.size)
        self.size += 1
        return self.size - 1


class BKTree:
    """A BK-tree over integer hashes (pure Python): every match found, then the earliest."""

    def __init__(self, max_distance: int, hashes: list[str]) -> None:
        self.r = max_distance
        self.root: list[Any] | None = None  # [value, position, {distance: child}]
        self.size = 0
        for h in hashes:
            self.add(h)

    def add(self, phash: str) -> int:
        value, pos = hash_value(phash), self.size
        self.size += 1
        node = [value, pos, {}]
        if self.root is None:
            self.root = node
            return pos
        cur = self.root
        while True:
            d = (cur[0] ^ value).bit_count()
            nxt = cur[2].get(d)
            if nxt is None:
                cur[2][d] = node
                return pos
            cur = nxt

    def first_within(self, phash: str) -> tuple[int, int] | None:
        q, r = hash_value(phash), self.r
        best: tuple[int, int] | None = None
        stack = [self.root] if self.root is not None else []
        while stack:
            value, pos, children = stack.pop()
            d = (value ^ q).bit_count()
            if d <= r and (best is None or pos < best[0]):
                best = (pos, d)
            for cd, child in children.items():
                if d - r <= cd <= d + r:
                    stack.append(child)
        return best


def run_sequential(index: Index, day: list[str]) -> list[tuple[int, int] | None]:
    """The ingest semantics: each hash's earliest match, or it joins the set."""
    out = []
    for h in day:
        m = index.first_within(h)
        if m is None:
            index.add(h)
        out.append(m)
    return out


def brute_sample(
    window: list[str], day: list[str], answers: list, max_distance: int, sample: list[int]
) -> tuple[float, list]:
    """The former pure-Python scan on sampled queries, each against the set it would see."""
    originals = [h for h, a in zip(day, answers, strict=True) if a is None]
    joined = np.cumsum([a is None for a in answers]) - np.array([a is None for a in answers])
    seconds, got = 0.0, []
    for j in sample:
        seen = [(h, k) for k, h in enumerate(window + originals[: joined[j]])]
        start = time.perf_counter()
        match = next(((k, d) for h, k in seen if (d := hamming(h, day[j])) <= max_distance), None)
        seconds += time.perf_counter() - start
        got.append(match)
    return seconds, got


# --------------------------------------------------------------------------------- running


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _timed(build: Any, day: list[str]) -> tuple[float, float, list, Any]:
    start = time.perf_counter()
    index = build()
    built = time.perf_counter() - start
    answers = run_sequential(index, day)
    return built, time.perf_counter() - start - built, answers, index


def _traced_peak_mb(fn: Any) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=140_000)
    parser.add_argument("--new", type=int, default=20_000)
    parser.add_argument("--max-distance", type=int, default=6)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--brute-sample", type=int, default=150, help="queries timed in Python")
    parser.add_argument("--bktree-sample", type=int, default=300, help="BK-tree queries timed")
    parser.add_argument("--sensitivity-queries", type=int, default=5_000)
    parser.add_argument("--photos", type=int, default=300, help="real crops seeding clusters")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    r = args.max_distance
    start = time.perf_counter()
    window, day, data = make_hashes(args.window, args.new, r, args.seed, photos=args.photos)
    print(
        f"hashes: {len(window)} in the window, {len(day)} new ({time.perf_counter() - start:.1f} s)"
    )
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"data": data, "max_distance": r, "candidates": {}}
    rss0 = _rss_mb()

    # the product, as ingest calls it: rows of dicts and (phash, image_id) pairs
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    rows = [
        {"image_id": f"new{k}", "source_uri": f"/d/{k:05d}.jpg", "status": "ok", "phash": h,
         "taken_at": t0 + timedelta(seconds=k), "reason": None}
        for k, h in enumerate(day)
    ]  # fmt: skip
    earlier = [(h, f"win{k}") for k, h in enumerate(window)]
    s = time.perf_counter()
    mark_near_duplicates(rows, earlier, r)
    product_s = time.perf_counter() - s
    result["mark_near_duplicates_s"] = product_s
    print(f"mark_near_duplicates (ingest's call): {product_s:.2f} s")

    builders = {
        "scan": lambda: NearDuplicateIndex(r, window),
        "mih": lambda: MultiIndex(r, window),
    }
    answers: dict[str, list] = {}
    for name, build in builders.items():
        built, queried, answers[name], index = _timed(build, day)
        del index
        result["candidates"][name] = {
            "build_s": built,
            "queries_s": queried,
            "total_s": built + queried,
            "queries": len(day),
            "rss_after_mb": _rss_mb(),
        }
        print(f"{name}: build {built:.2f} s, {len(day)} queries {queried:.2f} s")
    scan = answers["scan"]
    dup = ["win" if a[0] < len(window) else "day" for a in scan if a is not None]
    result["duplicates_found"] = {"of_window": dup.count("win"), "of_day": dup.count("day")}
    result["distance_histogram"] = np.bincount(
        [a[1] for a in scan if a is not None], minlength=r + 1
    ).tolist()
    assert answers["mih"] == scan, "multi-index hashing disagrees with the scan"
    same_as_rows = [
        (row["status"] == "duplicate") == (a is not None) for row, a in zip(rows, scan, strict=True)
    ]
    assert all(same_as_rows), "mark_near_duplicates disagrees with the index"

    # BK-tree: build in full, queries on a sample in the day's order (the state from the scan)
    s = time.perf_counter()
    tree = BKTree(r, window)
    tree_build = time.perf_counter() - s
    sample = sorted(rng.sample(range(len(day)), args.bktree_sample))
    bk_seconds, last = 0.0, 0
    for j in sample:
        for k in range(last, j):  # replay the originals before j untimed
            if scan[k] is None:
                tree.add(day[k])
        last = j
        s = time.perf_counter()
        got = tree.first_within(day[j])
        bk_seconds += time.perf_counter() - s
        assert got == scan[j], f"BK-tree disagrees with the scan at query {j}"
    per_query = bk_seconds / len(sample)
    result["candidates"]["bktree"] = {
        "build_s": tree_build,
        "queries_timed": len(sample),
        "per_query_ms": per_query * 1e3,
        "queries_s_extrapolated": per_query * len(day),
        "total_s": tree_build + per_query * len(day),
        "rss_after_mb": _rss_mb(),
    }
    del tree
    print(f"bktree: build {tree_build:.2f} s, {per_query * 1e3:.2f} ms a query (sample)")

    # the former pure-Python scan on a sample, extrapolated; same answers as the scan
    sample = sorted(rng.sample(range(len(day)), args.brute_sample))
    brute_s, got = brute_sample(window, day, scan, r, sample)
    assert got == [scan[j] for j in sample], "the brute-force sample disagrees with the scan"
    per_query = brute_s / len(sample)
    result["candidates"]["brute_python"] = {
        "queries_timed": len(sample),
        "per_query_ms": per_query * 1e3,
        "total_s": per_query * len(day),
    }
    print(f"brute force (Python): {per_query * 1e3:.1f} ms a query -> {per_query * len(day):.0f} s")

    # peak RSS so far: the candidates' runs (the sensitivity pass draws more hashes below)
    result["peak_rss_mb_candidates"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # how scan and multi-index hashing move with the distance and with clustering
    result["sensitivity"] = []
    for share in (0.4, 0.9):
        for dist in (2, 6, 10, 14):
            w, d, _ = make_hashes(
                args.window, args.sensitivity_queries, dist, args.seed, share, args.photos
            )
            row: dict[str, Any] = {"clustered_share": share, "max_distance": dist}
            found = {}
            for name, cls in (("scan", NearDuplicateIndex), ("mih", MultiIndex)):
                built, queried, found[name], _ = _timed(lambda c=cls, r_=dist, w_=w: c(r_, w_), d)
                row[f"{name}_s"] = built + queried
            assert found["mih"] == found["scan"], row
            row["duplicates"] = sum(a is not None for a in found["scan"])
            result["sensitivity"].append(row)
            print(f"sensitivity {row}")

    # memory: tracemalloc peaks (untimed pass), then the process's peak RSS
    result["candidates"]["scan"]["tracemalloc_peak_mb"] = _traced_peak_mb(
        lambda: run_sequential(NearDuplicateIndex(r, window), day)
    )
    result["candidates"]["mih"]["tracemalloc_peak_mb"] = _traced_peak_mb(
        lambda: run_sequential(MultiIndex(r, window), day)
    )
    result["candidates"]["bktree"]["tracemalloc_peak_mb_build"] = _traced_peak_mb(
        lambda: BKTree(r, window)
    )
    result["mark_near_duplicates_tracemalloc_peak_mb"] = _traced_peak_mb(
        lambda: mark_near_duplicates([dict(x, status="ok") for x in rows], earlier, r)
    )
    result["hash_strings_mb"] = (sys.getsizeof(window[0]) * (len(window) + len(day))) / 2**20
    result["rss_start_mb"] = rss0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    brute = result["candidates"]["brute_python"]["total_s"]
    result["speedup_vs_brute_python"] = {
        name: brute / c["total_s"] for name, c in result["candidates"].items()
    }
    result["target_s"] = 30
    result["when"] = datetime.now().isoformat(timespec="seconds")
    result["machine"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": __import__("os").cpu_count(),
        "load_average": __import__("os").getloadavg(),
    }
    result["command"] = " ".join(sys.argv)
    print(json.dumps({k: v for k, v in result.items() if k != "data"}, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
