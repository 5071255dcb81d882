"""Benchmark: how often the trend flags are right on realistic simulated histories.

Runs the product's daily comparison (:func:`trendscope.trends.compare.trends_for_days`) on
histories from :func:`trendscope.trends.synthetic.simulate` and scores the flags against the
truth the simulator planted, side by side with the former method (a pooled two-proportion
z-test on images, Fisher's exact test for small counts, Benjamini-Hochberg per location-day,
``|share - baseline_share| >= min_delta``), recomputed here from the same rows' counts.

Scenarios (91 days, 300 posts a day, weekend volume +30%, volume cv 0.2, skewed authors):

* ``stationary``: seven labels whose mean never moves (daily sd 1-3 points; one at 9% on
  weekdays and 12% at weekends); false flags per testable label-day (days 28..90).
* ``ramp``: cat from 8% to 20% over days 60..64; detected within the ramp, and the delay.
* ``burst``: one author posts 60 umbrella photos on day 70; flagged rising or not.
* ``step``: pure binomial counts, cat from 10% to 30% on day 40, no authors; flagged that day.

    python benchmarks/bench_trend_accuracy.py --seeds 20 --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from trendscope.trends.compare import TrendParams, trends_for_days
from trendscope.trends.stats import benjamini_hochberg
from trendscope.trends.synthetic import (
    SOCIAL_MEDIA_LABELS,
    Burst,
    LabelSpec,
    Ramp,
    Scenario,
    simulate,
    social_media_scenario,
)

LABELS = SOCIAL_MEDIA_LABELS
LOC = "shibuya"
_scenario = social_media_scenario


SCENARIOS = {
    "stationary": (_scenario(), list(range(28, 91))),
    "ramp": (
        _scenario(
            labels=LABELS | {"cat": LabelSpec(0.08, 0.025)},
            ramps=(Ramp(LOC, "cat", 60, 5, 0.20),),
        ),
        list(range(60, 65)),
    ),
    "burst": (_scenario(bursts=(Burst(LOC, "umbrella", 70, 60),)), [70]),
    "step": (
        Scenario(
            days=50,
            locations=(LOC,),
            labels={"cat": LabelSpec(0.10), "dog": LabelSpec(0.20), "car": LabelSpec(0.3)},
            posts_per_day=300,
            authors=0,
            ramps=(Ramp(LOC, "cat", 40, 1, 0.30),),
        ),
        [40],
    ),
}


def z_test_trends(rows: pd.DataFrame, params: TrendParams) -> np.ndarray:
    """The former flags, from the image counts of the same rows."""
    x1, n1 = rows.images.to_numpy(float), rows.ok_images.to_numpy(float)
    x2, n2 = rows.baseline_images.to_numpy(float), rows.baseline_ok_images.to_numpy(float)
    p = np.full(x1.shape, np.nan)
    ok = (n1 > 0) & (n2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        expected = np.minimum(n1, n2) * np.minimum(pooled, 1 - pooled)
        z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    big = ok & (expected >= 5)
    p[big] = 2 * sps.norm.sf(np.abs(z[big]))
    for i in np.flatnonzero(ok & ~big):
        a, b = int(x1[i]), int(x2[i])
        p[i] = sps.fisher_exact([[a, int(n1[i]) - a], [b, int(n2[i]) - b]]).pvalue
    p_adj = benjamini_hochberg(p, rows.date.astype(str).to_numpy())
    delta = x1 / n1 - x2 / np.where(n2 > 0, n2, np.nan)  # the former float comparison
    out = np.full(x1.shape, "stable", dtype=object)
    sig = (p_adj < params.alpha) & (np.abs(delta) >= params.min_delta)
    out[sig & (delta > 0)] = "rising"
    out[sig & (delta < 0)] = "falling"
    out[(x2 == 0) & (x1 > 0)] = "new"
    out[(n1 < params.min_images) | (n2 < params.min_baseline_images)] = "insufficient"
    return out


def run_scenario(name: str, seed: int, params: TrendParams) -> pd.DataFrame:
    """Label-total rows of the judged days with both methods' trend."""
    scenario, judged = SCENARIOS[name]
    images, detections = simulate(scenario, seed)
    days = [scenario.start + timedelta(days=i) for i in judged]
    tables = trends_for_days(images, detections, days, params)
    rows = pd.concat([t.to_pandas() for t in tables.values()], ignore_index=True)
    rows["z_test"] = z_test_trends(rows, params)  # family = all rows of the day, as before
    rows = rows[(rows.kind == "object") & rows.fine_label.isna()].copy()
    rows["day"] = [(d - scenario.start).days for d in rows.date]
    rows["seed"] = seed
    return rows


def score(name: str, rows: pd.DataFrame, method: str) -> dict[str, float]:
    """The scenario's figure of merit for one method's column of trends."""
    trend = rows[method]
    if name == "stationary":
        testable = rows[trend != "insufficient"]
        flags = testable[method].isin(["rising", "falling"])
        weekend = testable[(testable.label == "handbag") & (testable.date.map(date.weekday) >= 5)]
        return {
            "testable_label_days": len(testable),
            "false_flag_rate": float(flags.mean()),
            "handbag_weekend_rising_rate": float((weekend[method] == "rising").mean()),
        }
    if name == "ramp":
        delays = []
        for _, g in rows[rows.label == "cat"].groupby("seed"):
            hit = sorted(g.day[g[method] == "rising"])
            delays.append(hit[0] - 60 if hit else None)
        found = [d for d in delays if d is not None]
        return {
            "detected_within_5_days": len(found) / len(delays),
            "median_delay_days": float(np.median(found)) if found else float("nan"),
        }
    if name == "burst":
        umbrella = rows[rows.label == "umbrella"]
        return {"burst_flagged_rising": float((umbrella[method] == "rising").mean())}
    cat = rows[rows.label == "cat"]
    return {"step_flagged_first_day": float((cat[method] == "rising").mean())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="histories per scenario")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args(argv)
    params = TrendParams()
    t0 = time.perf_counter()
    report: dict = {
        "date": date.today().isoformat(),
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "params": params.__dict__,
        "python": platform.python_version(),
        "scenarios": {},
    }
    for name in SCENARIOS:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        rows = pd.concat([run_scenario(name, s, params) for s in seeds], ignore_index=True)
        report["scenarios"][name] = {
            "model": score(name, rows, "trend"),
            "z_test": score(name, rows, "z_test"),
        }
        print(f"{name:>10}  model: {report['scenarios'][name]['model']}")
        print(f"{'':>10}  z-test: {report['scenarios'][name]['z_test']}")
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
