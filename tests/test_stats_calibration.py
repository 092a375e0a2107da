"""One calibration binning: the edge rule at every edge, ECE by hand, agreement with
scikit-learn's calibration_curve, and the same ECE in the evaluate stage and the fairness audit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve

from pipeline.audit import fairness, performance
from pipeline.errors import BadInputError
from pipeline.stats import calibration


def test_a_score_of_exactly_0_3_is_in_the_bin_below_it():
    assert calibration.bin_index([0.3], 10)[0] == 2  # (0.2, 0.3]
    assert calibration.bin_index([np.nextafter(0.3, 1)], 10)[0] == 3


@pytest.mark.parametrize("bins", [1, 2, 3, 5, 6, 7, 10, 12, 15, 20])
def test_every_inner_edge_belongs_to_the_bin_below_and_the_ends_to_the_end_bins(bins):
    edges = np.arange(bins + 1) / bins
    which = calibration.bin_index(edges, bins)
    assert which[0] == 0 and which[-1] == bins - 1
    np.testing.assert_array_equal(which[1:-1], np.arange(bins - 1))  # edge k/B -> bin k-1
    above = calibration.bin_index(np.nextafter(edges[1:-1], 2), bins)
    np.testing.assert_array_equal(above, np.arange(1, bins))


def test_ece_by_hand():
    # ten bins; bin (0.1, 0.2]: scores 0.2, 0.15, labels 0, 1 -> |1 - 0.35| = 0.65
    # bin (0.8, 0.9]: scores 0.9, 0.85, 0.9, labels 1, 1, 0 -> |2 - 2.65| = 0.65; N = 5
    y = np.array([0, 1, 1, 1, 0])
    score = np.array([0.2, 0.15, 0.9, 0.85, 0.9])
    assert calibration.expected_calibration_error(y, score, 10) == pytest.approx(1.3 / 5, abs=1e-15)
    frac, mean, count = calibration.reliability(y, score, 10)
    np.testing.assert_allclose(frac, [0.5, 2 / 3])
    np.testing.assert_allclose(mean, [0.175, 2.65 / 3])
    np.testing.assert_array_equal(count, [2, 3])


def test_reliability_equals_sklearn_calibration_curve_including_scores_on_edges():
    rng = np.random.default_rng(0)
    score = np.concatenate([rng.random(2_000), np.arange(11) / 10, np.round(rng.random(300), 1)])
    y = (rng.random(len(score)) < score).astype(int)
    for bins in (5, 10, 20):
        frac, mean, _ = calibration.reliability(y, score, bins)
        ref_frac, ref_mean = calibration_curve(y, score, n_bins=bins, strategy="uniform")
        np.testing.assert_allclose(frac, ref_frac, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mean, ref_mean, rtol=0, atol=1e-12)


def test_ece_equals_the_bin_weighted_gap_of_sklearns_curve():
    rng = np.random.default_rng(1)
    score = rng.random(1_000)
    y = (rng.random(1_000) < score**1.3).astype(int)
    frac, mean = calibration_curve(y, score, n_bins=10, strategy="uniform")
    _, _, count = calibration.reliability(y, score, 10)
    expected = float((count / count.sum() * np.abs(frac - mean)).sum())
    assert calibration.expected_calibration_error(y, score, 10) == pytest.approx(expected, abs=1e-12)


def test_ece_per_group_equals_ece_of_each_group_alone():
    rng = np.random.default_rng(2)
    score = np.round(rng.random(600), 2)
    y = (rng.random(600) < score).astype(int)
    codes = rng.integers(0, 3, 600)
    per_group = calibration.ece_by_group(y, score, codes, 4, 10)
    for g in range(3):
        assert per_group[g] == pytest.approx(
            calibration.expected_calibration_error(y[codes == g], score[codes == g], 10)
        )
    assert np.isnan(per_group[3])  # a group with no rows


def test_the_evaluate_stage_and_the_fairness_audit_print_the_same_ece():
    rng = np.random.default_rng(3)
    score = np.round(rng.random(400), 1)  # many scores exactly on edges
    y = (rng.random(400) < score).astype(int)
    from pipeline.stats import class_counts

    proba = np.column_stack([1 - score, score])
    _, evaluate_ece = performance.calibration_points(class_counts.block_tables(y, y, proba, 1, 10, {}))
    assert evaluate_ece == pytest.approx(calibration.expected_calibration_error(y, score, 10), abs=1e-15)
    groups = pd.DataFrame({"all": ["everyone"] * 400})
    audited = fairness.audit_decisions(
        y, (score >= 0.5).astype(int), score, groups, ["all"], fairness.FairnessSettings(n_boot=0, calibration_bins=10)
    )
    assert audited["features"]["all"]["groups"]["everyone"]["ece"] == pytest.approx(evaluate_ece, abs=1e-12)


@pytest.mark.parametrize(("score", "message"), [([0.2, np.nan], "NaN"), ([0.2, 1.5], "outside"), ([-0.1], "outside")])
def test_scores_that_are_not_probabilities_are_refused(score, message):
    with pytest.raises(BadInputError, match=message):
        calibration.expected_calibration_error(np.zeros(len(score)), score, 10)


def test_rounding_noise_just_outside_the_range_is_clipped_and_zero_bins_refused():
    assert calibration.bin_index([1 + 1e-9, -1e-9], 10).tolist() == [9, 0]
    with pytest.raises(BadInputError, match="at least 1"):
        calibration.bin_edges(0)
