"""Bias mitigation with fairlearn, each result returned as decisions to audit like the original.

* ``ThresholdOptimizer`` post-processes the trained network's favourable-class probability,
  group by group; it is fitted on the validation split so the test split stays unseen. The
  network is wrapped as a "prefit" estimator whose input is the probability itself, so fairlearn
  never needs torch.
* ``ExponentiatedGradient`` needs an estimator it can refit with ``sample_weight``; a
  ``LogisticRegression`` on the same encoded features stands in for the network (the report
  says so). It is fitted on the training split.
"""

from __future__ import annotations

import numpy as np

CONSTRAINTS = ("demographic_parity", "equalized_odds")


def _prefit_estimator():
    """A classifier whose ``predict_proba`` reads the probability from column 0 of ``X``."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class ProbabilityColumn(ClassifierMixin, BaseEstimator):
        """Stands for the trained network: X is its favourable-class probability."""

        classes_ = np.array([0, 1])

        def fit(self, X, y=None, **kwargs):
            return self

        def __sklearn_is_fitted__(self) -> bool:
            return True

        def predict_proba(self, X):
            p = np.asarray(X, dtype=float)[:, 0]
            return np.column_stack([1 - p, p])

        def predict(self, X):
            return (np.asarray(X, dtype=float)[:, 0] >= 0.5).astype(int)

    return ProbabilityColumn()


def threshold_optimizer(constraint: str, score_val, y_val, sens_val, score_test, sens_test, seed: int) -> dict:
    """Group thresholds fitted on validation, randomised decisions on test.

    Returns ``{"y_pred": array}`` or ``{"error": message}`` when fairlearn refuses (e.g.
    "Degenerate labels" for a group with one class in the validation split).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    opt = ThresholdOptimizer(estimator=_prefit_estimator(), constraints=constraint, objective="accuracy_score",
                             predict_method="predict_proba", prefit=True)  # fmt: skip
    try:
        opt.fit(np.asarray(score_val)[:, None], np.asarray(y_val), sensitive_features=np.asarray(sens_val))
    except ValueError as err:
        return {"error": str(err)}
    y_pred = opt.predict(np.asarray(score_test)[:, None], sensitive_features=np.asarray(sens_test), random_state=seed)
    return {"y_pred": np.asarray(y_pred, dtype=np.int64)}


def exponentiated_gradient(constraint: str, X_train, y_train, sens_train, X_test, seed: int, max_iter: int = 50) -> dict:
    """Reductions approach with a LogisticRegression standing in for the network.

    Returns ``{"y_pred", "score"}`` (score = the randomised classifier's favourable probability)
    or ``{"error": message}``.
    """
    from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    moment = DemographicParity() if constraint == "demographic_parity" else EqualizedOdds()
    eg = ExponentiatedGradient(LogisticRegression(max_iter=200), constraints=moment, max_iter=max_iter)
    try:
        eg.fit(np.asarray(X_train), np.asarray(y_train), sensitive_features=np.asarray(sens_train))
    except ValueError as err:
        return {"error": str(err)}
    score = eg._pmf_predict(np.asarray(X_test))[:, 1]
    y_pred = eg.predict(np.asarray(X_test), random_state=seed)
    return {"y_pred": np.asarray(y_pred, dtype=np.int64), "score": np.asarray(score, dtype=float)}
