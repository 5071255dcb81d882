"""Ingest costs per image, before and after (issue 16): read, header checks, decode, hash, write.

Two measurements in one run, on one image set (``trendscope.bench.make_images``: by default the
memory run's 0.3 MP 2x2 mosaics of the packaged photos, 1 in 8 a PNG) with a published history
of ``--window-days`` days of ``--history-per-day`` hashes each in front of it:

1. **The ingest step** (``ingest_day``), the code before (``--baseline``, default ``HEAD``,
   extracted with ``git archive``) and the working tree, each in its own process, rounds
   alternated. Phases: inspecting the files, reading the window's hashes, near-duplicate
   marking, the rest (discovery, rows, Parquet write). The staged tables are compared.
2. **Stages per image**, the former and the current path alternated image by image in this
   process: reading, sha256, structural check (``verify``), header (open, EXIF; a PNG's EXIF
   may follow its pixels, so Pillow decodes the PNG there), decode for the hash, the hash.
   Means and medians per image (a median resists the spikes of other work on a shared
   machine), and the hash distances between the current reduced decode, the former and a full
   decode.

Run:  .venv/bin/python benchmarks/bench_ingest.py --images 2000 \
          --json benchmarks/results/ingest-<date>.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOCATION = "bench"
DAY = date(2026, 1, 1)
PHASES = ("inspect_file", "earlier_hashes", "mark_near_duplicates", "write")


# ------------------------------------------------------------------------ the ingest step


def child(workdir: Path, out: Path) -> None:
    """Run ``ingest_day`` once on the bench day (in whichever ``trendscope`` is on the path)."""
    import trendscope
    import trendscope.pipeline.ingest as ingest
    from trendscope.config import load_config
    from trendscope.tables import storage

    base = load_config(environ={})
    config = base.model_copy(
        update={
            "data_dir": str(workdir / "data"),
            "source": base.source.model_copy(update={"path": str(workdir / "dropzone")}),
            "locations": [*base.locations, type(base.locations[0])(slug=LOCATION)],
        }
    )
    seconds: dict[str, float] = defaultdict(float)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                seconds[name] += time.perf_counter() - start

        return wrapper

    for name in PHASES[:3]:
        setattr(ingest, name, timed(name, getattr(ingest, name)))
    ingest.to_table = timed("write", ingest.to_table)
    storage.write_table_atomic = timed("write", storage.write_table_atomic)
    start = time.perf_counter()
    step = ingest.ingest_day(config, LOCATION, DAY)
    total = time.perf_counter() - start
    rows = storage.read_table(step.outputs[0]).to_pylist()
    out.write_text(
        json.dumps(
            {
                "total_s": total,
                "phases_s": {**seconds, "other": total - sum(seconds.values())},
                "counts": step.counts,
                "trendscope": trendscope.__file__,
                "rows": {
                    r["source_uri"]: [r["status"], r["duplicate_of"], r["phash"]] for r in rows
                },
            }
        )
    )


def write_history(workdir: Path, days: int, per_day: int, seed: int) -> None:
    """Published ``images`` partitions of random pHashes (DC bit set) for the window days."""
    import numpy as np

    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import IMAGES, to_table

    rng = np.random.default_rng(seed)
    for k in range(1, days + 1):
        day = DAY - timedelta(days=k)
        values = rng.integers(0, 2**63, size=per_day, dtype=np.uint64) | np.uint64(1 << 63)
        rows = [
            {
                "image_id": hashlib.sha256(f"{day}-{i}".encode()).hexdigest(),
                "location": LOCATION,
                "date": day,
                "source_uri": f"s3://history/{day}/{i:06d}.jpg",
                "status": "ok",
                "phash": f"{int(v):016x}",
            }
            for i, v in enumerate(values)
        ]
        path = partition_path(str(workdir / "data"), IMAGES.name, LOCATION, day)
        storage.write_table_atomic(to_table(IMAGES, rows), path)


def baseline_source(rev: str, dest: Path) -> tuple[Path, str]:
    """``include/`` of ``rev`` extracted under ``dest`` (read-only git), and its commit."""
    commit = subprocess.run(
        ["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = dest / f"src-{commit[:12]}"
    if not (target / "include" / "trendscope").is_dir():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "include"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "include", commit


def run_side(src: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / "child.json"
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--child", str(workdir), str(out)]
    subprocess.run(cmd, env=env, check=True)
    return json.loads(out.read_text())


# ---------------------------------------------------------------------- stages per image


def stages(paths: list[Path], full_check: int) -> dict[str, Any]:
    """Per-image stage costs of the former and the current path, alternated image by image."""
    import imagehash
    from PIL import Image, ImageOps

    from trendscope.ingest.inspect import HASH_DRAFT_SIDE, luminance8, perceptual_hash
    from trendscope.tables import storage

    per_image: dict[str, list[tuple[str, dict[str, float]]]] = {"former": [], "current": []}
    distances: dict[str, Counter] = defaultdict(Counter)

    def run(side: str, uri: str) -> str:
        fmt = "PNG" if uri.endswith(".png") else "JPEG"
        cost: dict[str, float] = defaultdict(float)
        per_image[side].append((fmt, cost))
        t = time.perf_counter()

        def tick(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            cost[stage] += now - t
            t = now

        storage.size(uri)
        data = storage.read_bytes(uri)
        tick("read")
        hashlib.sha256(data).hexdigest()
        tick("sha256")
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        tick("verify")
        img = Image.open(io.BytesIO(data))
        _ = img.size, img.format
        tick("header")
        if fmt == "PNG":  # getexif() would decode it here: timed as a decode
            img.load()
            tick("decode (in the header check)")
        img.getexif()
        tick("header")
        if side == "former":  # opened again, decoded to RGB at the draft scale
            img.close()
            img = Image.open(io.BytesIO(data))
            img.draft("RGB", (128, 128))
            img.load()
            tick("decode for the hash")
            upright = ImageOps.exif_transpose(img)
        else:
            img.draft("L", (HASH_DRAFT_SIDE, HASH_DRAFT_SIDE))
            img.load()
            tick("decode for the hash")
            ImageOps.exif_transpose(img, in_place=True)
            upright = img
        h = str(imagehash.phash(luminance8(upright)))
        tick("hash")
        img.close()
        return h

    for side in per_image:  # warm-up, untimed: imports (imagehash, scipy) and first calls
        run(side, str(paths[0]))
        per_image[side].clear()
    for k, path in enumerate(paths):
        uri = str(path)
        order = ("former", "current") if k % 2 else ("current", "former")
        hashes = {side: run(side, uri) for side in order}
        assert hashes["current"] == perceptual_hash(Path(uri).read_bytes()), uri
        current = imagehash.hex_to_hash(hashes["current"])
        distances["current vs former"][int(current - imagehash.hex_to_hash(hashes["former"]))] += 1
        if k < full_check:
            with Image.open(uri) as img:
                img.load()
                full = imagehash.phash(luminance8(ImageOps.exif_transpose(img)))
            for side in ("current", "former"):
                distances[f"{side} vs full decode"][
                    int(imagehash.hex_to_hash(hashes[side]) - full)
                ] += 1

    formats = Counter("PNG" if str(p).endswith(".png") else "JPEG" for p in paths)
    out: dict[str, Any] = {"images": dict(formats), "ms_per_image": {}, "ms_median": {}}
    for side, images in per_image.items():
        stage_names = list(dict.fromkeys(k for _, cost in images for k in cost))
        mean: dict[str, dict[str, float]] = {}
        median: dict[str, dict[str, float]] = {}
        for stage in [*stage_names, "total"]:
            mean[stage], median[stage] = {}, {}
            for f in [*formats, "all"]:
                values = [
                    1e3 * (sum(cost.values()) if stage == "total" else cost.get(stage, 0.0))
                    for fmt, cost in images
                    if f in ("all", fmt)
                ]
                mean[stage][f] = statistics.fmean(values)
                median[stage][f] = statistics.median(values)
        out["ms_per_image"][side], out["ms_median"][side] = mean, median
    out["hash_distance_bits"] = {k: dict(sorted(v.items())) for k, v in distances.items()}
    return out


# ---------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--megapixels", type=float, default=0.3, help="0: mixed 0.3-12 MP")
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--history-per-day", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="HEAD", help="git revision timed as 'before'")
    parser.add_argument("--full-check", type=int, default=500, help="images also fully decoded")
    parser.add_argument("--workdir", default="/tmp/trendscope-bench-ingest")
    parser.add_argument("--json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return 0

    from trendscope.bench import make_images

    workdir = Path(args.workdir)
    mp = args.megapixels or None
    day_dir = workdir / "dropzone" / LOCATION / DAY.isoformat()
    start = time.perf_counter()
    paths = make_images(day_dir, args.images, megapixels=mp)
    print(f"{len(paths)} images in {day_dir} ({time.perf_counter() - start:.0f} s)")
    write_history(workdir, args.window_days, args.history_per_day, seed=16)
    before_src, commit = baseline_source(args.baseline, workdir)
    sides = {"before": before_src, "after": REPO / "include"}
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for k in range(args.rounds):
        for side in ("before", "after") if k % 2 == 0 else ("after", "before"):
            result = run_side(sides[side], workdir)
            assert Path(result["trendscope"]).is_relative_to(sides[side]), result["trendscope"]
            runs[side].append(result)
            print(f"round {k} {side}: {result['total_s']:.1f} s {result['counts']}")
    n = len(paths)
    summary: dict[str, Any] = {}
    for side, results in runs.items():
        summary[side] = {
            "total_s": [r["total_s"] for r in results],
            "ms_per_image_median": {
                phase: 1e3 * statistics.median(r["phases_s"].get(phase, 0.0) for r in results) / n
                for phase in [*PHASES, "other"]
            },
            "counts": results[-1]["counts"],
        }
        summary[side]["ms_per_image_median"]["total"] = (
            1e3 * statistics.median(summary[side]["total_s"]) / n
        )
    before_rows, after_rows = runs["before"][-1]["rows"], runs["after"][-1]["rows"]
    summary["same_rows"] = {
        "status": sum(before_rows[u][0] == after_rows[u][0] for u in after_rows),
        "duplicate_of": sum(before_rows[u][1] == after_rows[u][1] for u in after_rows),
        "phash": sum(before_rows[u][2] == after_rows[u][2] for u in after_rows),
        "of": len(after_rows),
    }
    summary["before_over_after"] = statistics.median(summary["before"]["total_s"]) / (
        statistics.median(summary["after"]["total_s"])
    )
    print(f"ingest_day before/after: {summary['before_over_after']:.2f}x, {summary['same_rows']}")
    per_stage = stages(paths, args.full_check)
    result = {
        "images": n,
        "megapixels": mp or "mixed 0.3-12",
        "history": {"window_days": args.window_days, "hashes_per_day": args.history_per_day},
        "baseline": {"rev": args.baseline, "commit": commit},
        "working_tree_changes": subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout.splitlines(),
        "ingest_day": summary,
        "stages": per_stage,
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "command": " ".join(sys.argv),
    }
    print(json.dumps({k: result[k] for k in ("ingest_day", "stages")}, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
