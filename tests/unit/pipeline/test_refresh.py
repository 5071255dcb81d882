"""Daily trends do not depend on the order days are published in, once the refresh has run.

Each test publishes a simulated history day by day in some order, computes each day's trends
as the daily DAG does (``trends_day``) and refreshes after it as the rollup DAG does
(``refresh_trends`` on the days named by the asset events it consumed), then compares every
``trends_daily`` partition, row for row and column for column, with an in-order run in another
data root. No Airflow here: ``tests/e2e/test_order_independence.py`` runs the same through it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import shutil
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from trendscope.config import TrendscopeConfig, load_config
from trendscope.orchestration.dag_settings import TRENDS_DAILY_ASSET
from trendscope.orchestration.tasks import refresh_location_trends
from trendscope.pipeline.rollup import plan_refresh, plan_rollups
from trendscope.pipeline.trends import refresh_targets, refresh_trends, trends_day
from trendscope.quality import gate
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import TRENDS_DAILY
from trendscope.trends.calendar import period_key
from trendscope.trends.synthetic import Burst, LabelSpec, Ramp, Scenario, simulate

LOCATION = "shibuya"
START = date(2026, 9, 28)  # a Monday
WINDOW = 28  # trends.window_days of the default config
MISSING = WINDOW + 3  # a day without posts: no partitions
SCENARIO = Scenario(
    days=WINDOW + 6,
    locations=(LOCATION,),
    labels={
        "cat": LabelSpec(0.1, sd=0.02),
        "dog": LabelSpec(0.2),
        "person": LabelSpec(0.5, weekday_shares=(0.5,) * 5 + (0.6, 0.6)),
    },
    posts_per_day=80,
    weekend_volume=1.3,
    volume_cv=0.1,
    missing_days=frozenset({MISSING}),
    authors=400,
    ramps=(Ramp(LOCATION, "cat", WINDOW + 1, 3, 0.4),),
    start=START,
    fine_labels={"cat": {"tabby": 0.6}},
    scene_shares={"food": 0.3},
)
DAYS = [START + timedelta(days=k) for k in range(SCENARIO.days)]
MISSING_DAY = DAYS[MISSING]
PAST, TAIL = DAYS[:WINDOW], DAYS[WINDOW:]  # published in order first; then the tail, in any order


@pytest.fixture(scope="module", autouse=True)
def _no_great_expectations() -> Iterator[None]:
    """Every partition still goes through staging and the gate, minus the suite run (~7 s each).

    The suites are tested in ``tests/unit/quality``; here hundreds of partitions are published.
    """

    def passed(config, contract, table, ctx, *, area, images=None) -> gate.ValidationReport:
        return gate.ValidationReport(
            contract.name, ctx.location, ctx.key, area, "test", table.num_rows, 0, [], []
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gate, "validate_partition", passed)
        yield


def _config(root: Path) -> TrendscopeConfig:
    config = load_config(environ={}, overrides={"data_dir": str(root)})
    assert config.trends.window_days == WINDOW
    return config


def _on(table: pa.Table, day: date) -> pa.Table:
    return table.filter(pc.equal(table.column("date"), pa.scalar(day, pa.date32())))


def _publish(config: TrendscopeConfig, history: tuple[pa.Table, pa.Table], day: date) -> None:
    """(Re)publish a day's ``images`` and ``detections``, as the daily ``publish`` task does."""
    images, detections = history
    if not _on(images, day).num_rows:
        return  # no posts that day: nothing is published
    for name, table in (("images", images), ("detections", detections)):
        path = partition_path(config.data_root, name, LOCATION, day)
        storage.write_table_atomic(_on(table, day), path)


def _trends_path(config: TrendscopeConfig, day: date) -> Path:
    return Path(partition_path(config.data_root, TRENDS_DAILY.name, LOCATION, day))


def _trends(config: TrendscopeConfig) -> dict[date, pd.DataFrame]:
    """Every ``trends_daily`` partition of the location, by day."""
    return {
        day: storage.read_table(str(path), TRENDS_DAILY).to_pandas()
        for day in DAYS
        if (path := _trends_path(config, day)).is_file()
    }


def _assert_frames_equal(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    """Row for row and column for column; floats to 1e-12, as a double sum in DuckDB depends
    on how many days one query reads (``author_entropy`` differs in its last bits)."""
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=1e-12, obj=what)


def _assert_same_trends(config: TrendscopeConfig, expected: TrendscopeConfig) -> None:
    got, want = _trends(config), _trends(expected)
    assert sorted(got) == sorted(want)
    for day in want:
        _assert_frames_equal(got[day], want[day], f"trends {day}")


def _run_daily(
    config: TrendscopeConfig,
    history: tuple[pa.Table, pa.Table],
    order: Sequence[date],
    refresh_every: int | None,
) -> None:
    """Daily runs in ``order`` (publish, then trends); a rollup run after every ``refresh_every``.

    The rollup run refreshes from the days whose events it consumed (all since the last one),
    and one runs after the last daily run, as the asset schedule guarantees.
    """
    pending: list[date] = []
    for i, day in enumerate(order, 1):
        _publish(config, history, day)
        if _on(history[0], day).num_rows:
            trends_day(config, LOCATION, day)
            pending.append(day)
        if refresh_every and (i % refresh_every == 0 or i == len(order)):
            refresh_trends(config, LOCATION, pending)
            pending = []


@pytest.fixture(scope="module")
def history() -> tuple[pa.Table, pa.Table]:
    return simulate(SCENARIO, seed=11)


@pytest.fixture(scope="module")
def past(tmp_path_factory, history) -> Path:
    """A data root with the first ``WINDOW`` days published and their trends computed."""
    root = tmp_path_factory.mktemp("past") / "data"
    config = _config(root)
    for day in PAST:
        _publish(config, history, day)
    assert refresh_trends(config, LOCATION, [START])  # the past days' trends, as in order
    return root


def _copy(root: Path, to: Path) -> TrendscopeConfig:
    shutil.copytree(root, to / "data")
    return _config(to / "data")


@pytest.fixture(scope="module")
def in_order(tmp_path_factory, past, history) -> TrendscopeConfig:
    """The reference: the tail's daily runs one after the other, no refresh."""
    config = _copy(past, tmp_path_factory.mktemp("in_order"))
    _run_daily(config, history, TAIL, refresh_every=None)
    return config


def _shuffled(seed: int) -> list[date]:
    days = list(TAIL)
    random.Random(seed).shuffle(days)
    return days


LATE = TAIL[2]


@pytest.mark.parametrize(
    ("order", "refresh_every"),
    [
        pytest.param(_shuffled(1), 1, id="shuffled-rollup-after-each-day"),
        pytest.param(_shuffled(2), 4, id="backfill-4-runs-per-rollup"),
        pytest.param([d for d in TAIL if d != LATE] + [LATE], 1, id="late-day"),
    ],
)
def test_any_order_gives_the_in_order_trends(
    tmp_path, history, past, in_order, order, refresh_every
) -> None:
    assert sorted(order) == TAIL and order != TAIL
    config = _copy(past, tmp_path)
    _run_daily(config, history, order, refresh_every)
    _assert_same_trends(config, in_order)


def test_without_the_refresh_the_order_shows(tmp_path, history, past, in_order) -> None:
    """The check above is not vacuous: out of order, the daily step alone misses baseline days."""
    config = _copy(past, tmp_path)
    _run_daily(config, history, TAIL[::-1], refresh_every=None)
    got, want = _trends(config), _trends(in_order)
    assert sorted(got) == sorted(want)
    later = [d for d in TAIL[1:] if d != MISSING_DAY]
    for day in later:  # each was computed before the tail days ahead of it were published
        assert got[day].baseline_days.max() < want[day].baseline_days.max(), day
    _assert_frames_equal(got[TAIL[0]], want[TAIL[0]], "first")  # it saw its whole window


def _cat(frame: pd.DataFrame) -> pd.Series:
    rows = frame[(frame.kind == "object") & (frame.label == "cat") & frame.fine_label.isna()]
    assert len(rows) == 1
    return rows.iloc[0]


def _ok_and_cat_images(images: pa.Table, detections: pa.Table) -> tuple[int, int]:
    ok = set(images.filter(pc.equal(images.column("status"), "ok")).column("image_id").to_pylist())
    cats = detections.filter(pc.equal(detections.column("label"), "cat"))
    return len(ok), len(ok & set(cats.column("image_id").to_pylist()))


def test_rerun_of_a_past_day_with_new_rows_refreshes_its_window(tmp_path, history, in_order):
    """Day D re-run on other rows (another draw plus 80 posts of cats): D..D+28 follow, no more."""
    d = 3
    rerun = DAYS[d]
    config = _copy(Path(in_order.data_root), tmp_path / "rerun")
    before = _trends(config)
    mtimes = {day: _trends_path(config, day).stat().st_mtime_ns for day in before}
    new_day = simulate(
        dataclasses.replace(SCENARIO, bursts=(Burst(LOCATION, "cat", d, 80),)), seed=99, days=[d]
    )
    new_history = tuple(
        pa.concat_tables([t.filter(pc.not_equal(t.column("date"), rerun)), new])
        for t, new in zip(history, new_day, strict=True)
    )
    assert not _on(new_history[0], rerun).equals(_on(history[0], rerun))

    _publish(config, new_history, rerun)  # the re-run's daily tasks, then its rollup run
    trends_day(config, LOCATION, rerun)
    refreshed = [r.date for r in refresh_trends(config, LOCATION, [rerun])]

    window = [rerun + timedelta(days=k) for k in range(WINDOW + 1)]
    assert refreshed == [day for day in window if day != MISSING_DAY]
    assert refresh_targets(config, LOCATION, [rerun]) == refreshed
    after = _trends(config)
    ok_old, cat_old = _ok_and_cat_images(*(_on(t, rerun) for t in history))
    ok_new, cat_new = _ok_and_cat_images(*new_day)
    assert cat_new - cat_old > 50
    for day in refreshed[1:]:  # the baseline of every later day in the window holds the new rows
        new, old = _cat(after[day]), _cat(before[day])
        assert new.baseline_images - old.baseline_images == cat_new - cat_old, day
        assert new.baseline_ok_images - old.baseline_ok_images == ok_new - ok_old, day
    for day in sorted(set(before) - set(refreshed)):  # outside the window: not even rewritten
        assert _trends_path(config, day).stat().st_mtime_ns == mtimes[day], day
        assert after[day].equals(before[day])

    # and every partition is what an in-order run on the new rows gives
    expected = _copy(Path(in_order.data_root), tmp_path / "expected")
    _publish(expected, new_history, rerun)
    for day in DAYS[d:]:
        if day != MISSING_DAY:
            trends_day(expected, LOCATION, day)
    _assert_same_trends(config, expected)


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ([], []),
        ([DAYS[-1]], [DAYS[-1]]),
        ([MISSING_DAY], [d for d in DAYS[MISSING:] if d != MISSING_DAY]),  # D need not exist
        ([DAYS[0], DAYS[3]], [d for d in DAYS[: WINDOW + 4] if d != MISSING_DAY]),
        ([DAYS[-1] + timedelta(days=1)], []),  # nothing published after it
    ],
)
def test_refresh_targets(past, history, tmp_path, changed, expected) -> None:
    config = _copy(past, tmp_path)
    for day in TAIL:
        _publish(config, history, day)
    assert refresh_targets(config, LOCATION, changed) == expected


# --- what the rollup DAG plans ------------------------------------------------------------------


def _events(*extras: dict) -> dict[str, list[SimpleNamespace]]:
    return {TRENDS_DAILY_ASSET: [SimpleNamespace(extra=extra) for extra in extras]}


@pytest.mark.parametrize(
    ("events", "params", "expected"),
    [
        (
            _events(
                {"location": "shibuya", "date": "2026-10-28"},
                {"location": "brooklyn", "date": "2026-11-03"},
                {"location": "shibuya", "date": "2026-10-26"},
                {"location": "shibuya", "date": "2026-10-28"},  # the same day twice
                {},  # an event from elsewhere: skipped
            ),
            {},
            [
                {"location": "brooklyn", "days": ["2026-11-03"]},
                {"location": "shibuya", "days": ["2026-10-26", "2026-10-28"]},
            ],
        ),
        (
            None,
            {"date": "2026-11-05", "locations": None},  # a manual trigger: every location
            [
                {"location": "brooklyn", "days": ["2026-11-05"]},
                {"location": "shibuya", "days": ["2026-11-05"]},
            ],
        ),
        (
            None,
            {"date": "2026-11-05", "locations": ["brooklyn"]},
            [{"location": "brooklyn", "days": ["2026-11-05"]}],
        ),
        (_events(), {"date": None, "locations": None}, []),
    ],
)
def test_plan_refresh(config, events, params, expected) -> None:
    assert plan_refresh(config, events, params) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (TAIL[0], [("shibuya", "2026-10"), ("shibuya", "2026-W44")]),  # brooklyn: no data
        (date(2026, 12, 9), []),  # a day in a week and month with nothing published
    ],
)
def test_rollups_skip_periods_without_a_published_day(in_order, caplog, day, expected) -> None:
    """A manual trigger for every location must not plan a rollup that can only fail."""
    caplog.set_level(logging.INFO, logger="trendscope.pipeline.rollup")
    plan = plan_rollups(in_order, {}, {"date": day.isoformat()})
    assert [(p["location"], p["period"]) for p in plan] == expected
    assert f"rollup brooklyn {period_key(day, 'week')} skipped: no published day" in caplog.text


def test_refresh_task_names_what_it_recomputed(past, history, tmp_path, monkeypatch) -> None:
    config = _copy(past, tmp_path)
    for day in TAIL:
        _publish(config, history, day)
    monkeypatch.setenv("TRENDSCOPE_DATA_DIR", config.data_root)
    summary = refresh_location_trends(LOCATION, [TAIL[-2].isoformat(), TAIL[-1].isoformat()])
    assert summary == {
        "location": LOCATION,
        "changed": [TAIL[-2].isoformat(), TAIL[-1].isoformat()],
        "refreshed": [TAIL[-2].isoformat(), TAIL[-1].isoformat()],
    }
    assert _trends_path(config, TAIL[-1]).is_file()
