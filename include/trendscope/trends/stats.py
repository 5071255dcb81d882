"""Statistics behind trend labels: two-proportion tests, Benjamini-Hochberg, classification.

Everything here is pure numpy/scipy and vectorised over rows, so one call scores every label of
a location-day (or of a whole rollup) at once.

Test used by :func:`two_proportion_pvalue` (two-sided, H0: both samples share one proportion):

* **Pooled two-proportion z-test** when every expected cell count of the 2x2 table
  (``n1*p``, ``n1*(1-p)``, ``n2*p``, ``n2*(1-p)`` with ``p`` the pooled share) is at least
  ``min_expected`` (default 5, the usual rule of thumb for the normal approximation).
* **Fisher's exact test** (``scipy.stats.fisher_exact``, two-sided: the sum of the probabilities
  of all tables with the same margins that are no more likely than the observed one) otherwise,
  which covers rare labels, brand-new labels and small days. Those rows are few, so they are
  tested one by one.
* ``NaN`` ("not tested") when either sample is empty (``n == 0``) or a count is impossible
  (negative, or more successes than trials).

:func:`benjamini_hochberg` controls the false discovery rate over the labels tested together
(one location-day, one location-period); ``NaN`` p-values are not counted as tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as _sps

RISING = "rising"
FALLING = "falling"
STABLE = "stable"
NEW = "new"
INSUFFICIENT = "insufficient"
TRENDS = (RISING, NEW, FALLING, STABLE, INSUFFICIENT)
"""Trend names over time, in the order results are sorted."""

HIGHER = "higher"
LOWER = "lower"
SIMILAR = "similar"
COMPARISONS = (HIGHER, LOWER, SIMILAR, INSUFFICIENT)
"""Names of a location's share compared with all other locations, in sort order."""

MIN_EXPECTED = 5.0
"""Smallest expected cell count for which the z-test is used instead of Fisher's exact test."""


def _f(a: object) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def two_proportion_pvalue(
    x1: Sequence[float] | np.ndarray,
    n1: Sequence[float] | np.ndarray,
    x2: Sequence[float] | np.ndarray,
    n2: Sequence[float] | np.ndarray,
    min_expected: float = MIN_EXPECTED,
) -> np.ndarray:
    """Two-sided p-values that ``x1/n1`` and ``x2/n2`` come from one proportion.

    Args:
        x1: Successes in the first sample (e.g. today's images showing a label).
        n1: Size of the first sample (today's ok images).
        x2: Successes in the second sample (baseline images showing the label).
        n2: Size of the second sample (baseline ok images).
        min_expected: Below this smallest expected cell count Fisher's exact test is used.

    Returns:
        A float array broadcast from the inputs; ``NaN`` where a sample is empty or invalid.
    """
    x1, n1, x2, n2 = np.broadcast_arrays(_f(x1), _f(n1), _f(x2), _f(n2))
    out = np.full(x1.shape, np.nan)
    valid = (n1 > 0) & (n2 > 0) & (x1 >= 0) & (x2 >= 0) & (x1 <= n1) & (x2 <= n2)
    if not valid.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        expected = np.minimum(np.minimum(n1, n2) * pooled, np.minimum(n1, n2) * (1.0 - pooled))
        z_rows = valid & (expected >= min_expected)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        z = (x1 / n1 - x2 / n2) / se
    out[z_rows] = 2.0 * _sps.norm.sf(np.abs(z[z_rows]))
    exact_rows = np.flatnonzero(valid & ~z_rows)
    flat = [a.reshape(-1) for a in (x1, n1, x2, n2)]
    flat_out = out.reshape(-1)
    for i in exact_rows:
        a, n_a, b, n_b = (round(float(v[i])) for v in flat)
        flat_out[i] = _sps.fisher_exact([[a, n_a - a], [b, n_b - b]]).pvalue
    return np.minimum(out, 1.0)


def benjamini_hochberg(
    p: Sequence[float] | np.ndarray, groups: Sequence[object] | np.ndarray | None = None
) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (FDR), separately within each group.

    Args:
        p: Raw p-values; ``NaN`` means "not tested" and stays ``NaN`` (it does not count in m).
        groups: Optional group key per p-value (e.g. a location-day id); ``None`` = one family.

    Returns:
        Adjusted p-values ``min_{j>=i} p_(j) * m / j``, capped at 1, in the input order.
    """
    p = _f(p).reshape(-1)
    out = np.full(p.shape, np.nan)
    if groups is None:
        codes = np.zeros(p.shape, dtype=np.int64)
    else:
        _, codes = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
    tested = np.isfinite(p)
    for code in np.unique(codes[tested]):
        idx = np.flatnonzero(tested & (codes == code))
        order = idx[np.argsort(p[idx], kind="stable")]
        m = order.size
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def _direction(
    delta: np.ndarray,
    p_adjusted: np.ndarray,
    alpha: float,
    min_delta: float,
    up: str,
    down: str,
    same: str,
) -> np.ndarray:
    significant = (p_adjusted < alpha) & (np.abs(delta) >= min_delta)
    out = np.full(delta.shape, same, dtype=object)
    out[significant & (delta > 0)] = up
    out[significant & (delta < 0)] = down
    return out


def classify_trend(
    delta: Sequence[float] | np.ndarray,
    p_adjusted: Sequence[float] | np.ndarray,
    ok_images: Sequence[float] | np.ndarray,
    baseline_ok_images: Sequence[float] | np.ndarray,
    images: Sequence[float] | np.ndarray,
    baseline_images: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    min_delta: float = 0.02,
    min_images: int = 20,
    min_baseline_images: int = 50,
) -> np.ndarray:
    """Trend name per row, first rule that applies wins.

    1. ``insufficient``: ``ok_images < min_images`` or ``baseline_ok_images < min_baseline_images``.
    2. ``new``: never seen in the baseline (``baseline_images == 0``) but seen now.
    3. ``rising`` / ``falling``: ``p_adjusted < alpha`` and ``|delta| >= min_delta``, by the
       sign of ``delta`` (share minus baseline share).
    4. ``stable`` otherwise (including untested rows with enough data).

    Returns:
        An object array of trend names (see :data:`TRENDS`).
    """
    delta, p_adj = _f(delta), _f(p_adjusted)
    out = _direction(delta, p_adj, alpha, min_delta, RISING, FALLING, STABLE)
    out[(_f(baseline_images) == 0) & (_f(images) > 0)] = NEW
    out[(_f(ok_images) < min_images) | (_f(baseline_ok_images) < min_baseline_images)] = (
        INSUFFICIENT
    )
    return out


def classify_comparison(
    delta: Sequence[float] | np.ndarray,
    p_adjusted: Sequence[float] | np.ndarray,
    ok_images: Sequence[float] | np.ndarray,
    others_ok_images: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    min_delta: float = 0.02,
    min_images: int = 20,
    min_others_images: int = 50,
) -> np.ndarray:
    """A location's share against all other locations: ``higher``/``lower``/``similar``.

    Same rules as :func:`classify_trend` without ``new``: ``insufficient`` when the location has
    fewer than ``min_images`` ok images or the others fewer than ``min_others_images``.
    """
    delta, p_adj = _f(delta), _f(p_adjusted)
    out = _direction(delta, p_adj, alpha, min_delta, HIGHER, LOWER, SIMILAR)
    out[(_f(ok_images) < min_images) | (_f(others_ok_images) < min_others_images)] = INSUFFICIENT
    return out
