"""Statistics behind trend labels: a model of ordinary variation, its test, and the flags.

Everything is numpy/scipy and vectorised over rows, so one call scores every label of a
location-day (or of a whole rollup) at once. ``docs/methodology.md`` explains the method with
formulas and a worked example; in short, for each row (a label in a location-day):

* **Counts.** ``x_t`` images showing the label out of ``n_t`` ok images on each baseline unit
  ``t`` (a window day, an earlier period or another location), and ``x0`` of ``n0`` now.
  Today's counts are divided by the author design effect (how much authors posting several
  images widen the variance), so one account's burst is about one piece of evidence.
* **Baseline.** The pooled share ``mu = sum x_t / sum n_t``.
* **Weekly rhythm** (daily comparisons, when the window holds at least ``weekly_min_weeks``
  days of today's weekday): each weekday's median share ``m_w`` (robust to one unusual day),
  shrunk towards their mean ``c`` by how much weekdays really differ (empirical Bayes:
  ``lambda = s_b^2 / (s_b^2 + Var m_w)``). Expected today: ``e0 = c + lambda (m_w0 - c)``;
  without the weekly rhythm ``e0 = mu``.
* **Dispersion.** Day-to-day variation beyond binomial: the shares are taken as
  ``x_t ~ Binomial(n_t, p_t)`` with ``p_t`` varying around the expectation with variance
  ``tau^2`` (a beta-binomial model), and ``tau^2`` is estimated from the window's residuals
  (each day against the median of the other days of its weekday when the weekly rhythm is
  used, else against the window's median) by a trimmed moment equation that leaves out the
  largest 35%, so a few unusual days do not hide the next shift. With fewer than
  ``min_dispersion_units`` baseline units, ``tau^2 = default_icc * mu (1 - mu)``.
* **Tests.** Today's count is compared with the beta-binomial predictive distribution of mean
  ``e0`` and variance ``e0 (1 - e0) / n0 + tau^2 + Var(e0)`` (binomial noise, ordinary daily
  variation and the uncertainty of the estimate), two-sided; :func:`recent_test` pools the
  last ``recent_days`` days against the window before them, and :func:`combine` joins the two
  p-values (Simes). A label never seen in the baseline is tested one-sided against the
  detector's false-positive floor ``false_positive_rate`` instead.
* :func:`benjamini_hochberg` adjusts the p-values of one family (one location-day or
  location-period: label totals, their fine labels and scenes together).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

TRIM = 0.35
"""Share of the largest standardised residuals a dispersion estimate leaves out, so a few
unusual days in the window (an event, the first days of a real shift) do not hide the next."""


def _trimmed_chi2_mean(trim: float) -> float:
    """Mean of a chi-square(1) variable below its ``1 - trim`` quantile."""
    z = _sps.norm.ppf(1.0 - trim / 2.0)
    return float(((1.0 - trim) - 2.0 * z * _sps.norm.pdf(z)) / (1.0 - trim))


_TRIMMED_MEAN = _trimmed_chi2_mean(TRIM)


def _robust_tau2(r2: np.ndarray, v: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Extra-binomial variance per row from squared residuals, robust to a few outlying units.

    Finds ``tau^2 >= 0`` such that the trimmed mean (the largest :data:`TRIM` left out) of
    ``r2 / (v + tau^2)`` equals its expectation under the model, by bisection.

    Args:
        r2: ``(rows, units)`` squared residuals, already divided by ``1 - leverage``.
        v: ``(rows, units)`` binomial variances of the units' shares.
        has: Units with data.
    """
    k = has.sum(axis=1)
    keep = np.maximum(1, np.floor((1.0 - TRIM) * k + 0.5)).astype(np.int64)

    def excess(tau2: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(has, r2 / (v + tau2[:, None]), np.inf)
        u = np.sort(u, axis=1)
        csum = np.cumsum(np.where(np.isfinite(u), u, 0.0), axis=1)
        mean = np.take_along_axis(csum, (keep - 1)[:, None], axis=1)[:, 0] / keep
        return mean - _TRIMMED_MEAN

    lo = np.zeros(k.shape)
    hi = np.where(has, r2, 0.0).max(axis=1, initial=0.0) / _TRIMMED_MEAN + 1e-12
    need = (k > 1) & (excess(lo) > 0)
    for _ in range(40):
        mid = (lo + hi) / 2.0
        up = excess(mid) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(need, (lo + hi) / 2.0, 0.0)


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

DELTA_TOLERANCE = 1e-9
"""Slack when comparing ``|delta|`` with ``min_delta``: shares are ratios of counts, so a
difference of exactly ``min_delta`` must not fall either side of it by rounding."""


@dataclass(frozen=True)
class ModelParams:
    """Knobs of the model of ordinary variation (mirrors ``TrendsConfig``).

    Attributes:
        min_dispersion_units: Fewest baseline units with data to estimate the dispersion.
        default_icc: Dispersion used below that, as an intra-class correlation
            ``tau^2 / (mu (1 - mu))`` (0.01 doubles the sd of a 300-author day's share).
        weekly_rhythm: Judge a day against its weekday when the window allows it.
        weekly_min_weeks: Fewest baseline days of today's weekday to use the weekly rhythm.
        false_positive_rate: Share of images a detector labels wrongly with any one label;
            a label never seen before must clearly exceed it to be ``new``.
        recent_days: Days (today included) pooled by :func:`recent_test`; below 2, off.
    """

    min_dispersion_units: int = 7
    default_icc: float = 0.01
    weekly_rhythm: bool = True
    weekly_min_weeks: int = 3
    false_positive_rate: float = 0.005
    recent_days: int = 4


@dataclass(frozen=True)
class Baseline:
    """What the model expects of each row (arrays of one value per row).

    Attributes:
        pooled: Pooled baseline share ``mu`` (NaN without baseline data).
        expected: Expected share now ``e0`` (``pooled`` plus the weekday effect).
        weekday_effect: ``expected - pooled`` where the weekly rhythm was used, else NaN.
        tau2: Variance of the daily share beyond binomial.
        var_expected: Variance of the estimate ``e0``.
        units: Baseline units with data.
    """

    pooled: np.ndarray
    expected: np.ndarray
    weekday_effect: np.ndarray
    tau2: np.ndarray
    var_expected: np.ndarray
    units: np.ndarray


def _f(a: object) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _sum(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, a, 0.0).sum(axis=-1)


def _median_variance(m: np.ndarray) -> np.ndarray:
    """Variance of the median of ``m`` normal values, in units of one value's variance."""
    exact = np.array([np.inf, 1.0, 0.5, 0.4487, 0.3433, 0.2868, 0.2367, 0.2099])
    m = np.asarray(m)
    small = np.clip(m, 0, exact.size - 1).astype(np.int64)
    with np.errstate(divide="ignore"):
        return np.where(m < exact.size, exact[small], np.pi / (2.0 * m))


def _leave_one_out(s: np.ndarray, has: np.ndarray, wd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared residuals of each day from the median share of the other days of its weekday,
    scaled to the variance of one day's share; and which days have such a residual.

    Leaving the day out keeps one unusual day from moving the level it is measured against,
    so it stands out (and is trimmed) instead of spreading over its weekday.
    """
    r2 = np.zeros(s.shape)
    ok = np.zeros(s.shape, dtype=bool)
    values = np.where(has, s, np.nan)
    for w in range(7):
        cols = np.flatnonzero((wd == w).any(axis=0))
        for j in cols:
            rest = cols[cols != j]
            if rest.size == 0:
                continue
            others = np.where(wd[:, rest] == w, values[:, rest], np.nan)
            m = np.isfinite(others).sum(axis=1)
            med = np.nanmedian(np.where(m[:, None] > 0, others, 0.0), axis=1)
            valid = has[:, j] & (wd[:, j] == w) & (m > 0)
            scale = 1.0 + _median_variance(np.maximum(m, 1))
            r2[:, j] = np.where(valid, (s[:, j] - med) ** 2 / scale, r2[:, j])
            ok[:, j] |= valid
    return r2, ok


def baseline_model(
    x: np.ndarray,
    n: np.ndarray,
    weekday: np.ndarray | None = None,
    today_weekday: np.ndarray | None = None,
    params: ModelParams | None = None,
) -> Baseline:
    """Estimate each row's expected share and ordinary variation from its baseline units.

    Args:
        x: ``(rows, units)`` successes per baseline unit (images showing the label).
        n: ``(rows, units)`` trials per unit (ok images); 0 marks a unit without data.
        weekday: ``(units,)`` or ``(rows, units)`` weekday (0 = Monday) of each unit, or None
            when units are not days (periods, locations).
        today_weekday: ``(rows,)`` weekday of the day judged.
        params: Dispersion and weekly-rhythm settings.

    Returns:
        The :class:`Baseline` of every row.
    """
    params = params or ModelParams()
    x, n = np.atleast_2d(_f(x)), np.atleast_2d(_f(n))
    has = n > 0
    k = has.sum(axis=1).astype(np.float64)
    sx, sn = _sum(x, has), _sum(n, has)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(sn > 0, sx / sn, np.nan)
        s = np.where(has, x / np.where(has, n, 1.0), 0.0)
        pq = mu * (1.0 - mu)
        v = np.where(has, pq[:, None] / np.where(has, n, 1.0), 0.0)
        sn2 = _sum(n**2, has)
    # pooled: residuals around the median daily share (a few unusual days do not move it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without data
        middle = np.nan_to_num(np.nanmedian(np.where(has, s, np.nan), axis=1))
    lev = 1.0 / np.maximum(k, 2.0)
    r2 = np.where(has, (s - middle[:, None]) ** 2 / (1.0 - lev)[:, None], 0.0)
    tau2 = _robust_tau2(r2, v, has)
    expected = mu.copy()
    effect = np.full(mu.shape, np.nan)
    lam0 = np.zeros(mu.shape)
    var_w0 = np.zeros(mu.shape)

    var_center = np.full(mu.shape, np.nan)
    if params.weekly_rhythm and weekday is not None and today_weekday is not None:
        wd = np.broadcast_to(np.asarray(weekday), x.shape)
        tw = np.asarray(today_weekday).reshape(-1)
        in_w = [has & (wd == w) for w in range(7)]
        kw = np.stack([m.sum(axis=1) for m in in_w], axis=1).astype(float)
        present = kw > 0
        n_days = kw.sum(axis=1)
        n_weekdays = present.sum(axis=1)
        k_today = np.take_along_axis(kw, tw[:, None], axis=1)[:, 0]
        use = (k_today >= params.weekly_min_weeks) & (n_days - n_weekdays >= 2)
        if use.any():
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN weekdays
                # the weekday's median share: one unusual day does not move it
                mw = np.stack([np.nanmedian(np.where(m, s, np.nan), axis=1) for m in in_w], 1)
                mw = np.where(present, mw, np.nan)
                r2, loo = _leave_one_out(s, has, wd)
                tau2_w = _robust_tau2(r2, v, loo)
                mean_v = np.stack([_sum(v, m) for m in in_w], axis=1) / np.maximum(kw, 1.0)
                var_mw = np.where(
                    present, _median_variance(kw) * (mean_v + tau2_w[:, None]), np.inf
                )
                center = np.nanmean(mw, axis=1)
                spread = _sum((mw - center[:, None]) ** 2, present) / np.maximum(n_weekdays - 1, 1)
                mean_var = _sum(var_mw, present) / np.maximum(n_weekdays, 1)
                s_b2 = np.maximum(0.0, spread - mean_var)
                v0 = np.take_along_axis(var_mw, tw[:, None], axis=1)[:, 0]
                m0 = np.take_along_axis(mw, tw[:, None], axis=1)[:, 0]
                lam = np.where(s_b2 > 0, s_b2 / (s_b2 + v0), 0.0)
            expected = np.where(use, center + lam * (m0 - center), expected)
            effect = np.where(use, expected - mu, np.nan)
            tau2 = np.where(use, tau2_w, tau2)
            lam0 = np.where(use, lam, 0.0)
            var_w0 = np.where(use, v0, 0.0)
            var_center = np.where(use, mean_var / np.maximum(n_weekdays, 1), np.nan)

    tau2 = np.maximum(np.nan_to_num(tau2, nan=0.0), 0.0)
    few = k < params.min_dispersion_units
    tau2 = np.where(few, params.default_icc * np.nan_to_num(pq), tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_mu = np.where(sn > 0, (pq * sn + tau2 * sn2) / sn**2, np.nan)
    var_expected = (1.0 - lam0) * np.where(np.isfinite(var_center), var_center, var_mu) + (
        lam0 * var_w0
    )
    return Baseline(
        pooled=mu,
        expected=np.clip(expected, 0.0, 1.0),
        weekday_effect=effect,
        tau2=tau2,
        var_expected=var_expected,
        units=k,
    )


def predictive_test(
    x0: Sequence[float] | np.ndarray,
    n0: Sequence[float] | np.ndarray,
    baseline: Baseline,
    false_positive_rate: float = ModelParams.false_positive_rate,
) -> tuple[np.ndarray, np.ndarray]:
    """Test each row's count now against the baseline's predictive distribution.

    Args:
        x0: Successes now (images showing the label, divided by the design effect).
        n0: Trials now (ok images, divided by the design effect).
        baseline: The rows' :func:`baseline_model`.
        false_positive_rate: Floor a label never seen in the baseline is tested against.

    Returns:
        ``(statistic, p_value)``: the standardised difference ``(x0/n0 - e0) / sd`` and the
        two-sided beta-binomial p-value; for a label never seen before, the one-sided binomial
        p-value of ``x0`` or more against the false-positive floor. NaN where untestable
        (no data now or in the baseline).
    """
    # effective counts (divided by a design effect) are rounded: the tails are discrete
    x0, n0 = np.round(_f(x0).reshape(-1)), np.round(_f(n0).reshape(-1))
    e = baseline.expected
    stat = np.full(x0.shape, np.nan)
    p = np.full(x0.shape, np.nan)
    valid = (n0 > 0) & (x0 >= 0) & (x0 <= n0) & np.isfinite(e) & (baseline.units > 0)
    unseen = valid & (baseline.pooled <= 0)
    seen = valid & ~unseen & (e < 1.0)
    extra = baseline.tau2 + np.nan_to_num(baseline.var_expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = e * (1.0 - e)
        sd = np.sqrt(pq / n0 + extra)
        stat[seen] = ((x0 / n0 - e) / sd)[seen]
        icc = np.clip(extra / pq, 1e-12, 0.5)
    ab = (1.0 - icc) / icc
    a, b = e * ab, (1.0 - e) * ab
    i = np.flatnonzero(seen)
    if i.size:
        lower = _sps.betabinom.cdf(x0[i], n0[i], a[i], b[i])
        upper = _sps.betabinom.sf(x0[i] - 1.0, n0[i], a[i], b[i])
        p[i] = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    j = np.flatnonzero(unseen)
    if j.size:
        p[j] = _sps.binom.sf(x0[j] - 1.0, n0[j], false_positive_rate)
        with np.errstate(divide="ignore", invalid="ignore"):
            fp = false_positive_rate
            stat[j] = (x0[j] / n0[j] - fp) / np.sqrt(fp * (1.0 - fp) / n0[j])
    return stat, p


def recent_test(
    x: np.ndarray,
    n: np.ndarray,
    deff: np.ndarray,
    weekday: np.ndarray | None,
    today_weekday: np.ndarray | None,
    x0: np.ndarray,
    n0: np.ndarray,
    deff0: np.ndarray,
    params: ModelParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Test the last ``recent_days`` days (today and the days just before it) pooled.

    A shift that builds up over a few days is clearer in their sum than in any one day: the
    sum of the recent days' effective counts is compared with the sum the baseline expects of
    each of them (its weekday's level), the baseline being the window without those days. The
    variance adds binomial noise, ``tau^2`` per day and the (fully shared) error of the
    expectation; the p-value is two-sided normal.

    Args:
        x, n: ``(rows, units)`` baseline counts, oldest day first (the last columns are the
            days just before today).
        deff: ``(rows, units)`` design effects of those days (1 where unknown).
        weekday: ``(rows, units)`` weekday of each unit, or None.
        today_weekday: ``(rows,)`` weekday of the day judged, or None.
        x0, n0, deff0: Today's counts and design effect.
        params: The model settings (``recent_days`` < 2 turns the test off).

    Returns:
        ``(statistic, p_value)``, NaN where not tested: a recent day without data, too short a
        baseline, a label the baseline never saw, or fewer than 5 expected images.
    """
    rows = np.asarray(x0).shape[0]
    stat, p = np.full(rows, np.nan), np.full(rows, np.nan)
    back = params.recent_days - 1
    x, n = np.atleast_2d(_f(x)), np.atleast_2d(_f(n))
    if back < 1 or x.shape[1] <= back + 1:
        return stat, p
    base_cols = slice(0, x.shape[1] - back)
    wd = None if weekday is None else np.broadcast_to(np.asarray(weekday), x.shape)
    counts = [(_f(x0), _f(n0), np.maximum(_f(deff0), 1.0), today_weekday)]
    for j in range(x.shape[1] - back, x.shape[1]):
        counts.append(
            (x[:, j], n[:, j], np.maximum(_f(deff[:, j]), 1.0), None if wd is None else wd[:, j])
        )
    total_x = total_n = total_e = var = 0.0
    shared = 0.0
    ok = np.ones(rows, dtype=bool)
    for xd, nd, dd, wd_d in counts:
        b = baseline_model(
            x[:, base_cols], n[:, base_cols], None if wd is None else wd[:, base_cols], wd_d, params
        )
        ne = nd / dd
        total_x = total_x + xd / dd
        total_n = total_n + ne
        total_e = total_e + ne * b.expected
        var = var + ne * b.expected * (1.0 - b.expected) + b.tau2 * ne**2
        shared = shared + ne * np.sqrt(np.nan_to_num(b.var_expected))
        ok &= (nd > 0) & (b.pooled > 0) & (b.units >= params.min_dispersion_units)
    var = var + shared**2
    ok &= (total_e >= 5.0) & (var > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (total_x - total_e) / np.sqrt(var)
    stat[ok] = z[ok]
    p[ok] = np.minimum(1.0, 2.0 * _sps.norm.sf(np.abs(z[ok])))
    return stat, p


def combine(p_day: np.ndarray, p_recent: np.ndarray) -> np.ndarray:
    """One p-value per row from the day's and the recent days' tests (Simes over two).

    ``min(2 min(p1, p2), max(p1, p2))``: valid when the two statistics are positively
    dependent, as here (today is part of the recent days), and never above Bonferroni's.
    """
    both = np.isfinite(p_day) & np.isfinite(p_recent)
    simes = np.minimum(2.0 * np.fmin(p_day, p_recent), np.fmax(p_day, p_recent))
    return np.where(both, np.minimum(1.0, simes), p_day)


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


@dataclass(frozen=True)
class Rules:
    """Thresholds that turn a tested row into a trend name (mirrors ``TrendsConfig``).

    Attributes:
        alpha: False-discovery rate for the adjusted p-values.
        min_delta: Smallest absolute share difference called ``rising``/``falling``.
        min_images: Fewest ok images now to judge a trend.
        min_baseline_images: Fewest ok images in the baseline.
        min_authors: Fewest distinct authors showing a label for it to be ``rising``.
        max_top_author_share: Largest share of its images one author may post for ``rising``.
        new_min_images: Fewest images of a label never seen before for it to be ``new``.
        new_min_authors: Fewest distinct authors of such a label for ``new``.
    """

    alpha: float = 0.05
    min_delta: float = 0.02
    min_images: int = 20
    min_baseline_images: int = 50
    min_authors: int = 5
    max_top_author_share: float = 0.5
    new_min_images: int = 5
    new_min_authors: int = 3


def _significant(delta: np.ndarray, p_adjusted: np.ndarray, rules: Rules) -> np.ndarray:
    return (p_adjusted < rules.alpha) & (np.abs(delta) >= rules.min_delta - DELTA_TOLERANCE)


def classify_trend(
    *,
    delta: Sequence[float] | np.ndarray,
    p_adjusted: Sequence[float] | np.ndarray,
    ok_images: Sequence[float] | np.ndarray,
    baseline_ok_images: Sequence[float] | np.ndarray,
    images: Sequence[float] | np.ndarray,
    baseline_images: Sequence[float] | np.ndarray,
    authors: Sequence[float] | np.ndarray,
    top_author_share: Sequence[float] | np.ndarray,
    rules: Rules | None = None,
) -> np.ndarray:
    """Trend name per row; the first rule that applies wins.

    1. ``insufficient``: ``ok_images < min_images`` or ``baseline_ok_images <
       min_baseline_images``.
    2. A label never seen in the baseline (``baseline_images == 0``) but seen now is ``new``
       when it has ``new_min_images`` images from ``new_min_authors`` authors and
       ``p_adjusted < alpha`` against the false-positive floor; otherwise ``insufficient``.
    3. ``rising``: ``p_adjusted < alpha``, ``delta >= min_delta``, at least ``min_authors``
       authors and ``top_author_share <= max_top_author_share``.
    4. ``falling``: ``p_adjusted < alpha`` and ``delta <= -min_delta``.
    5. ``stable`` otherwise (including a rise carried by too few authors, and untested rows).

    ``|delta|`` is compared with ``min_delta`` with a tolerance of :data:`DELTA_TOLERANCE`.

    Returns:
        An object array of trend names (see :data:`TRENDS`).
    """
    rules = rules or Rules()
    delta, p_adj = _f(delta), _f(p_adjusted)
    images, authors, top = _f(images), _f(authors), _f(top_author_share)
    significant = _significant(delta, p_adj, rules)
    spread = (authors >= rules.min_authors) & (top <= rules.max_top_author_share + DELTA_TOLERANCE)
    out = np.full(delta.shape, STABLE, dtype=object)
    out[significant & (delta > 0) & spread] = RISING
    out[significant & (delta < 0)] = FALLING
    unseen = (_f(baseline_images) == 0) & (images > 0)
    supported = (
        (images >= rules.new_min_images)
        & (authors >= rules.new_min_authors)
        & (p_adj < rules.alpha)
    )
    out[unseen] = np.where(supported[unseen], NEW, INSUFFICIENT)
    out[
        (_f(ok_images) < rules.min_images) | (_f(baseline_ok_images) < rules.min_baseline_images)
    ] = INSUFFICIENT
    return out


def classify_comparison(
    *,
    delta: Sequence[float] | np.ndarray,
    p_adjusted: Sequence[float] | np.ndarray,
    ok_images: Sequence[float] | np.ndarray,
    others_ok_images: Sequence[float] | np.ndarray,
    rules: Rules | None = None,
) -> np.ndarray:
    """A location's share against all other locations: ``higher``/``lower``/``similar``.

    ``insufficient`` when the location has fewer than ``min_images`` ok images or the others
    fewer than ``min_baseline_images``; otherwise by ``p_adjusted`` and ``min_delta`` as in
    :func:`classify_trend`.
    """
    rules = rules or Rules()
    delta, p_adj = _f(delta), _f(p_adjusted)
    significant = _significant(delta, p_adj, rules)
    out = np.full(delta.shape, SIMILAR, dtype=object)
    out[significant & (delta > 0)] = HIGHER
    out[significant & (delta < 0)] = LOWER
    out[(_f(ok_images) < rules.min_images) | (_f(others_ok_images) < rules.min_baseline_images)] = (
        INSUFFICIENT
    )
    return out
