"""The synthetic social-media simulator: overdispersion, weekly rhythm, authors, bursts, ramps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from trendscope.tables.schemas import DETECTIONS, IMAGES
from trendscope.trends.synthetic import (
    Burst,
    LabelSpec,
    Ramp,
    Scenario,
    simulate,
    synthetic_history,
    true_shares,
)

START = date(2026, 1, 5)  # a Monday
WEEKEND = (0.12, 0.12)


def _daily(images: pa.Table, dets: pa.Table, label: str) -> pd.DataFrame:
    """Per location and day index: ok images, ok images showing ``label``, and their share."""
    ok = images.filter(pc.equal(images["status"], "ok"))
    shown_ids = pc.unique(dets.filter(pc.equal(dets["label"], label))["image_id"])
    frame = pd.DataFrame(
        {
            "location": ok["location"].to_pylist(),
            "day": [(d - START).days for d in ok["date"].to_pylist()],
            "author": ok["author"].to_pylist(),
            "shown": pc.is_in(ok["image_id"], value_set=shown_ids).to_numpy(),
        }
    )
    out = frame.groupby(["location", "day"]).agg(ok=("shown", "size"), shown=("shown", "sum"))
    out["share"] = out["shown"] / out["ok"]
    return out


def _on_day(table: pa.Table, location: str, day_index: int) -> pa.Table:
    day = START + timedelta(days=day_index)
    return table.filter(
        pc.and_(pc.equal(table["location"], location), pc.equal(table["date"], day))
    )


# --- overdispersion and weekly rhythm ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sd", "sd_range"),
    [
        (0.025, (0.018, 0.032)),  # overdispersed: about 4 binomial sds
        (0.0, (0.0047, 0.0087)),  # binomial: sqrt(0.09 * 0.91 / 1900) = 0.0066
    ],
)
def test_daily_share_spread(sd: float, sd_range: tuple[float, float]) -> None:
    scenario = Scenario(120, ("a",), {"umbrella": LabelSpec(0.09, sd=sd)}, posts_per_day=2000)
    daily = _daily(*simulate(scenario, seed=1), "umbrella")
    assert len(daily) == 120
    binomial_sd = np.sqrt(0.09 * 0.91 / daily["ok"].mean())
    measured = daily["share"].std()
    assert daily["share"].mean() == pytest.approx(0.09, abs=0.008)
    assert sd_range[0] <= measured <= sd_range[1]
    if sd:
        assert measured > 2.5 * binomial_sd


def test_weekly_rhythm() -> None:
    spec = LabelSpec(0.09, weekday_shares=(0.09,) * 5 + WEEKEND)
    scenario = Scenario(84, ("a",), {"umbrella": spec}, posts_per_day=1000, weekend_volume=1.3)
    images, dets = simulate(scenario, seed=2)
    daily = _daily(images, dets, "umbrella").reset_index()
    weekend = daily["day"] % 7 >= 5  # START is a Monday
    pooled = daily.groupby(weekend)[["shown", "ok"]].sum()
    assert pooled.loc[True, "shown"] / pooled.loc[True, "ok"] == pytest.approx(0.12, abs=0.005)
    assert pooled.loc[False, "shown"] / pooled.loc[False, "ok"] == pytest.approx(0.09, abs=0.004)
    weekend_posts = sum((d - START).days % 7 >= 5 for d in images["date"].to_pylist())
    assert weekend_posts / 24 == 1300  # 12 weeks: 24 weekend days with 30% more posts
    assert (images.num_rows - weekend_posts) / 60 == 1000
    assert true_shares(scenario, "a", "umbrella")[[0, 4, 5, 6, 7]].tolist() == pytest.approx(
        [0.09, 0.09, 0.12, 0.12, 0.09]
    )


@pytest.mark.parametrize(("cv", "cv_range"), [(0.0, (0.0, 0.0)), (0.3, (0.22, 0.38))])
def test_volume_noise(cv: float, cv_range: tuple[float, float]) -> None:
    scenario = Scenario(
        150, ("a",), {"cat": LabelSpec(0.1)}, posts_per_day=500, volume_cv=cv, authors=0
    )
    images, _ = simulate(scenario, seed=3)
    counts = pd.Series(images["date"].to_pylist()).value_counts()
    assert counts.mean() == pytest.approx(500, rel=0.1)
    assert cv_range[0] <= counts.std() / counts.mean() <= cv_range[1]


# --- authors and bursts --------------------------------------------------------------------------


def test_authors_are_skewed() -> None:
    scenario = Scenario(5, ("a",), {"cat": LabelSpec(0.1)}, posts_per_day=300)
    images, _ = simulate(scenario, seed=4)
    assert pc.all(pc.match_substring_regex(images["author"], r"^u\d{5}$")).as_py()
    frame = images.select(["date", "author"]).to_pandas()
    for _, per_author in frame.groupby("date")["author"]:
        counts = per_author.value_counts()
        assert counts.max() >= 4  # a few authors post several images a day
        assert counts.median() == 1  # most post one
        assert (counts == 1).mean() > 0.6


def test_burst() -> None:
    labels = {"umbrella": LabelSpec(0.05), "person": LabelSpec(0.5)}
    burst = Burst("a", "umbrella", day=9, images=60)
    scenario = Scenario(14, ("a", "b"), labels, posts_per_day=400, bursts=(burst,))
    images, dets = simulate(scenario, seed=5)

    by_burst = images.filter(pc.equal(images["author"], "burst_author"))
    assert by_burst.num_rows == 60
    assert set(by_burst["location"].to_pylist()) == {"a"}
    assert set(by_burst["date"].to_pylist()) == {START + timedelta(days=9)}
    assert set(by_burst["status"].to_pylist()) == {"ok"}
    umbrella_ids = dets.filter(pc.equal(dets["label"], "umbrella"))["image_id"]
    assert pc.all(pc.is_in(by_burst["image_id"], value_set=umbrella_ids)).as_py()
    day = _on_day(images, "a", 9)
    assert pc.count_distinct(day["source_uri"]).as_py() == day.num_rows

    # nobody else changes: without the burst every other row is the same
    quiet_images, quiet_dets = simulate(dataclasses.replace(scenario, bursts=()), seed=5)
    others = images.filter(pc.invert(pc.equal(images["author"], "burst_author")))
    assert others.equals(quiet_images)
    other_dets = dets.filter(pc.invert(pc.is_in(dets["image_id"], value_set=by_burst["image_id"])))
    assert other_dets.equals(quiet_dets)

    daily = _daily(images, dets, "umbrella").loc[("a", 9)]
    assert daily["share"] > 0.15  # the burst shows in the day's share
    others_share = _daily(others, dets, "umbrella").loc[("a", 9), "share"]
    assert others_share == pytest.approx(0.05, abs=3 * np.sqrt(0.05 * 0.95 / 380))


# --- ramps, steps, missing days ------------------------------------------------------------------

RAMPS = (Ramp("a", "cat", start=20, days=30, to_share=0.25), Ramp("b", "cat", 30, 1, 0.15))


@pytest.mark.parametrize(
    ("location", "day", "expected"),
    [
        ("a", 19, 0.05),
        ("a", 20, 0.05 + 0.2 / 30),
        ("a", 34, 0.15),
        ("a", 49, 0.25),
        ("a", 59, 0.25),
        ("b", 29, 0.05),  # a step is a ramp of one day
        ("b", 30, 0.15),
        ("b", 59, 0.15),
    ],
)
def test_true_shares_of_ramps(location: str, day: int, expected: float) -> None:
    scenario = Scenario(60, ("a", "b"), {"cat": LabelSpec(0.05)}, ramps=RAMPS)
    assert true_shares(scenario, location, "cat")[day] == pytest.approx(expected)


def test_measured_shares_follow_ramps() -> None:
    scenario = Scenario(60, ("a", "b"), {"cat": LabelSpec(0.05)}, posts_per_day=1500, ramps=RAMPS)
    images, dets = simulate(scenario, seed=6)
    daily = _daily(images, dets, "cat")
    for location in ("a", "b"):
        measured = daily.loc[location]
        expected = true_shares(scenario, location, "cat")[measured.index]
        z = (measured["share"] - expected) / np.sqrt(expected * (1 - expected) / measured["ok"])
        assert np.abs(z).max() < 4
    # the ramp is spread over many authors
    late = _on_day(images, "a", 59)
    cats = late.filter(pc.is_in(late["image_id"], value_set=dets["image_id"]))
    assert pc.count_distinct(cats["author"]).as_py() > 100


def test_missing_and_low_volume_days() -> None:
    scenario = Scenario(
        10,
        ("a",),
        {"cat": LabelSpec(0.2)},
        posts_per_day=500,
        missing_days=frozenset({3, 7}),
        volume_factors={5: 0.1},
    )
    images, dets = simulate(scenario, seed=7)
    days = pd.Series([(d - START).days for d in images["date"].to_pylist()]).value_counts()
    assert sorted(days.index) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert days[5] == 50 and days[0] == 500
    assert {(d - START).days for d in dets["date"].to_pylist()}.isdisjoint({3, 7})


def test_day_subsets_match_the_full_run() -> None:
    labels = {
        "umbrella": LabelSpec(0.09, sd=0.02, weekday_shares=(0.09,) * 5 + WEEKEND),
        "cat": LabelSpec(0.2),
    }
    scenario = Scenario(
        14,
        ("a", "b"),
        labels,
        posts_per_day=200,
        weekend_volume=1.3,
        volume_cv=0.2,
        missing_days=frozenset({3}),
        ramps=(Ramp("b", "cat", 2, 5, 0.4),),
        bursts=(Burst("a", "umbrella", 7, 30),),
        fine_labels={"cat": {"tabby": 0.5}},
        scene_shares={"street": 0.4},
    )
    full = simulate(scenario, seed=8)
    subset = simulate(scenario, seed=8, days=[11, 2, 7, 3])
    dates = [(d - START).days for d in _on_day_dates(subset[0], "a")]
    assert dates == [11, 2, 7]  # in the order asked; day 3 is missing
    for location in ("a", "b"):
        for day in (11, 2, 7):
            for whole, part in zip(full, subset, strict=True):
                assert _on_day(part, location, day).equals(_on_day(whole, location, day))
    assert simulate(scenario, seed=8)[1].equals(full[1])
    assert not simulate(scenario, seed=9)[0].equals(full[0])


def _on_day_dates(images: pa.Table, location: str) -> list[date]:
    dates = images.filter(pc.equal(images["location"], location))["date"].to_pylist()
    return list(dict.fromkeys(dates))


# --- contracts, defaults and validation ----------------------------------------------------------


def test_tables_follow_the_contracts() -> None:
    scenario = Scenario(
        7,
        ("a",),
        {"cat": LabelSpec(0.3)},
        fine_labels={"cat": {"tabby": 0.5}},
        scene_shares={"street": 0.4},
        bursts=(Burst("a", "cat", 2, 20),),
    )
    images, dets = simulate(scenario)
    assert images.schema.equals(IMAGES.with_metadata(), check_metadata=True)
    assert dets.schema.equals(DETECTIONS.with_metadata(), check_metadata=True)
    status = pd.Series(images["status"].to_pylist()).value_counts(normalize=True)
    assert status["ok"] == pytest.approx(0.95, abs=0.015)
    assert {"duplicate", "quarantined"} <= set(status.index)
    assert images["author"].null_count == 0
    assert pc.count_distinct(images["image_id"]).as_py() == images.num_rows
    assert dets["fine_label"].null_count == 0  # every cat object has a fine label
    not_ok = images.filter(pc.not_equal(images["status"], "ok"))
    assert not_ok["scene"].null_count == not_ok.num_rows


def test_empty_scenario_has_the_contract_schemas() -> None:
    images, dets = simulate(
        Scenario(3, ("a",), {"cat": LabelSpec(0.1)}, missing_days=frozenset({0, 1, 2}))
    )
    assert images.num_rows == dets.num_rows == 0
    assert images.schema.equals(IMAGES.with_metadata())


def test_synthetic_history_keeps_its_defaults() -> None:
    images, dets = synthetic_history(
        6,
        ["a", "b"],
        40,
        {"cat": 0.2, "dog": 0.1},
        steps={("b", "cat"): (3, 0.6)},
        seed=11,
        fine_labels={"cat": {"tabby": 0.5}},
        scene_shares={"street": 0.5},
        empty_days={1},
    )
    assert images["author"].null_count == images.num_rows == 400
    # the same seed gives the same tables as before the simulator existed
    assert images["image_id"][0].as_py().startswith("4ecc402210fae920")
    cats = dets.filter(pc.and_(pc.equal(dets["location"], "b"), pc.equal(dets["label"], "cat")))
    per_day = pd.Series([d.day for d in cats["date"].to_pylist()]).value_counts().sort_index()
    assert per_day.to_dict() == {1: 11, 3: 11, 4: 25, 5: 37, 6: 34}
    assert pd.Series(images["status"].to_pylist()).value_counts().to_dict() == {
        "ok": 382,
        "duplicate": 11,
        "quarantined": 7,
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LabelSpec(0.09, sd=0.3), "too large"),
        (lambda: LabelSpec(1.5), "share must be within"),
        (lambda: LabelSpec(0.1, weekday_shares=(0.1,) * 6), "7 values"),
        (lambda: Ramp("a", "cat", 3, 0, 0.2), "at least 1 day"),
        (
            lambda: Scenario(
                5, ("a",), {"cat": LabelSpec(0.1)}, ramps=(Ramp("a", "dog", 1, 2, 0.2),)
            ),
            "unknown label",
        ),
        (
            lambda: Scenario(5, ("a",), {"cat": LabelSpec(0.1)}, bursts=(Burst("z", "cat", 1, 5),)),
            "unknown location",
        ),
        (lambda: Scenario(5, ("a",), {"cat": 0.1}), "LabelSpec"),
        (
            lambda: Scenario(5, ("a",), {"cat": LabelSpec(0.1)}, bursts=(Burst("a", "cat", 5, 5),)),
            "outside the days",
        ),
        (lambda: simulate(Scenario(5, ("a",), {"cat": LabelSpec(0.1)}), days=[5]), "outside"),
    ],
)
def test_invalid_scenarios(build: Callable[[], object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        build()
