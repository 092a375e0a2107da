"""Bias mitigation with fairlearn, compared with the unmitigated network.

- ``ThresholdOptimizer`` post-processes the network's own probabilities: the scores are passed
  through a tiny prefit estimator whose ``predict_proba`` returns them, so fairlearn chooses
  group-specific thresholds for *our* model (fitted on the validation split).
- ``ExponentiatedGradient`` needs an estimator it can refit with sample weights dozens of times;
  retraining the network that often is out of proportion for an audit stage, so a
  scikit-learn ``LogisticRegression`` on the same encoded features stands in, and the report
  says so.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class ScorePassthrough(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose input is the network's favourable probability (one column)."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (np.asarray(X, dtype=float)[:, 0] >= 0.5).astype(int)


def threshold_optimizer(constraint: str, val_score, val_y, val_groups, test_score, test_groups, seed: int):
    """Group-specific thresholds on the network's scores; returns test decisions (0/1)."""
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(
        estimator=ScorePassthrough().fit(None),
        constraints=constraint,
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    optimizer.fit(val_score.reshape(-1, 1), val_y, sensitive_features=val_groups)
    return optimizer.predict(test_score.reshape(-1, 1), sensitive_features=test_groups, random_state=seed).astype(int)


def exponentiated_gradient(constraint: str, train_x, train_y, train_groups, test_x, seed: int, max_rows: int):
    """Reductions approach with a logistic-regression stand-in; returns test decisions (0/1)."""
    from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(train_y), size=min(max_rows, len(train_y)), replace=False))
    moment = DemographicParity() if constraint == "demographic_parity" else EqualizedOdds()
    reduction = ExponentiatedGradient(LogisticRegression(max_iter=200), constraints=moment, max_iter=20)
    reduction.fit(train_x[keep], train_y[keep], sensitive_features=np.asarray(train_groups)[keep])
    return reduction.predict(test_x, random_state=seed).astype(int)


def logistic_baseline(train_x, train_y, test_x, seed: int, max_rows: int):
    """The unmitigated stand-in, so the reductions row is compared with its own baseline."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(train_y), size=min(max_rows, len(train_y)), replace=False))
    model = LogisticRegression(max_iter=200).fit(train_x[keep], train_y[keep])
    return model.predict(test_x).astype(int)
