"""The daily trends step on a published synthetic history, and the CLI that prints it."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow.compute as pc

from trendscope.cli import main
from trendscope.pipeline.trends import trends_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.trends.synthetic import synthetic_history

START = date(2026, 3, 1)


def _publish(config, images, detections) -> None:
    for table, data in (("images", images), ("detections", detections)):
        for day in sorted(set(data.column("date").to_pylist())):
            part = data.filter(pc.equal(data.column("date"), day))
            storage.write_table_atomic(
                part, partition_path(config.data_root, table, "shibuya", day)
            )


def test_step_flags_the_planted_rise_and_cli_lists_it_first(config, capsys) -> None:
    images, detections = synthetic_history(
        20,
        ["shibuya"],
        150,
        {"cat": 0.1, "dog": 0.2, "person": 0.5},
        steps={("shibuya", "cat"): (15, 0.4)},
        seed=3,
        start=START,
    )
    _publish(config, images, detections)
    step_day = START + timedelta(days=15)
    before = trends_day(config, "shibuya", step_day - timedelta(days=1))
    result = trends_day(config, "shibuya", step_day)
    assert result.counts.get("rising", 0) >= 1 and before.counts.get("rising", 0) == 0
    row = next(
        r
        for r in storage.read_table(result.outputs[0]).to_pylist()
        if r["kind"] == "object" and r["label"] == "cat" and r["fine_label"] is None
    )
    assert row["trend"] == "rising" and row["baseline_days"] == 15
    assert 0.05 < row["baseline_share"] < 0.15 and row["share"] > 0.3
    assert row["p_adjusted"] < 0.05 and row["lift"] > 2

    assert (
        main(
            [
                "trends",
                "--location",
                "shibuya",
                "--date",
                step_day.isoformat(),
                "--data-dir",
                config.data_root,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    first_object_row = out.split("Objects\n")[1].splitlines()[2]
    assert first_object_row.split()[0] == "cat" and first_object_row.split()[-1] == "rising"
