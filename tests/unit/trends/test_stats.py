from __future__ import annotations

import math

import numpy as np
import pytest

from trendscope.trends.stats import (
    FALLING,
    HIGHER,
    INSUFFICIENT,
    LOWER,
    NEW,
    RISING,
    SIMILAR,
    STABLE,
    benjamini_hochberg,
    classify_comparison,
    classify_trend,
    two_proportion_pvalue,
)


def _z_test(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled two-proportion z-test written out by hand."""
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [
        (60, 200, 40, 200, _z_test(60, 200, 40, 200)),  # ~0.0209
        (40, 200, 60, 200, _z_test(60, 200, 40, 200)),  # two-sided: symmetric
        (60, 200, 560, 5600, _z_test(60, 200, 560, 5600)),
        (20, 200, 560, 5600, 1.0),  # identical shares
        # expected counts < 5 -> Fisher exact: P(a=3) = C(10,3)/C(20,3) = 120/1140, two-sided x2
        (3, 10, 0, 10, 240 / 1140),
        (0, 10, 0, 10, 1.0),  # nothing seen anywhere
        (200, 200, 5600, 5600, 1.0),  # seen everywhere
        (0, 0, 5, 100, math.nan),  # empty sample: not tested
        (5, 100, 0, 0, math.nan),
        (11, 10, 5, 100, math.nan),  # impossible count
    ],
)
def test_two_proportion_pvalue(x1: int, n1: int, x2: int, n2: int, expected: float) -> None:
    got = two_proportion_pvalue(x1, n1, x2, n2)
    assert got.shape == ()
    if math.isnan(expected):
        assert np.isnan(got)
    else:
        assert float(got) == pytest.approx(expected, rel=1e-9)


def test_two_proportion_pvalue_is_vectorised_and_switches_per_row() -> None:
    x1, n1 = np.array([60, 3, 0]), np.array([200, 10, 0])
    x2, n2 = np.array([40, 0, 1]), 200
    got = two_proportion_pvalue(x1, n1, x2, n2)
    assert got.shape == (3,)
    assert got[0] == pytest.approx(_z_test(60, 200, 40, 200))
    assert 0 < got[1] < 0.01  # 3/10 vs 0/200, exact
    assert np.isnan(got[2])


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


@pytest.mark.parametrize(
    ("delta", "p_adj", "ok", "b_ok", "images", "b_images", "expected"),
    [
        (0.2, 0.001, 200, 5600, 60, 560, RISING),
        (-0.2, 0.001, 200, 5600, 20, 2240, FALLING),
        (-0.1, 0.001, 200, 5600, 0, 560, FALLING),  # disappeared
        (0.2, 0.2, 200, 5600, 60, 560, STABLE),  # not significant
        (0.01, 0.001, 200, 5600, 60, 560, STABLE),  # significant but below min_delta
        (np.nan, np.nan, 200, 5600, 60, 560, STABLE),  # untested
        (0.05, 0.001, 200, 5600, 10, 0, NEW),
        (0.05, 0.9, 200, 5600, 10, 0, NEW),
        (0.2, 0.001, 19, 5600, 6, 560, INSUFFICIENT),  # too few images today
        (0.2, 0.001, 200, 49, 60, 5, INSUFFICIENT),  # too few in the baseline
        (0.2, np.nan, 200, 0, 60, 0, INSUFFICIENT),  # no baseline at all (not "new")
    ],
)
def test_classify_trend(
    delta: float,
    p_adj: float,
    ok: int,
    b_ok: int,
    images: int,
    b_images: int,
    expected: str,
) -> None:
    got = classify_trend([delta], [p_adj], [ok], [b_ok], [images], [b_images])
    assert got.tolist() == [expected]


def test_classify_trend_without_min_delta() -> None:
    got = classify_trend([0.01], [0.001], [200], [5600], [60], [560], min_delta=0.0)
    assert got.tolist() == [RISING]


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
    assert classify_comparison([delta], [p_adj], [ok], [others_ok]).tolist() == [expected]
