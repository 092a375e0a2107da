"""Bias mitigation with fairlearn, producing deployable candidates of the network itself.

- ``ThresholdOptimizer`` post-processes the network's own probabilities (fitted on the
  validation split): the scores pass through a tiny prefit estimator whose ``predict_proba``
  returns them, so fairlearn chooses group-specific thresholds for *our* model.
- ``ExponentiatedGradient`` and ``GridSearch`` refit the network itself, on every training row
  (:mod:`pipeline.training.reductions`, kept with the training code because it trains).
- A scikit-learn ``LogisticRegression`` on a sample of rows remains as a labelled comparison
  (``logistic_stand_in``): never registered, never the answer.

Every candidate becomes a :class:`pipeline.models.postprocessed.PostProcessedNetwork`, the
object that is saved, served and audited, so the audit measures exactly what is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.models.postprocessed import PostProcessedNetwork, network_entry, threshold_rule

ORIGINAL = "network (unmitigated)"
STAND_IN = "logistic regression stand-in (comparison only)"


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


@dataclass
class Candidate:
    """One mitigated (or reference) model and what it cost."""

    name: str
    method: str
    constraint: str | None
    model: PostProcessedNetwork | None  # None only for the stand-in (not deployable)
    fits: int = 0
    notes: list[str] = field(default_factory=list)


def describe(feature_names, method: str, constraint: str | None, seed: int, networks: list[dict], **extra) -> dict:
    return {"feature_names": list(feature_names), "method": method, "constraint": constraint, "seed": int(seed),
            "networks": networks, "sensitive": extra.pop("sensitive", None), "thresholds": extra.pop("thresholds", None),
            **extra}  # fmt: skip


def original(network, favourable_index: int, cutoff: float, feature_names, seed: int) -> Candidate:
    """The trained network as it is audited: favourable when its probability reaches ``cutoff``."""
    entry = network_entry(network, favourable_index, cutoff=cutoff)
    model = PostProcessedNetwork(describe(feature_names, "none", None, seed, [entry]), [network])
    return Candidate(ORIGINAL, "none", None, model)


def threshold_optimizer(
    constraint: str, network, favourable_index: int, val_x, val_y01, val_groups, feature_names, attribute: str, seed: int
) -> Candidate:
    """Group-specific thresholds on the network's scores, fitted on the validation split."""
    from fairlearn.postprocessing import ThresholdOptimizer

    candidate = PostProcessedNetwork(
        describe(feature_names, "threshold_optimizer", constraint, seed, [network_entry(network, favourable_index)]),
        [network],
    )
    val_score = candidate.network_scores(val_x)[0]
    optimizer = ThresholdOptimizer(estimator=ScorePassthrough().fit(None), constraints=constraint,
                                   objective="accuracy_score", prefit=True, predict_method="predict_proba")  # fmt: skip
    optimizer.fit(val_score.reshape(-1, 1), np.asarray(val_y01), sensitive_features=np.asarray(val_groups).astype(str))
    candidate.description.update({"sensitive": attribute, "thresholds": threshold_rule(optimizer)})
    return Candidate(f"threshold_optimizer ({constraint})", "threshold_optimizer", constraint, candidate,
                     notes=["group-specific thresholds fitted on the validation split; input needs the sensitive column"])  # fmt: skip


def logistic_stand_in(train_x, train_y01, test_x, seed: int, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The former stand-in (unmitigated logistic regression on a row sample): test decisions and scores."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(train_y01), size=min(max_rows, len(train_y01)), replace=False))
    model = LogisticRegression(max_iter=200).fit(train_x[keep], train_y01[keep])
    score = model.predict_proba(test_x)[:, 1]
    return (score >= 0.5).astype(int), score


def overall_performance(y01, decisions, score, settings) -> dict:
    """Accuracy, ROC AUC and selection rate over all rows with their intervals: the group audit
    run on one group holding every row, so they come from the same code as the group metrics."""
    from pipeline.audit.fairness import audit_decisions

    everyone = pd.DataFrame({"all rows": ["all"] * len(y01)})
    row = audit_decisions(y01, decisions, score, everyone, ["all rows"], settings)["features"]["all rows"]["groups"]["all"]
    return {k: {"value": row.get(k), "ci": (row.get("ci") or {}).get(k)} for k in ("accuracy", "roc_auc", "selection_rate")}


def best_passing(rows: dict[str, dict]) -> str | None:
    """The passing, deployable candidate with the highest accuracy (name order breaks exact ties)."""
    passing = [(-(r["accuracy"]["value"] or 0.0), name) for name, r in rows.items() if r.get("passed") and r.get("deployable")]
    return min(passing)[1] if passing else None
