"""Hard-negative mining for a new detector class (issue 14): does round 1 cut false positives?

One run, all on the CPU (the target: a 2-core machine in about 15 minutes):

1. ``build_yolo_dataset``: Fashion-MNIST sneakers pasted on random crops of the packaged photos
   (train / val), and negatives without sneakers, half of them holding look-alikes (sandals,
   ankle boots, bags): ``negatives/`` (mined) and ``negatives_holdout/`` (never mined).
2. ``train_detector`` with one mining round: round 0 fine-tunes the fetched YOLOv8 checkpoint;
   round 1 adds the negatives round 0 fired on (confidence >= 0.25) as backgrounds and trains
   on from round 0's weights.
3. A control for round 1: the same extra epochs from round 0's weights, same learning rate,
   without the mined backgrounds, so "fewer false positives" is not just "trained longer".

Target: round 1 has fewer false positives on the negatives than round 0 and loses no more than
0.02 mAP50 on the holdout.

Run:  .venv/bin/python benchmarks/bench_hard_negatives.py \
          --json benchmarks/results/hard-negatives-<date>.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="round 0 epochs")
    parser.add_argument("--mining-epochs", type=int, default=5, help="round 1 (and control) epochs")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--train", type=int, default=60)
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--negatives", type=int, default=60)
    parser.add_argument("--negatives-holdout", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", help="default: a temporary folder")
    parser.add_argument("--no-control", action="store_true", help="skip the control run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from trendscope.training.detector import train_detector
    from trendscope.training.yolo_data import build_yolo_dataset

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-hard-negatives-"))
    t0 = time.monotonic()
    ds = build_yolo_dataset(
        work / "data",
        train=args.train,
        val=args.val,
        negatives=args.negatives,
        negatives_holdout=args.negatives_holdout,
        imgsz=args.imgsz,
        seed=args.seed,
    )
    common = dict(
        imgsz=args.imgsz,
        device=args.device,
        negatives=ds.negatives,
        holdout_negatives=ds.negatives_holdout,
        seed=args.seed,
    )
    mined = train_detector(
        ds.data_yaml,
        "bench-sneakers",
        epochs=args.epochs,
        mining_rounds=1,
        mining_epochs=args.mining_epochs,
        models_dir=REPO / "models",
        workdir=work / "mined",
        progress=lambda r: print(f"round {r.round}: {asdict(r)}", flush=True),
        **common,
    )
    r0, r1 = mined.rounds
    control = None
    if not args.no_control:
        control = train_detector(
            ds.data_yaml,
            "bench-sneakers-control",
            epochs=args.mining_epochs,
            mining_rounds=0,
            base_weights=Path(r0.weights),
            lr0=mined.params["mining_lr0"],
            workdir=work / "control",
            **common,
        ).rounds[0]
        print(f"control: {asdict(control)}", flush=True)
    passed = r1.fp_negatives < r0.fp_negatives and r1.map50 >= r0.map50 - 0.02
    result = {
        "date": date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "args": vars(args),
        "dataset": {"classes": list(ds.classes), "counts": ds.counts},
        "params": mined.params,
        "rounds": [asdict(r) for r in mined.rounds],
        "control": asdict(control) if control else None,
        "target": "fp_negatives(round 1) < fp_negatives(round 0) and "
        "map50(round 1) >= map50(round 0) - 0.02",
        "passed": passed,
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(json.dumps({k: result[k] for k in ("rounds", "control", "passed", "seconds")}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
