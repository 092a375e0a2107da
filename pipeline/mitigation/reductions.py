"""fairlearn's reductions (``ExponentiatedGradient``, ``GridSearch``) refitting the network itself.

Each oracle call of the reduction is one Lightning fit of the network on every training row with
fairlearn's per-row weights (:class:`pipeline.mitigation.estimator.NetworkClassifier`); the fits are
counted against a shared :class:`pipeline.mitigation.estimator.FitBudget`. The result is a
:class:`pipeline.mitigation.candidates.Candidate` holding the deployable
:class:`pipeline.models.postprocessed.PostProcessedNetwork`.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import MitigationSettings
from pipeline.mitigation import targets as targets_mod
from pipeline.mitigation.candidates import Candidate, describe
from pipeline.mitigation.estimator import NetworkClassifier
from pipeline.mitigation.targets import Target
from pipeline.models.postprocessed import PostProcessedNetwork, network_entry


def reductions(
    method: str,
    constraint: str | Target,
    settings,
    train_x,
    train_y01,
    train_groups,
    feature_names,
    *,
    mitigation: MitigationSettings,
    seed: int,
    budget,
    weighting: str,
    workdir=None,
) -> Candidate:
    """``ExponentiatedGradient`` or ``GridSearch`` refitting the network on all training rows.

    ``settings`` (the ``train`` section) trains each network; ``mitigation`` (the ``mitigation``
    section) gives the reductions' ``max_iter``, ``eps`` and ``grid_size``.

    ``constraint`` is a :class:`~pipeline.mitigation.targets.Target` (derived from the audit
    policy, possibly several fairlearn moments at once) or a constraint name (fairlearn's default bound).
    ``train_groups`` holds one label per row (the joint group when several attributes are mitigated).
    """
    from fairlearn import reductions as red

    from pipeline.mitigation import moments

    target = constraint if isinstance(constraint, Target) else targets_mod.by_name(constraint)
    estimator = NetworkClassifier(settings, seed=seed, weighting=weighting, budget=budget, workdir=workdir)
    moment = moments.build(target)
    before = budget.used
    groups = np.asarray(train_groups).astype(str)
    if method == "exponentiated_gradient":
        fitted = red.ExponentiatedGradient(
            estimator, constraints=moment, eps=mitigation.eps, max_iter=mitigation.max_iter
        )
        fitted.fit(train_x, train_y01, sensitive_features=groups)
        keep = [i for i, w in fitted.weights_.items() if w > 0]
        nets = [fitted.predictors_[i] for i in keep]
        _refuse_constant(method, nets, [float(fitted.weights_[i]) for i in keep])
        entries = [network_entry(p.model_, 1, weight=float(fitted.weights_[i])) for p, i in zip(nets, keep)]
        notes = [
            f"randomised mixture of {len(nets)} network(s) (fairlearn's weights), decided per row by a seeded hash"
        ]
    else:
        fitted = red.GridSearch(estimator, constraints=moment, grid_size=mitigation.grid_size)
        fitted.fit(train_x, train_y01, sensitive_features=groups)
        nets = [fitted.predictors_[fitted.best_idx_]]
        entries = [network_entry(nets[0].model_, 1)]
        notes = [f"the best of {mitigation.grid_size} networks trained with different Lagrange multipliers"]
    _refuse_constant(method, nets, [1.0])
    model = PostProcessedNetwork(
        describe(
            feature_names,
            method,
            target.constraint,
            seed,
            entries,
            targets=list(target.criteria),
            moments=[{"moment": p.moment, **p.bound} for p in target.parts],
        ),
        [p.model_ for p in nets],
    )
    notes.append(f"network trained on all {len(train_y01)} training rows, {estimator.weighting} weighting")
    notes.append("fairlearn constraint(s): " + ", ".join(f"{p.moment}({_kwargs(p.bound)})" for p in target.parts))
    return Candidate(
        f"{method} ({target.label})",
        method,
        target.constraint,
        model,
        fits=budget.used - before,
        notes=notes,
        targets=list(target.criteria),
    )


def _kwargs(bound: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in bound.items()) or "fairlearn's default bound"


def _refuse_constant(method: str, predictors: list, weights: list[float]) -> None:
    """fairlearn fits a constant classifier when the reweighted labels hold one class; a mixture holding
    one is not a network to deploy (it would need a decision rule this project does not serve)."""
    constant = [w for p, w in zip(predictors, weights) if not hasattr(p, "model_")]
    if constant:
        raise ValueError(
            f"{method}: fairlearn's solution gives weight {sum(constant):.3f} to a constant classifier "
            "(the reweighted labels held one class); no network to deploy"
        )
