"""Fairness audit: hand-computed rates, undefined groups, verdict boundaries, agreement with
fairlearn (mitigation: tests/test_mitigation_models.py)."""

import numpy as np
import pandas as pd
import pytest

from pipeline.audit.fairness import FairnessSettings, audit_decisions

# Group a: truth 1 1 0 0, predicted 1 0 1 0 -> TP1 FN1 FP1 TN1
# Group b: truth 1 1 1 0, predicted 1 1 0 0 -> TP2 FN1 FP0 TN1
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0])
P = np.array([1, 0, 1, 0, 1, 1, 0, 0])
G = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4})
TINY = FairnessSettings(n_boot=0, min_group_size=1)


def test_group_rates_match_hand_computation():
    groups = audit_decisions(Y, P, None, G, ["g"], TINY)["features"]["g"]["groups"]
    assert groups["a"]["selection_rate"] == 0.5 and groups["b"]["selection_rate"] == 0.5
    assert groups["a"]["tpr"] == 0.5 and groups["b"]["tpr"] == pytest.approx(2 / 3)
    assert groups["a"]["fpr"] == 0.5 and groups["b"]["fpr"] == 0.0
    assert groups["b"]["fnr"] == pytest.approx(1 / 3)
    assert groups["a"]["precision"] == 0.5 and groups["b"]["precision"] == 1.0
    assert groups["a"]["base_rate"] == 0.5 and groups["b"]["base_rate"] == 0.75
    assert groups["a"]["accuracy"] == 0.5 and groups["b"]["accuracy"] == 0.75


def test_disparities_match_hand_computation():
    block = audit_decisions(Y, P, None, G, ["g"], TINY)["features"]["g"]
    assert block["demographic_parity_difference"] == 0.0
    assert block["equal_opportunity_difference"] == pytest.approx(2 / 3 - 0.5)
    assert block["equalized_odds_difference"] == 0.5  # FPR gap 0.5 beats TPR gap 1/6
    assert block["fpr_ratio"] == 0.0


def test_group_without_positives_is_undefined_not_zero():
    y = np.array([0, 0, 0, 1, 1, 0, 0, 1])
    p = np.array([1, 0, 0, 1, 0, 0, 1, 1])
    groups = pd.DataFrame({"g": ["none"] * 3 + ["some"] * 5})
    block = audit_decisions(y, p, None, groups, ["g"], FairnessSettings(n_boot=20, min_group_size=1))["features"]["g"]
    none = block["groups"]["none"]
    assert none["tpr"] is None and none["fnr"] is None  # fairlearn would say TPR 0.0
    assert none["fpr"] == pytest.approx(1 / 3)
    assert "no favourable outcomes in the truth" in none["flags"] and not none["eligible"]
    # the undefined group is kept out of max-min disparities: only one eligible group remains
    assert block["demographic_parity_difference"] is None


def test_small_groups_are_flagged_and_excluded():
    block = audit_decisions(Y, P, None, G, ["g"], FairnessSettings(n_boot=0, min_group_size=5))["features"]["g"]
    assert all("fewer than 5 rows" in g["flags"] for g in block["groups"].values())


def _synthetic(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.choice(["x", "y"], size=n, p=[0.6, 0.4])
    score = np.clip(rng.normal(0.45 + 0.2 * (group == "x"), 0.2), 0.001, 0.999)
    y = (rng.random(n) < score).astype(int)
    return y, (score >= 0.5).astype(int), score, pd.DataFrame({"s": group, "t": rng.choice(["u", "v"], size=n)})


def test_point_estimates_equal_fairlearn():
    from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference, selection_rate
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    y, p, score, groups = _synthetic()
    block = audit_decisions(y, p, score, groups, ["s"], FairnessSettings(n_boot=0))["features"]["s"]
    frame = MetricFrame(
        metrics={"sel": selection_rate, "acc": accuracy_score, "tpr": recall_score, "prec": precision_score},
        y_true=y,
        y_pred=p,
        sensitive_features=groups["s"],
    )
    for g in ("x", "y"):
        assert block["groups"][g]["selection_rate"] == pytest.approx(frame.by_group.loc[g, "sel"])
        assert block["groups"][g]["accuracy"] == pytest.approx(frame.by_group.loc[g, "acc"])
        assert block["groups"][g]["tpr"] == pytest.approx(frame.by_group.loc[g, "tpr"])
        assert block["groups"][g]["precision"] == pytest.approx(frame.by_group.loc[g, "prec"])
        mask = groups["s"] == g
        # from a 2**16-bin score histogram (mergeable): pairs within one bin count as ties
        assert block["groups"][g]["roc_auc"] == pytest.approx(roc_auc_score(y[mask], score[mask]), abs=1e-5)
    kw = dict(y_true=y, y_pred=p, sensitive_features=groups["s"])
    assert block["demographic_parity_difference"] == pytest.approx(demographic_parity_difference(**kw))
    assert block["equalized_odds_difference"] == pytest.approx(equalized_odds_difference(**kw))


def test_intervals_agree_with_fairlearn_bootstrap():
    """On large groups the closed-form intervals (Wilson per group, Newcombe for the difference
    against the reference) agree with fairlearn's bootstrap within Monte-Carlo error."""
    from fairlearn.metrics import MetricFrame, selection_rate

    from pipeline.stats.intervals import absolute

    y, p, score, groups = _synthetic(n=1500, seed=3)
    ours = audit_decisions(y, p, None, groups, ["s"], FairnessSettings(n_boot=0, seed=1))["features"]["s"]
    frame = MetricFrame(
        metrics=selection_rate,
        y_true=y,
        y_pred=p,
        sensitive_features=groups["s"],
        n_boot=400,
        ci_quantiles=[0.025, 0.975],
        random_state=2,
    )
    lo, hi = frame.by_group_ci
    for g in ("x", "y"):
        width = hi[g] - lo[g]
        ours_lo, ours_hi = ours["groups"][g]["ci"]["selection_rate"]
        assert abs(ours_lo - lo[g]) < 0.15 * width + 0.005
        assert abs(ours_hi - hi[g]) < 0.15 * width + 0.005
    d_lo, d_hi = frame.difference_ci()
    other = "y" if ours["reference"] == "x" else "x"
    low, high = absolute(*ours["groups"][other]["vs_reference"]["selection_rate_difference"]["ci"])
    assert abs(float(low) - d_lo) < 0.2 * (d_hi - d_lo) + 0.005
    assert abs(float(high) - d_hi) < 0.2 * (d_hi - d_lo) + 0.005


def test_bootstrap_is_seeded():
    y, p, score, groups = _synthetic(n=500)
    a = audit_decisions(y, p, score, groups, ["s", "t"], FairnessSettings(n_boot=30, seed=5))
    b = audit_decisions(y, p, score, groups, ["s", "t"], FairnessSettings(n_boot=30, seed=5))
    assert a == b
    assert {"s", "t", "s x t"} == set(a["features"])


def test_weighted_auc_ties_match_sklearn():
    from sklearn.metrics import roc_auc_score

    from pipeline.stats.bootstrap import weighted_auc

    y = np.array([0, 1, 0, 1, 1, 0, 1])
    score = np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.1, 0.5])
    auc = weighted_auc(y, score, np.ones((1, 7), np.float32))
    assert auc[0] == pytest.approx(roc_auc_score(y, score))


def test_resamples_are_compact_counts_independent_of_chunking():
    """Counts are stored as small integers (the audit keeps every resample) and the draws do not
    depend on the chunk size, so the memory bound never changes an interval."""
    from pipeline.stats.bootstrap import resample_counts as resample_weights

    by_seven = np.concatenate(list(resample_weights(1_000, 53, seed=3, chunk=7)))
    at_once = np.concatenate(list(resample_weights(1_000, 53, seed=3, chunk=53)))
    assert by_seven.dtype == np.uint8
    np.testing.assert_array_equal(by_seven, at_once)
    assert (by_seven.sum(axis=1) == 1_000).all()  # each resample draws n rows
