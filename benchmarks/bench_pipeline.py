"""The analyze step against its own ceilings (issue 16 targets, CPU, N=500):

    pipeline / model_only >= 0.9 and pipeline / naive >= 2.5; which phase bounds it; peak RSS.

``model_only`` runs the pipeline's own model code (``Analyzer.analyze``) through its own
scheduler (``run_batches``: ``analyze.workers`` batches at once, cores / workers threads per
model call, ``batch_size`` images a batch, the crop filter) on the same batches decoded
beforehand; ``decode_only`` is the pipeline's own read and decode at the same concurrency.
``--config`` changes all of them alike.

Run:  .venv/bin/python benchmarks/bench_pipeline.py --images 500 [--config FILE]
(the same as ``trendscope bench``); the raw result goes to
``benchmarks/results/<device>-n<N>-<date>[-k].json`` unless ``--json`` says where (every run is
kept). Memory: ``--memory --images 20000`` runs the pipeline phase alone on 20,000 small
(0.3 MP) images in one shard and reports its peak RSS. A benchmark, not a test: it prints and
records, it does not assert; results with date, machine and command go to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from trendscope.bench import main
from trendscope.config import load_config
from trendscope.vision.efficientnet import resolve_device

RESULTS = Path(__file__).parent / "results"


def _json_path(device: str, images: int, memory: bool) -> Path:
    stem = f"{device}-{'memory-' if memory else ''}n{images}-{date.today()}"
    path, n = RESULTS / f"{stem}.json", 1
    while path.exists():  # every recorded run is kept
        n += 1
        path = RESULTS / f"{stem}-{n}.json"
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: the config's")
    parser.add_argument("--config", help="config YAML (default: the shipped one)")
    parser.add_argument("--json", help="raw result (default: results/<device>-n<N>-<date>.json)")
    parser.add_argument("--workdir", default="/tmp/trendscope-bench-pipeline")
    parser.add_argument("--memory", action="store_true", help="pipeline phase only: peak RSS")
    args = parser.parse_args()
    if args.images < 1:
        parser.error("--images must be at least 1")
    config = load_config(args.config)
    device = args.device or resolve_device(config.classifier.device)  # auto: cpu or cuda
    json_path = args.json or str(_json_path(device, args.images, args.memory))
    sys.exit(main(args.images, args.device, json_path, args.workdir, args.memory, config))
