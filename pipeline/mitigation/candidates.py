"""Bias mitigation with fairlearn, producing deployable candidates of the network itself.

- ``ThresholdOptimizer`` post-processes the network's own probabilities (fitted on the
  validation split): the scores pass through a tiny prefit estimator whose ``predict_proba``
  returns them, so fairlearn chooses group-specific thresholds for *our* model.
- ``ExponentiatedGradient`` and ``GridSearch`` refit the network itself, on every training row
  (:mod:`pipeline.mitigation.reductions`).
- A scikit-learn ``LogisticRegression`` on a sample of rows remains as a labelled comparison
  (``logistic_stand_in``): never registered, never the answer.

Every candidate becomes a :class:`pipeline.models.postprocessed.PostProcessedNetwork`, the
object that is saved, served and audited, so the audit measures exactly what is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
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
    targets: list[str] = field(default_factory=list)  # the policy criteria its constraint serves


def describe(feature_names, method: str, constraint: str | None, seed: int, networks: list[dict], **extra) -> dict:
    return {
        "feature_names": list(feature_names),
        "method": method,
        "constraint": constraint,
        "seed": int(seed),
        "networks": networks,
        "sensitive": extra.pop("sensitive", None),
        "thresholds": extra.pop("thresholds", None),
        **extra,
    }


def original(network, favourable_index: int, cutoff: float, feature_names, seed: int) -> Candidate:
    """The trained network as it is audited: favourable when its probability reaches ``cutoff``."""
    entry = network_entry(network, favourable_index, cutoff=cutoff)
    model = PostProcessedNetwork(describe(feature_names, "none", None, seed, [entry]), [network])
    return Candidate(ORIGINAL, "none", None, model)


def threshold_optimizer(
    constraint, network, favourable_index: int, val_x, val_y01, val_groups, feature_names, attribute, seed: int
) -> Candidate:
    """Group-specific thresholds on the network's scores, fitted on the validation split.

    ``constraint`` is a fairlearn ThresholdOptimizer constraint name or a single-constraint
    :class:`~pipeline.mitigation.targets.Target` (ThresholdOptimizer enforces exact equality:
    it takes no bound). ``attribute`` is one column or several; ``val_groups`` then holds their
    joint label (:func:`pipeline.stats.groups.joint_groups`).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    from pipeline.mitigation.targets import Target, by_name

    target = constraint if isinstance(constraint, Target) else by_name(constraint)
    constraint = target.constraint
    candidate = PostProcessedNetwork(
        describe(
            feature_names,
            "threshold_optimizer",
            constraint,
            seed,
            [network_entry(network, favourable_index)],
            targets=list(target.criteria),
        ),
        [network],
    )
    val_score = candidate.network_scores(val_x)[0]
    optimizer = ThresholdOptimizer(
        estimator=ScorePassthrough().fit(None),
        constraints=constraint,
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    optimizer.fit(val_score.reshape(-1, 1), np.asarray(val_y01), sensitive_features=np.asarray(val_groups).astype(str))
    candidate.description.update({"sensitive": attribute, "thresholds": threshold_rule(optimizer)})
    columns = [attribute] if isinstance(attribute, str) else list(attribute)
    return Candidate(
        f"threshold_optimizer ({target.label})",
        "threshold_optimizer",
        constraint,
        candidate,
        notes=[
            f"group-specific thresholds ({constraint}) fitted on the validation split; input needs the "
            f"sensitive column(s) {', '.join(columns)}"
        ],
        targets=list(target.criteria),
    )


def logistic_stand_in(train_x, train_y01, test_x, seed: int, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The former stand-in (unmitigated logistic regression on a row sample): test decisions and scores."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(train_y01), size=min(max_rows, len(train_y01)), replace=False))
    model = LogisticRegression(max_iter=200).fit(train_x[keep], train_y01[keep])
    score = model.predict_proba(test_x)[:, 1]
    return (score >= 0.5).astype(int), score


#: The one-group view whose figures are a candidate's overall accuracy, ROC AUC and selection rate.
OVERALL_VIEW, OVERALL_GROUP = "all rows", "all"


def overall_tables(tables):
    """A candidate's count tables pooled into one group holding every row (:func:`pipeline.stats.counts.pooled`)."""
    from pipeline.stats.counts import pooled

    return pooled(tables, next(iter(tables.views)), OVERALL_VIEW, OVERALL_GROUP)


def overall_from_tables(everyone, settings) -> dict:
    """Accuracy, ROC AUC and selection rate over all rows with their intervals, from the pooled
    tables (:func:`overall_tables`): the group audit run on one group holding every row, so they
    come from the same code as the group metrics."""
    from pipeline.audit.fairness import audit_tables

    row = audit_tables(everyone, [OVERALL_VIEW], settings)["features"][OVERALL_VIEW]["groups"][OVERALL_GROUP]
    return {
        k: {"value": row.get(k), "ci": (row.get("ci") or {}).get(k)} for k in ("accuracy", "roc_auc", "selection_rate")
    }


def overall_performance(y01, decisions, score, settings) -> dict:
    """:func:`overall_from_tables` of some rows (the bootstrap keyed by the row's position)."""
    from pipeline.audit.fairness import table_spec
    from pipeline.stats.counts import block_tables

    n = len(y01)
    views = {OVERALL_VIEW: np.full(n, OVERALL_GROUP)}
    tables = block_tables(y01, decisions, score, views, table_spec(settings), np.arange(n, dtype=np.int64))
    return overall_from_tables(tables, settings)


def best_passing(rows: dict[str, dict]) -> str | None:
    """The passing, deployable candidate with the highest accuracy (name order breaks exact ties)."""
    passing = [
        (-(r["accuracy"]["value"] or 0.0), name) for name, r in rows.items() if r.get("passed") and r.get("deployable")
    ]
    return min(passing)[1] if passing else None


def at_equality(verdict: dict, comparison: dict, features: dict, denominators: dict) -> dict | None:
    """The interval this comparison would have if the group's rate *equalled* the reference's, with the
    same test-split counts: when even that interval does not meet the bound, no model can pass the
    check on this test split (too few people to show it), whatever the mitigation."""
    from pipeline.audit import policy as pol
    from pipeline.tables.criteria import CRITERIA

    criterion = CRITERIA.get(verdict["metric"])
    if criterion is None or criterion.moment is None or verdict.get("reference") is None:
        return None
    kind, rates = criterion.kind, criterion.rates
    attr, group, ref = verdict["feature"], comparison["group"], verdict["reference"]
    if attr not in denominators or group not in denominators[attr] or ref not in denominators[attr]:
        return None  # the intersection view (information only)
    bound = pol.normalise_bound(kind, verdict["bound"])
    worst = None
    for rate in rates:
        p = features[attr]["groups"][ref].get(rate)
        n1, n2 = denominators[attr][group][rate], denominators[attr][ref][rate]
        if p is None or not n1 or not n2:
            return None
        k1, k2 = round(p * n1), round(p * n2)
        pair = pol.rate_interval(kind, k1, n1, k2, n2, verdict["ci_level"])
        low, high = float(pair[0]), float(pair[1])
        status = pol.judge(kind, 1.0 if kind == "ratio" else 0.0, low, high, bound)
        entry = {
            "rate": rate,
            "reference_rate": p,
            "n_group": n1,
            "n_reference": n2,
            "ci": [low, high],
            "status": status,
        }
        if worst is None or status != pol.PASS:
            worst = entry
    return worst


def obstacles(rows: dict[str, dict], denominators: dict) -> dict:
    """Why no candidate passes: each gating check with the candidates that pass it, and the closest
    candidate's checks that do not pass, each with the interval it would have at equality."""
    from pipeline.audit.policy import PASS

    deployable = {n: r for n, r in rows.items() if r.get("deployable")}
    if not deployable:
        return {"checks": {}, "closest": None, "not_passing": []}
    passing_by_check: dict[str, list[str]] = {}
    for name, row in deployable.items():
        for v in row["audit"]["verdicts"]:
            if v.get("gating", True):
                passing_by_check.setdefault(v["check"], [])
                if v["status"] == PASS:
                    passing_by_check[v["check"]].append(name)
    closest = min(
        deployable, key=lambda n: (len(deployable[n]["failed_checks"]), -(deployable[n]["accuracy"]["value"] or 0), n)
    )
    row, not_passing = deployable[closest], []
    for v in row["audit"]["verdicts"]:
        if not v.get("gating", True) or v["status"] == PASS:
            continue
        comparisons = [c for c in v.get("comparisons") or [] if c.get("status") != PASS]
        not_passing.append(
            {
                "check": v["check"],
                "status": v["status"],
                "value": v["value"],
                "ci": v["ci"],
                "bound": v["bound"],
                "group": v.get("group"),
                "reference": v.get("reference"),
                "reason": v.get("reason"),
                "ci_level": v.get("ci_level"),
                "comparisons": [
                    {
                        "group": c["group"],
                        "value": c.get("value"),
                        "ci": c.get("ci"),
                        "status": c.get("status"),
                        "at_equality": at_equality(v, c, row["audit"]["features"], denominators),
                    }
                    for c in comparisons
                ],
            }
        )
    blockers = [b for b in row["failed_checks"] if not any(b == v["check"] for v in row["audit"]["verdicts"])]
    return {"checks": passing_by_check, "closest": closest, "not_passing": not_passing, "blockers": blockers}
