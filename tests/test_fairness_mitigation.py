"""Mitigation on a synthetic biased dataset: the targeted disparity goes down."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audit import fairness, mitigation


def _biased(n, seed):
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n)
    y = (rng.random(n) < np.where(group == "a", 0.5, 0.2)).astype(int)
    # The score adds a bonus for group a on top of the label signal.
    score = np.clip(0.4 * y + 0.3 * rng.random(n) + np.where(group == "a", 0.25, 0.0), 0, 1)
    X = np.column_stack([score + 0.05 * rng.standard_normal(n), (group == "a").astype(float)])
    return group, y, score, X


def _dp(y, pred, group):
    s = fairness.AuditSettings(min_group_size=1, n_boot=0)
    return fairness.audit(fairness.Decisions(y, pred), {"g": pd.Series(group)}, s)["g"]["demographic_parity_difference"]


def test_threshold_optimizer_reduces_demographic_parity_gap():
    g_val, y_val, s_val, _ = _biased(600, 1)
    g_test, y_test, s_test, _ = _biased(600, 2)
    before = _dp(y_test, (s_test >= 0.5).astype(int), g_test)
    out = mitigation.threshold_optimizer("demographic_parity", s_val, y_val, g_val, s_test, g_test, seed=0)
    after = _dp(y_test, out["y_pred"], g_test)
    assert before > 0.2 and after < before / 2


def test_exponentiated_gradient_reduces_demographic_parity_gap():
    g_tr, y_tr, _, X_tr = _biased(600, 3)
    g_test, y_test, s_test, X_test = _biased(400, 4)
    from sklearn.linear_model import LogisticRegression

    plain = LogisticRegression(max_iter=200).fit(X_tr, y_tr).predict(X_test)
    out = mitigation.exponentiated_gradient("demographic_parity", X_tr, y_tr, g_tr, X_test, seed=0, max_iter=20)
    assert _dp(y_test, out["y_pred"], g_test) < _dp(y_test, plain, g_test)
    assert out["score"].shape == (400,)


def test_one_class_group_is_reported_not_raised():
    g_val, y_val, s_val, _ = _biased(200, 5)
    y_val = np.where(g_val == "b", 0, y_val)  # group b has no positives
    out = mitigation.threshold_optimizer("equalized_odds", s_val, y_val, g_val, s_val, g_val, seed=0)
    assert "Degenerate labels" in out["error"]
