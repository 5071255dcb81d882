"""Benchmark: what colour extraction costs the analyze step, and centre weights against GrabCut.

1. **Analyze with and without colours**, in one process: two analyzers with the default config,
   one with ``colours.enabled: false``, run the same batches of real images (demo posts
   composed from the packaged photos, most showing a cat, so there are targets to colour),
   interleaved ``on, off, off, on, ...`` for ``--repeats`` rounds. Reported: the median
   per-round ratio of process CPU time and of wall time (on / off); the issue's budget is 1.10.
2. **Object pixels**: per cropped target of those images, the time of
   :func:`~trendscope.vision.colours.dominant_colours` with centre weights and with GrabCut,
   and how often the two give the same first family.

    python benchmarks/bench_colours.py --json benchmarks/results/colours-2026-12-02.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np

from trendscope.config import load_config
from trendscope.demo import compose_post
from trendscope.photos import sample_photo
from trendscope.vision.colours import dominant_colours

REPO = Path(__file__).resolve().parents[1]
POSTS = [(200 + k, kind, extra) for k, (kind, extra) in enumerate(
    [("cat", None), ("cat", "cup"), ("person", "cat"), ("cat", None), ("bus", "cat"),
     ("cat", "person"), ("cup", "cat"), ("cat", None)] * 2
)]  # fmt: skip
"""16 demo posts (seed, kind, extra): 12 or more show a cat."""
PHOTOS = ("chelsea", "coffee", "bus", "zidane")


def images() -> list[np.ndarray]:
    """The benchmark's real images: composed posts and packaged photos (20 in all)."""
    out = [
        np.asarray(compose_post(np.random.default_rng(s), k, e).image.convert("RGB"))
        for s, k, e in POSTS
    ]
    return out + [sample_photo(p) for p in PHOTOS]


def _timed(fn) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args(argv)

    from trendscope.models.fetch import fetch_models
    from trendscope.pipeline.analyze import Analyzer

    fetch_models(REPO / "models")
    base = {"models_dir": str(REPO / "models")}
    on = Analyzer(load_config(environ={}, overrides=base))
    off = Analyzer(load_config(environ={}, overrides={**base, "colours.enabled": False}))
    pixels = images()
    batch = on.config.batch_size
    batches = [pixels[i : i + batch] for i in range(0, len(pixels), batch)]
    for a in (on, off):  # warm up: first calls allocate
        a.analyze(batches[0])

    def run(analyzer: Analyzer) -> list:
        return [analyzer.analyze(b) for b in batches]

    rounds = []
    for r in range(args.repeats):
        order = (on, off) if r % 2 == 0 else (off, on)
        t = {id(a): _timed(lambda a=a: run(a)) for a in order}
        rounds.append({"on": t[id(on)], "off": t[id(off)]})
    cpu = [x["on"][0] / x["off"][0] for x in rounds]
    wall = [x["on"][1] / x["off"][1] for x in rounds]

    # every cropped target of the images, as analyze sees it
    boxes = []
    for b in batches:
        for img, rows in zip(b, on.analyze(b)[1], strict=True):
            boxes += [(img, (r["x1"], r["y1"], r["x2"], r["y2"])) for r in rows if "colours" in r]
    per_crop = {}
    firsts = {}
    for method in ("centre", "grabcut"):
        t0 = time.process_time()
        firsts[method] = [dominant_colours(img, box, method=method)[0].family for img, box in boxes]
        per_crop[method] = (time.process_time() - t0) / max(1, len(boxes)) * 1000
    agree = sum(a == b for a, b in zip(firsts["centre"], firsts["grabcut"], strict=True))
    report = {
        "date": date.today().isoformat(),
        "python": platform.python_version(),
        "images": len(pixels),
        "crops_coloured": len(boxes),
        "repeats": args.repeats,
        "rounds_s": [{k: [round(v, 3) for v in x[k]] for k in x} for x in rounds],
        "cpu_ratio_median": round(statistics.median(cpu), 4),
        "wall_ratio_median": round(statistics.median(wall), 4),
        "analyze_cpu_ms_per_image_off": round(
            statistics.median(x["off"][0] for x in rounds) / len(pixels) * 1000, 1
        ),
        "colour_cpu_ms_per_crop": {k: round(v, 2) for k, v in per_crop.items()},
        "first_family": firsts,
        "centre_grabcut_same_first_family": f"{agree}/{len(boxes)}",
    }
    print(json.dumps({k: v for k, v in report.items() if k != "first_family"}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
