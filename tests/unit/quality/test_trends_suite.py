"""The trends suites check the published statistics and the trend names against the configured
thresholds: a tampered statistic is stopped at the gate, with the broken rule named."""

from __future__ import annotations

import pyarrow as pa
import pytest

from trendscope.config import TrendscopeConfig, load_config
from trendscope.quality.context import suite_context
from trendscope.quality.gate import ValidationFailedError, audit_and_publish
from trendscope.quality.results import ValidationReport
from trendscope.tables import storage
from trendscope.tables.paths import keyed_partition_path
from trendscope.tables.schemas import TRENDS_DAILY, TableContract, to_table
from trendscope.trends.compare import TrendParams
from trendscope.trends.rollups import compute_period, rollup_contract
from trendscope.trends.stats import TRENDS


def _gate(
    config: TrendscopeConfig, table: pa.Table, contract: TableContract = TRENDS_DAILY
) -> ValidationReport:
    """Validate and publish ``table`` as the partition its rows name."""
    key_column = "date" if contract is TRENDS_DAILY else "period"
    location, key = (str(table.column(c)[0].as_py()) for c in ("location", key_column))
    ctx = suite_context(config, contract.name, location, key)
    (report,) = audit_and_publish(config, [(contract, table, ctx)])
    return report


def _published(config: TrendscopeConfig, table: pa.Table) -> bool:
    location, day = (table.column(c)[0].as_py() for c in ("location", "date"))
    return storage.exists(keyed_partition_path(config.data_root, TRENDS_DAILY.name, location, day))


def _row(rows: list[dict], label: str, fine_label: str | None = None) -> dict:
    (row,) = [r for r in rows if (r["label"], r["fine_label"]) == (label, fine_label)]
    return row


def test_a_computed_trend_table_passes_and_is_published(config, trends_table):
    assert set(trends_table.column("trend").to_pylist()) == {"rising", "new", "falling", "stable"}
    report = _gate(config, trends_table)
    assert report.success and not report.warnings
    assert _published(config, trends_table)


# person is stable, cat rising, bird new, dog falling (see conftest)
def _p_adjusted_below_p_value(rows):
    person = _row(rows, "person")
    person["p_adjusted"] = person["p_value"] / 2  # still above alpha: the trend stays stable


def _baseline_share_off(rows):
    _row(rows, "person")["baseline_share"] += 0.1


def _expected_share_off(rows):
    person = _row(rows, "person")
    person["expected_share"] += 0.1
    person["delta"] = person["share"] - person["expected_share"]


def _delta_off(rows):
    _row(rows, "person")["delta"] += 0.05


def _stable_relabelled_rising(rows):
    _row(rows, "person")["trend"] = "rising"


def _rising_relabelled_stable(rows):
    _row(rows, "cat")["trend"] = "stable"


def _rising_with_too_few_authors(rows):
    _row(rows, "cat")["authors"] = 4


def _rising_carried_by_one_author(rows):
    _row(rows, "cat")["top_author_share"] = 0.8


def _falling_without_a_significant_p(rows):
    _row(rows, "dog")["p_adjusted"] = 0.2


def _new_without_support(rows):
    _row(rows, "bird")["authors"] = 2


def _new_seen_before(rows):
    _row(rows, "person")["trend"] = "new"


def _rank_zero(rows):
    _row(rows, "person")["rank"] = 0


def _top_author_share_over_one(rows):
    _row(rows, "person")["top_author_share"] = 1.5


BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"


@pytest.mark.parametrize(
    ("tamper", "expectation", "column", "rule"),
    [
        (_p_adjusted_below_p_value, BETWEEN, "p_adjusted_excess", "p_adjusted >= p_value"),
        (
            _baseline_share_off,
            BETWEEN,
            "baseline_share_gap",
            "baseline_share = baseline_images / baseline_ok_images",
        ),
        (
            _expected_share_off,
            BETWEEN,
            "expected_share_gap",
            "expected_share = baseline_share + coalesce(weekday_effect, 0)",
        ),
        (_delta_off, BETWEEN, "delta_gap", "delta = share - expected_share"),
        (
            _stable_relabelled_rising,
            BETWEEN,
            "p_adjusted",
            "rising needs p_adjusted < alpha (0.05)",
        ),
        (
            _rising_relabelled_stable,
            IN_SET,
            "trend",
            "rising: a row meeting every rising condition reads rising",
        ),
        (
            _rising_with_too_few_authors,
            BETWEEN,
            "authors",
            "rising needs authors >= min_authors (5)",
        ),
        (
            _rising_carried_by_one_author,
            BETWEEN,
            "top_author_share",
            "rising needs top_author_share <= max_top_author_share (0.5)",
        ),
        (
            _falling_without_a_significant_p,
            BETWEEN,
            "p_adjusted",
            "falling needs p_adjusted < alpha (0.05)",
        ),
        (_new_without_support, BETWEEN, "authors", "new needs authors >= new_min_authors (3)"),
        (_new_seen_before, BETWEEN, "baseline_images", "new needs baseline_images = 0"),
        (_rank_zero, BETWEEN, "rank", None),
        (_top_author_share_over_one, BETWEEN, "top_author_share", None),
    ],
)
def test_a_tampered_statistic_is_stopped_at_the_gate(
    config, trends_table, tamper, expectation, column, rule
):
    rows = trends_table.to_pylist()
    tamper(rows)
    table = to_table(TRENDS_DAILY, rows)
    with pytest.raises(ValidationFailedError) as caught:
        _gate(config, table)

    message = str(caught.value)
    assert f"trends_daily: {expectation}({column})" in message
    if rule:
        failures = caught.value.report.failures
        named = [f for f in failures if (f.expectation, f.column) == (expectation, column)]
        assert any(rule in (f.description or "") for f in named), message
        assert rule in message
    assert not _published(config, table)


def _configured(config: TrendscopeConfig, **trends) -> TrendscopeConfig:
    overrides = {"data_dir": config.data_root, **{f"trends.{k}": v for k, v in trends.items()}}
    return load_config(environ={}, overrides=overrides)


@pytest.mark.parametrize(
    ("trends", "expectation", "column", "rule"),
    [
        # stricter: the default table's rising cats have too few authors
        (
            {"min_authors": 100},
            BETWEEN,
            "authors",
            "rising needs authors >= min_authors (100)",
        ),
    ],
    ids=["stricter"],
)
def test_the_suite_judges_trends_by_the_configured_thresholds(
    config, trends_table, daily_trends, trends, expectation, column, rule
):
    configured = _configured(config, **trends)
    with pytest.raises(ValidationFailedError) as caught:
        _gate(configured, trends_table)  # computed with the default thresholds
    assert (expectation, column, rule) in {
        (f.expectation, f.column, f.description) for f in caught.value.report.failures
    }

    recomputed = daily_trends(TrendParams.from_config(configured.trends))
    assert _gate(configured, recomputed).success
    assert _published(configured, recomputed)


def test_a_table_from_stricter_thresholds_fails_the_default_ones(config, daily_trends):
    """Looser rules than the table was computed with: its stable cats meet every rising
    condition under the configured (default) thresholds, so the gate stops it."""
    strict = daily_trends(TrendParams(min_authors=100))
    assert "rising" not in strict.column("trend").to_pylist()
    with pytest.raises(ValidationFailedError) as caught:
        _gate(config, strict)
    rule = "rising: a row meeting every rising condition reads rising"
    assert (IN_SET, "trend", rule) in {
        (f.expectation, f.column, f.description) for f in caught.value.report.failures
    }


def test_rollups_follow_the_same_rules(config, trend_history):
    images, detections = trend_history
    table = compute_period(images, detections, "2026-W45")
    contract = rollup_contract("2026-W45")
    assert set(table.column("trend").to_pylist()) <= set(TRENDS)
    assert _gate(config, table, contract).success

    rows = table.to_pylist()
    _row(rows, "dog")["trend"] = "stable"  # a falling week hidden as stable
    with pytest.raises(
        ValidationFailedError,
        match=r"trends_weekly: expect_column_values_to_be_in_set\(trend\) - falling: a row "
        "meeting every falling condition reads falling",
    ):
        _gate(config, to_table(contract, rows), contract)
