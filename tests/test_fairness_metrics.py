"""Group metrics, disparities and bootstrap intervals against hand counts and fairlearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.audit import fairness

# Group a: y = 1 1 1 0 0 0, pred = 1 1 0 1 0 0 -> tp 2, fn 1, fp 1, tn 2
# Group b: y = 1 0 0 0,     pred = 1 1 0 0     -> tp 1, fn 0, fp 1, tn 2
Y = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0])
P = np.array([1, 1, 0, 1, 0, 0, 1, 1, 0, 0])
G = pd.Series(["a"] * 6 + ["b"] * 4)
S = fairness.AuditSettings(min_group_size=1, n_boot=0, seed=0)


def _audit(y, p, g, score=None, s=S):
    return fairness.audit(fairness.Decisions(y, p, score), {"g": g}, s)["g"]


def test_rates_match_hand_counts():
    block = _audit(Y, P, G)
    a, b = block["groups"]["a"], block["groups"]["b"]
    assert (a["count"], b["count"]) == (6, 4)
    assert a["selection_rate"] == pytest.approx(3 / 6) and b["selection_rate"] == pytest.approx(2 / 4)
    assert a["tpr"] == pytest.approx(2 / 3) and b["tpr"] == pytest.approx(1.0)
    assert a["fpr"] == pytest.approx(1 / 3) and b["fpr"] == pytest.approx(1 / 3)
    assert a["fnr"] == pytest.approx(1 / 3) and b["fnr"] == pytest.approx(0.0)
    assert a["precision"] == pytest.approx(2 / 3) and b["precision"] == pytest.approx(1 / 2)
    assert a["accuracy"] == pytest.approx(4 / 6) and b["accuracy"] == pytest.approx(3 / 4)
    assert block["demographic_parity_difference"] == pytest.approx(0.0)
    assert block["equalized_odds_difference"] == pytest.approx(1 / 3)
    assert block["false_negative_rate_ratio"] == pytest.approx(0.0)
    assert block["reference"] == "a"  # the largest group
    assert block["vs_reference"]["b"]["tpr_difference"] == pytest.approx(1 / 3)


def test_group_without_positives_is_undefined_not_zero():
    y = np.array([1, 0, 1, 0, 0, 0, 0])
    p = np.array([1, 0, 0, 1, 1, 0, 0])
    g = pd.Series(["a", "a", "a", "a", "b", "b", "b"])
    block = _audit(y, p, g)
    b = block["groups"]["b"]
    assert b["tpr"] is None and b["fnr"] is None and "no positives" in b["flags"]
    assert b["fpr"] == pytest.approx(1 / 3)
    # TPR is defined for one group only, so TPR-based disparities are undefined, not 0.
    assert block["equal_opportunity_difference"] is None
    assert block["equalized_odds_difference"] is None
    assert block["demographic_parity_difference"] == pytest.approx(abs(1 / 2 - 1 / 3))


def test_small_group_is_flagged_and_kept_out_of_disparities():
    s = fairness.AuditSettings(min_group_size=5, n_boot=0)
    block = _audit(Y, P, G, s=s)
    assert "fewer than 5 rows" in block["groups"]["b"]["flags"]
    assert block["excluded_from_disparities"] == ["b"]
    assert block["demographic_parity_difference"] is None


def _random_case(n=300, seed=1):
    rng = np.random.default_rng(seed)
    g = pd.Series(rng.choice(["x", "y", "z"], size=n, p=[0.5, 0.3, 0.2]))
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + rng.random(n) * 0.65 + (g == "x").to_numpy() * 0.1, 0, 1)
    return y, (score >= 0.5).astype(int), g, score


def test_point_estimates_equal_fairlearn():
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    y, p, g, score = _random_case()
    block = _audit(y, p, g, score, fairness.AuditSettings(min_group_size=1, n_boot=0))
    frame = fm.MetricFrame(metrics={"selection_rate": fm.selection_rate, "tpr": fm.true_positive_rate,
                                     "fpr": fm.false_positive_rate, "fnr": fm.false_negative_rate,
                                     "accuracy": accuracy_score, "precision": precision_score},
                           y_true=y, y_pred=p, sensitive_features=g.to_numpy())  # fmt: skip
    for group, row in frame.by_group.iterrows():
        for name, value in row.items():
            assert block["groups"][group][name] == pytest.approx(value)
        mask = (g == group).to_numpy()
        assert block["groups"][group]["roc_auc"] == pytest.approx(roc_auc_score(y[mask], score[mask]))
    kw = dict(y_true=y, y_pred=p, sensitive_features=g.to_numpy())
    assert block["demographic_parity_difference"] == pytest.approx(fm.demographic_parity_difference(**kw))
    assert block["demographic_parity_ratio"] == pytest.approx(fm.demographic_parity_ratio(**kw))
    assert block["equalized_odds_difference"] == pytest.approx(fm.equalized_odds_difference(**kw))
    assert block["equalized_odds_ratio"] == pytest.approx(fm.equalized_odds_ratio(**kw))
    assert block["equal_opportunity_difference"] == pytest.approx(fm.equal_opportunity_difference(**kw))


def test_intervals_agree_with_fairlearn_bootstrap():
    """Same resampling scheme, different random streams: endpoints agree within Monte-Carlo error."""
    from fairlearn import metrics as fm

    y, p, g, _ = _random_case(n=400, seed=3)
    n_boot = 300
    block = _audit(y, p, g, s=fairness.AuditSettings(min_group_size=1, n_boot=n_boot, ci=0.9, seed=7))
    frame = fm.MetricFrame(metrics={"selection_rate": fm.selection_rate, "tpr": fm.true_positive_rate},
                           y_true=y, y_pred=p, sensitive_features=g.to_numpy(),
                           n_boot=n_boot, ci_quantiles=[0.05, 0.95], random_state=11)  # fmt: skip
    lo, hi = frame.by_group_ci
    for group in lo.index:
        for name in ("selection_rate", "tpr"):
            ours = block["groups"][group]["ci"][name]
            width = hi.loc[group, name] - lo.loc[group, name]
            assert abs(ours[0] - lo.loc[group, name]) < 0.2 * width
            assert abs(ours[1] - hi.loc[group, name]) < 0.2 * width
    dlo, dhi = frame.difference_ci()  # max - min of selection_rate and tpr
    ours = block["ci"]["demographic_parity_difference"]
    width = dhi["selection_rate"] - dlo["selection_rate"]
    assert abs(ours[0] - dlo["selection_rate"]) < 0.25 * width
    assert abs(ours[1] - dhi["selection_rate"]) < 0.25 * width


def test_bootstrap_is_seeded():
    y, p, g, score = _random_case()
    s = fairness.AuditSettings(min_group_size=1, n_boot=50, seed=5)
    assert _audit(y, p, g, score, s) == _audit(y, p, g, score, s)
