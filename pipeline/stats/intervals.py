"""Confidence intervals for rates and for differences and ratios of two rates.

Why these and not the bootstrap the audit used before: a percentile bootstrap of a rate in a
group of 30-100 rows, or of a max-minus-min over many groups, under-covers well below its
nominal level in simulations with known truth, and can even exclude its own estimate.
The closed-form intervals below are the ones the literature recommends for small samples:

* one rate: Wilson's score interval (Agresti & Coull 1998; Brown, Cai & DasGupta 2001) for the
  information the report shows, and the Clopper-Pearson exact interval, which never under-covers
  (the gate's rate limits); both stay inside [0, 1] and always contain the estimate;
* difference of two independent rates: Newcombe's hybrid score interval (Newcombe 1998,
  method 10), built from the two rates' limits (Wilson, or exact for the gate);
* ratio of two independent rates: MOVER-R (Donner & Zou 2012), built the same way;
* a mean (calibration in the large): Student's t interval from sufficient statistics.

All functions are vectorised over numpy arrays and return ``(low, high)``; an undefined
quantity (empty denominator, zero reference rate) gives NaN at both ends. They are checked
against scipy (``binomtest(...).proportion_ci``, ``beta.ppf``) and hand computations in
``tests/test_stats_intervals.py``, and their coverage is measured by
``benchmarks/bench_coverage.py``.
"""

from __future__ import annotations

import numpy as np


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level (1.96 at 0.95).

    The standard library's ``NormalDist`` gives the same quantile as ``scipy.stats.norm.ppf``
    without importing scipy.stats (seconds on a busy machine) for the common intervals.
    """
    from statistics import NormalDist

    return float(NormalDist().inv_cdf(1 - (1 - level) / 2))


def bonferroni_level(level: float, family_size: int) -> float:
    """Per-interval level that gives ``level`` simultaneous coverage over ``family_size`` intervals."""
    return 1 - (1 - level) / max(int(family_size), 1)


def _arrays(*values):
    return [np.asarray(v, dtype=np.float64) for v in values]


def wilson(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where ``n`` is 0)."""
    k, n = _arrays(k, n)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # Exact ends at the boundary (rounding could otherwise put them a hair inside)
    low, high = np.where(k <= 0, 0.0, low), np.where(k >= n, 1.0, high)
    bad = ~(n > 0)
    return np.where(bad, np.nan, np.minimum(low, p)), np.where(bad, np.nan, np.maximum(high, p))


def clopper_pearson(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson exact interval: Beta quantiles, 0 / 1 at the boundary (NaN where ``n`` is 0).

    It never covers less than its level (Brown, Cai & DasGupta 2001), so rate limits built from it
    stay honest in small groups and near rates of 0 and 1, where Wilson's under-cover.
    """
    from scipy.stats import beta

    k, n = _arrays(k, n)
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, beta.ppf(alpha / 2, np.maximum(k, 1e-300), n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1e-300)), 1.0)
        p = k / n
    bad = ~(n > 0)
    return np.where(bad, np.nan, np.minimum(low, p)), np.where(bad, np.nan, np.maximum(high, p))


#: per-rate limits a hybrid (Newcombe / MOVER) interval can be built from
LIMITS = {"wilson": wilson, "exact": clopper_pearson}


def newcombe_difference(k1, n1, k2, n2, level: float = 0.95, limits: str = "wilson") -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid interval for ``k1/n1 - k2/n2`` (independent samples), from each rate's
    ``limits`` (Wilson: Newcombe's method 10; exact: the same construction from Clopper-Pearson)."""
    k1, n1, k2, n2 = _arrays(k1, n1, k2, n2)
    l1, u1 = LIMITS[limits](k1, n1, level)
    l2, u2 = LIMITS[limits](k2, n2, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        d = p1 - p2
        low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return np.clip(low, -1, 1), np.clip(high, -1, 1)


def mover_ratio(k1, n1, k2, n2, level: float = 0.95, limits: str = "wilson") -> tuple[np.ndarray, np.ndarray]:
    """MOVER-R interval for ``(k1/n1) / (k2/n2)`` from each rate's ``limits`` (Wilson or exact);
    NaN when the denominator rate is 0.

    Donner & Zou (2012), Statistical Methods in Medical Research 21:347-359, eq. for the ratio
    of two independent proportions. When the reference is so uncertain that its upper limit
    reaches twice its estimate the lower end is undefined by the formula and set to 0
    (conservative).
    """
    k1, n1, k2, n2 = _arrays(k1, n1, k2, n2)
    l1, u1 = LIMITS[limits](k1, n1, level)
    l2, u2 = LIMITS[limits](k2, n2, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        prod = p1 * p2
        low_den = u2 * (2 * p2 - u2)
        low = (prod - np.sqrt(np.maximum(prod**2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0))) / low_den
        low = np.where(low_den > 0, np.maximum(low, 0), 0.0)
        high = (prod + np.sqrt(np.maximum(prod**2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0))) / (l2 * (2 * p2 - l2))
        ratio = p1 / p2
    bad = ~((n1 > 0) & (n2 > 0) & (k2 > 0))
    return np.where(bad, np.nan, np.minimum(low, ratio)), np.where(bad, np.nan, np.maximum(high, ratio))


def mean_interval_from_sums(n: int, total: float, total_sq: float, level: float = 0.95) -> tuple[float, float]:
    """Student's t interval for a mean from its sufficient statistics (count, sum, sum of squares),
    so a verdict can be recomputed from a file that holds no rows (NaN for fewer than two values)."""
    from scipy.stats import t

    if n < 2:
        return float("nan"), float("nan")
    mean = total / n
    sd = float(np.sqrt(max(total_sq - n * mean * mean, 0.0) / (n - 1)))
    half = float(t.ppf(1 - (1 - level) / 2, n - 1)) * sd / np.sqrt(n)
    return mean - half, mean + half


def absolute(low, high) -> tuple[np.ndarray, np.ndarray]:
    """The interval of ``|d|`` implied by an interval ``[low, high]`` of ``d``."""
    low, high = _arrays(low, high)
    straddles = (low <= 0) & (high >= 0)
    a, b = np.abs(low), np.abs(high)
    return np.where(straddles, 0.0, np.minimum(a, b)), np.maximum(a, b)


def contains(value, low, high, tol: float = 1e-12) -> bool:
    """Whether ``low <= value <= high`` (an undefined interval contains nothing and fails)."""
    if value is None or low is None or high is None:
        return False
    return bool(low - tol <= value <= high + tol)
