"""The model of ordinary variation, its test, Benjamini-Hochberg and the trend rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from trendscope.trends.stats import (
    FALLING,
    HIGHER,
    INSUFFICIENT,
    LOWER,
    NEW,
    RISING,
    SIMILAR,
    STABLE,
    ModelParams,
    Rules,
    baseline_model,
    benjamini_hochberg,
    classify_comparison,
    classify_trend,
    predictive_test,
)

WEEKDAYS = np.arange(28) % 7  # a 28-day window starting on a Monday


def _window(shares: np.ndarray, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Counts of one row whose daily shares are exactly ``shares``."""
    n_ = np.full((1, shares.size), float(n))
    return np.round(shares * n)[None, :], n_


def test_binomial_window_has_no_extra_dispersion() -> None:
    """Counts that vary exactly as binomial ones estimate (almost) no extra variance."""
    rng = np.random.default_rng(1)
    n = np.full((200, 28), 300.0)
    x = rng.binomial(300, 0.1, size=n.shape).astype(float)
    b = baseline_model(x, n, params=ModelParams(weekly_rhythm=False))
    assert np.median(np.sqrt(b.tau2)) < 0.006  # vs a binomial sd of 0.017
    np.testing.assert_allclose(b.pooled, x.sum(1) / n.sum(1))


def test_overdispersion_is_estimated() -> None:
    """Beta-distributed daily shares (sd 2.5 points) around 9%: tau is found near 0.025."""
    rng = np.random.default_rng(2)
    p = rng.beta(0.09 * 130, 0.91 * 130, size=(300, 28))  # sd ~ 0.025
    x = rng.binomial(300, p).astype(float)
    b = baseline_model(x, np.full(x.shape, 300.0), params=ModelParams(weekly_rhythm=False))
    assert 0.019 < np.median(np.sqrt(b.tau2)) < 0.03


def test_a_few_unusual_days_do_not_hide_the_next_shift() -> None:
    """Three outlying days (a shift that started) leave the dispersion near the quiet level."""
    shares = np.full(28, 0.10)
    shares[-3:] = 0.30
    x, n = _window(shares)
    b = baseline_model(x, n, params=ModelParams(weekly_rhythm=False))
    assert np.sqrt(b.tau2[0]) < 0.01


@pytest.mark.parametrize(
    ("today_weekday", "expected"),
    [(5, 0.12), (6, 0.12), (0, 0.09), (3, 0.09)],  # Saturday, Sunday, Monday, Thursday
)
def test_weekly_rhythm_expects_the_weekday_level(today_weekday: int, expected: float) -> None:
    shares = np.where(WEEKDAYS >= 5, 0.12, 0.09)
    x, n = _window(shares, n=1000)
    b = baseline_model(x, n, WEEKDAYS, np.array([today_weekday]))
    # shrunk towards the mean of the weekdays, but by far nearer the weekday's own level
    assert b.expected[0] == pytest.approx(expected, abs=0.005)
    assert abs(b.expected[0] - expected) < 0.3 * abs(b.pooled[0] - expected)
    assert b.weekday_effect[0] == pytest.approx(b.expected[0] - b.pooled[0], abs=1e-12)


def test_weekly_rhythm_needs_enough_weeks() -> None:
    shares = np.where(WEEKDAYS >= 5, 0.12, 0.09)
    x, n = _window(shares, n=1000)
    n[:, :21] = 0  # only one week of data: one Saturday
    b = baseline_model(x, n, WEEKDAYS, np.array([5]))
    assert np.isnan(b.weekday_effect[0]) and b.expected[0] == pytest.approx(b.pooled[0])
    off = baseline_model(
        *_window(shares, 1000), WEEKDAYS, np.array([5]), ModelParams(weekly_rhythm=False)
    )
    assert np.isnan(off.weekday_effect[0])


def test_short_windows_use_the_default_dispersion() -> None:
    x, n = _window(np.full(5, 0.1))
    b = baseline_model(x, n, params=ModelParams(default_icc=0.01))
    assert b.tau2[0] == pytest.approx(0.01 * 0.1 * 0.9)
    assert b.units[0] == 5


def test_predictive_test_reduces_to_binomial_without_dispersion() -> None:
    """With tau = 0 and a huge baseline, the p-value is the two-sided binomial one."""
    x, n = _window(np.full(28, 0.1), n=100_000)
    b = baseline_model(x, n, params=ModelParams(weekly_rhythm=False))
    stat, p = predictive_test([45], [300], b)
    lower, upper = sps.binom.cdf(45, 300, 0.1), sps.binom.sf(44, 300, 0.1)
    assert p[0] == pytest.approx(min(1.0, 2 * min(lower, upper)), rel=0.05)
    assert stat[0] == pytest.approx((0.15 - 0.1) / np.sqrt(0.09 / 300), rel=0.01)


def test_dispersion_widens_the_test() -> None:
    """The same count is far less surprising against a window that wanders."""
    quiet = baseline_model(*_window(np.full(28, 0.09)), params=ModelParams(weekly_rhythm=False))
    wandering = np.tile([0.06, 0.12], 14)
    loud = baseline_model(*_window(wandering), params=ModelParams(weekly_rhythm=False))
    _, p_quiet = predictive_test([42], [300], quiet)  # 14%
    _, p_loud = predictive_test([42], [300], loud)
    assert p_quiet[0] < 0.05 < p_loud[0]


def test_unseen_label_is_tested_against_the_false_positive_floor() -> None:
    x, n = _window(np.zeros(28))
    b = baseline_model(x, n)
    _, p = predictive_test(
        [1, 12], [300, 300], baseline_model(np.vstack([x, x]), np.vstack([n, n])), 0.005
    )
    assert p[0] > 0.4  # one detection of 300 is what a 0.5% false-positive rate gives
    assert p[1] == pytest.approx(sps.binom.sf(11, 300, 0.005))
    assert b.pooled[0] == 0.0


def test_untestable_rows_are_nan() -> None:
    x = np.zeros((2, 28))
    n = np.zeros((2, 28))
    stat, p = predictive_test([3, 3], [0, 100], baseline_model(x, n))
    assert np.isnan(p).all() and np.isnan(stat).all()


@pytest.mark.parametrize(
    ("p", "groups", "expected"),
    [
        # m = 4 (NaN is not a test): sorted 0.005,0.01,0.03,0.04 -> x4/1,x4/2,x4/3,x4/4
        # = 0.02,0.02,0.04,0.04 (already monotone)
        ([0.01, 0.04, 0.03, 0.005, np.nan], None, [0.02, 0.04, 0.04, 0.02, np.nan]),
        ([0.05, 0.5, 0.01], None, [0.075, 0.5, 0.03]),
        # step-up: 0.04*2/1 = 0.08 is lowered to the next one, 0.045
        ([0.04, 0.045], None, [0.045, 0.045]),
        ([0.6, 0.7, 0.9], None, [0.9, 0.9, 0.9]),
        ([np.nan, np.nan], None, [np.nan, np.nan]),
        ([], None, []),
        # two families adjusted separately
        ([0.01, 0.04, 0.01, 0.04], ["a", "a", "b", "c"], [0.02, 0.04, 0.01, 0.04]),
    ],
)
def test_benjamini_hochberg(
    p: list[float], groups: list[str] | None, expected: list[float]
) -> None:
    got = benjamini_hochberg(p, groups)
    np.testing.assert_allclose(got, np.array(expected, dtype=float), rtol=1e-12)


_ROW = {
    "delta": 0.2,
    "p_adjusted": 0.001,
    "ok_images": 200,
    "baseline_ok_images": 5600,
    "images": 60,
    "baseline_images": 560,
    "authors": 40,
    "top_author_share": 0.1,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, RISING),
        ({"delta": -0.2, "images": 20}, FALLING),
        ({"delta": -0.1, "images": 0, "authors": 0}, FALLING),  # disappeared
        ({"p_adjusted": 0.2}, STABLE),  # not significant
        ({"delta": 0.01}, STABLE),  # significant but below min_delta
        ({"delta": 0.02}, RISING),  # exactly min_delta
        ({"delta": 0.02 - 1e-12}, RISING),  # min_delta up to rounding
        ({"delta": -0.019999999999999997}, FALLING),  # 0.01 - 0.03
        ({"delta": np.nan, "p_adjusted": np.nan}, STABLE),  # untested
        ({"authors": 4}, STABLE),  # too few authors carry the rise
        ({"top_author_share": 0.8}, STABLE),  # one author's burst
        ({"baseline_images": 0, "images": 10, "authors": 6}, NEW),
        ({"baseline_images": 0, "images": 1, "authors": 1}, INSUFFICIENT),  # one detection
        ({"baseline_images": 0, "images": 10, "authors": 2}, INSUFFICIENT),  # two authors
        ({"baseline_images": 0, "images": 10, "authors": 6, "p_adjusted": 0.3}, INSUFFICIENT),
        ({"ok_images": 19}, INSUFFICIENT),  # too few images today
        ({"baseline_ok_images": 49, "baseline_images": 5}, INSUFFICIENT),  # too little baseline
        ({"baseline_ok_images": 0, "baseline_images": 0, "p_adjusted": np.nan}, INSUFFICIENT),
    ],
)
def test_classify_trend(change: dict, expected: str) -> None:
    row = {k: [v] for k, v in (_ROW | change).items()}
    assert classify_trend(**row).tolist() == [expected]


def test_classify_trend_rules_are_configurable() -> None:
    row = {k: [v] for k, v in (_ROW | {"delta": 0.01, "authors": 3}).items()}
    assert classify_trend(**row, rules=Rules(min_delta=0.0, min_authors=3)).tolist() == [RISING]


@pytest.mark.parametrize(
    ("delta", "p_adj", "ok", "others_ok", "expected"),
    [
        (0.1, 0.001, 500, 5000, HIGHER),
        (-0.1, 0.001, 500, 5000, LOWER),
        (-0.1, 0.3, 500, 5000, SIMILAR),
        (0.1, 0.001, 10, 5000, INSUFFICIENT),
        (0.1, 0.001, 500, 10, INSUFFICIENT),
    ],
)
def test_classify_comparison(
    delta: float, p_adj: float, ok: int, others_ok: int, expected: str
) -> None:
    got = classify_comparison(
        delta=[delta], p_adjusted=[p_adj], ok_images=[ok], others_ok_images=[others_ok]
    )
    assert got.tolist() == [expected]
