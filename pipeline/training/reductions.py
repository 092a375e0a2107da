"""fairlearn's reductions (``ExponentiatedGradient``, ``GridSearch``) refitting the network itself.

Each oracle call of the reduction is one Lightning fit of the network on every training row with
fairlearn's per-row weights (:class:`pipeline.training.estimator.NetworkClassifier`); the fits are
counted against a shared :class:`pipeline.training.estimator.FitBudget`. The result is a
:class:`pipeline.audit.mitigation.Candidate` holding the deployable
:class:`pipeline.models.postprocessed.PostProcessedNetwork`.
"""

from __future__ import annotations

import numpy as np

from pipeline.audit.mitigation import Candidate, describe
from pipeline.models.postprocessed import PostProcessedNetwork, network_entry
from pipeline.training.estimator import NetworkClassifier

#: fairlearn's reductions moment for each constraint name (ThresholdOptimizer takes the name).
MOMENTS = {
    "demographic_parity": "DemographicParity",
    "equalized_odds": "EqualizedOdds",
    "true_positive_rate_parity": "TruePositiveRateParity",
    "false_positive_rate_parity": "FalsePositiveRateParity",
}


def reductions(method: str, constraint: str, settings, train_x, train_y01, train_groups, feature_names, *,
               seed: int, budget, max_iter: int, grid_size: int, eps: float, weighting: str, workdir=None) -> Candidate:  # fmt: skip
    """``ExponentiatedGradient`` or ``GridSearch`` refitting the network on all training rows."""
    from fairlearn import reductions as red

    estimator = NetworkClassifier(settings, seed=seed, weighting=weighting, budget=budget, workdir=workdir)
    moment = getattr(red, MOMENTS[constraint])()
    before = budget.used
    groups = np.asarray(train_groups).astype(str)
    if method == "exponentiated_gradient":
        fitted = red.ExponentiatedGradient(estimator, constraints=moment, eps=eps, max_iter=max_iter)
        fitted.fit(train_x, train_y01, sensitive_features=groups)
        keep = [i for i, w in fitted.weights_.items() if w > 0]
        nets = [fitted.predictors_[i] for i in keep]
        entries = [network_entry(p.model_, 1, weight=float(fitted.weights_[i])) for p, i in zip(nets, keep)]
        notes = [f"randomised mixture of {len(nets)} network(s) (fairlearn's weights), decided per row by a seeded hash"]
    else:
        fitted = red.GridSearch(estimator, constraints=moment, grid_size=grid_size)
        fitted.fit(train_x, train_y01, sensitive_features=groups)
        nets = [fitted.predictors_[fitted.best_idx_]]
        entries = [network_entry(nets[0].model_, 1)]
        notes = [f"the best of {grid_size} networks trained with different Lagrange multipliers"]
    if any(not hasattr(p, "model_") for p in nets):  # fairlearn fits a constant when the reweighted labels are one class
        raise ValueError(f"{method}: a constant classifier was selected (the reweighted labels held one class); no network to deploy")
    model = PostProcessedNetwork(describe(feature_names, method, constraint, seed, entries), [p.model_ for p in nets])
    notes.append(f"network trained on all {len(train_y01)} training rows, {estimator.weighting} weighting")
    return Candidate(f"{method} ({constraint})", method, constraint, model, fits=budget.used - before, notes=notes)
