"""Closed-form intervals against scipy, published values and hand computation, plus a small
coverage simulation with known truth (the full one is benchmarks/bench_coverage.py)."""

import math

import numpy as np
import pytest
from scipy.stats import beta, binomtest

from pipeline.stats import intervals


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 30), (7, 30), (15, 30), (29, 30), (30, 30), (412, 1000)])
def test_wilson_equals_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = intervals.wilson(k, n, 0.95)
    assert float(low) == pytest.approx(ref.low, abs=1e-9) and float(high) == pytest.approx(ref.high, abs=1e-9)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (20, 20), (55, 100)])
def test_clopper_pearson_is_the_beta_quantiles_with_boundary_ends(k, n):
    low, high = intervals.clopper_pearson(k, n, 0.9)
    assert float(low) == (0.0 if k == 0 else pytest.approx(beta.ppf(0.05, k, n - k + 1)))
    assert float(high) == (1.0 if k == n else pytest.approx(beta.ppf(0.95, k + 1, n - k)))


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II example (a): 56/70 - 48/80,
    # method 10 (hybrid score without continuity correction): 0.0524 to 0.3339.
    low, high = intervals.newcombe_difference(56, 70, 48, 80, 0.95)
    assert (round(float(low), 4), round(float(high), 4)) == (0.0524, 0.3339)


def test_mover_ratio_by_hand_from_scipy_wilson_limits():
    # Donner & Zou (2012) MOVER-R, written out with scipy's Wilson limits
    k1, n1, k2, n2 = 12, 40, 90, 300
    a = binomtest(k1, n1).proportion_ci(method="wilson")
    b = binomtest(k2, n2).proportion_ci(method="wilson")
    p1, p2 = k1 / n1, k2 / n2
    low = (p1 * p2 - math.sqrt((p1 * p2) ** 2 - a.low * b.high * (2 * p1 - a.low) * (2 * p2 - b.high))) / (
        b.high * (2 * p2 - b.high)
    )
    high = (p1 * p2 + math.sqrt((p1 * p2) ** 2 - a.high * b.low * (2 * p1 - a.high) * (2 * p2 - b.low))) / (
        b.low * (2 * p2 - b.low)
    )
    ours = intervals.mover_ratio(k1, n1, k2, n2)
    assert float(ours[0]) == pytest.approx(low, rel=1e-9) and float(ours[1]) == pytest.approx(high, rel=1e-9)
    assert float(intervals.mover_ratio(0, 50, 10, 50)[0]) == 0.0
    assert all(np.isnan(intervals.mover_ratio(5, 50, 0, 50)))


def test_every_interval_contains_its_estimate_on_a_grid():
    n1, n2 = np.meshgrid(np.arange(1, 40), np.arange(1, 40))
    for k_share in (0.0, 0.1, 0.5, 0.9, 1.0):
        k1, k2 = np.floor(k_share * n1), np.floor((1 - k_share) * n2)
        for lo, hi, est in (
            (*intervals.wilson(k1, n1), k1 / n1),
            (*intervals.clopper_pearson(k1, n1), k1 / n1),
            (*intervals.newcombe_difference(k1, n1, k2, n2, limits="exact"), k1 / n1 - k2 / n2),
            (*intervals.newcombe_difference(k1, n1, k2, n2), k1 / n1 - k2 / n2),
        ):
            assert np.all((lo <= est + 1e-12) & (est <= hi + 1e-12))
        with np.errstate(divide="ignore", invalid="ignore"):
            est = (k1 / n1) / (k2 / n2)
        defined = k2 > 0
        for lo, hi in (intervals.mover_ratio(k1, n1, k2, n2), intervals.mover_ratio(k1, n1, k2, n2, limits="exact")):
            assert np.all((lo[defined] <= est[defined] + 1e-12) & (est[defined] <= hi[defined] + 1e-12))


def test_coverage_at_nominal_95_for_small_groups():
    """Known truth, groups of 40 and 60 rows, 600 replications: each interval covers the truth in
    at least 92% of replications (Monte-Carlo standard error about 0.9 points)."""
    rng = np.random.default_rng(0)
    reps, n1, n2, p1, p2 = 600, 40, 60, 0.3, 0.45
    k1, k2 = rng.binomial(n1, p1, reps), rng.binomial(n2, p2, reps)

    def cover(lo, hi, truth):
        return float(np.mean((lo <= truth) & (truth <= hi)))

    assert cover(*intervals.wilson(k1, n1), p1) >= 0.92
    assert cover(*intervals.clopper_pearson(k1, n1), p1) >= 0.95  # exact: never below its level
    assert cover(*intervals.newcombe_difference(k1, n1, k2, n2), p1 - p2) >= 0.92
    assert cover(*intervals.mover_ratio(k1, n1, k2, n2), p1 / p2) >= 0.92


def test_bonferroni_level_and_absolute_interval():
    assert intervals.bonferroni_level(0.95, 5) == pytest.approx(0.99)
    assert [float(x) for x in intervals.absolute(-0.2, 0.1)] == [0.0, 0.2]
    assert [float(x) for x in intervals.absolute(-0.3, -0.1)] == [0.1, 0.3]


@pytest.mark.parametrize("level", [0.9, 0.95, 0.995, 0.9999])
def test_z_value_equals_scipy_normal_quantile(level):
    from scipy.stats import norm

    assert intervals.z_value(level) == pytest.approx(norm.ppf(1 - (1 - level) / 2), abs=1e-9)
