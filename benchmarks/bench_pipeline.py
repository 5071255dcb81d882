"""Pipeline throughput against its own models (issue targets, CPU, N=500):

    pipeline / model_only >= 0.8 and pipeline / naive >= 2; peak RSS bounded.

Run:  .venv/bin/python benchmarks/bench_pipeline.py --images 500 --json benchmarks/last-cpu.json
(the same as ``trendscope bench``). Memory: ``--memory --images 20000`` runs the pipeline phase
alone on 20,000 small (0.3 MP) images in one shard and reports its peak RSS. A benchmark, not a test: it prints and records, it does not
assert; results with date, machine and command go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys

from trendscope.bench import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json")
    parser.add_argument("--workdir", default="/tmp/trendscope-bench-pipeline")
    parser.add_argument("--memory", action="store_true", help="pipeline phase only: peak RSS")
    args = parser.parse_args()
    sys.exit(main(args.images, args.device, args.json, args.workdir, args.memory))
