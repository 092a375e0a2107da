"""Target leakage: input columns that give the outcome away before any model is trained.

A column recorded after the decision (a later event, a copy of the label, the label's
complement such as ``PF_0`` beside target ``PF_1``) makes a model look nearly perfect and every
fairness verdict on it meaningless. Each candidate input is scored on the *training rows* only,
alone against the target:

* ``deterministic``: the column is a function of the target (each class maps to one value), which
  is what a copy, a recoding or a complement of the label looks like;
* ``auc``: the single-feature ROC AUC for "favourable vs the rest" (as ``max(auc, 1 - auc)``);
  numeric columns are scored by their values, categorical ones by their level's favourable rate
  learnt on the other folds (cross-fitted, so an identifier column cannot score by memorising rows);
* ``nmi``: normalised mutual information with the target (the project's measure,
  :mod:`pipeline.stats.association`).

A column at or above a threshold is *suspected*; what happens then is ``data.leakage``: ``warn``
keeps it as an input, ``exclude`` removes it, ``fail`` stops ``prepare`` with exit 2. Whatever
the setting, the suspicion is written to ``data.json`` and blocks the ``audited`` alias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.data.audit import codes
from pipeline.errors import BadInputError
from pipeline.stats.association import as_categories, determines, normalized_mutual_info

#: Single-feature ROC AUC at or above which a column is suspected (``data.leakage_auc``).
DEFAULT_AUC = 0.98
#: Normalised mutual information at or above which a column is suspected (``data.leakage_nmi``).
DEFAULT_NMI = 0.8
FOLDS = 5


def _cross_fitted_rates(levels: pd.Series, positive: np.ndarray, seed: int) -> np.ndarray:
    """Each row's level's favourable rate, learnt on the other folds (unseen level: overall rate)."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(levels)) % FOLDS
    scores = np.empty(len(levels), dtype="float64")
    level = pd.factorize(levels)[0].astype("float64")  # codes, not a Python string per row
    level[level < 0] = np.nan  # a missing level stays out of the rates, as before
    frame = pd.DataFrame({"level": level, "y": positive})
    for k in range(FOLDS):
        held = fold == k
        fitted = frame[~held]
        rates = fitted.groupby("level")["y"].mean()
        scores[held] = frame.loc[held, "level"].map(rates).fillna(fitted["y"].mean()).to_numpy()
    return scores


def single_feature_auc(values: pd.Series, positive: np.ndarray, numeric: bool, seed: int) -> float:
    """How well the column alone ranks favourable above unfavourable rows (0.5 = not at all)."""
    from sklearn.metrics import roc_auc_score

    if positive.min() == positive.max():
        return 0.5
    if numeric:
        scores = values.to_numpy(dtype="float64")
    else:
        scores = _cross_fitted_rates(values.astype(str), positive, seed)
    auc = float(roc_auc_score(positive, scores))
    return max(auc, 1.0 - auc)


def _score(values: pd.Series, target: pd.Series, positive: np.ndarray, numeric: bool, seed: int) -> list[dict]:
    reasons = []
    categories = as_categories(values, numeric)
    cats = codes(categories)  # the measures factorise alike, so codes give the same values
    if categories.nunique() > 1 and determines(codes(target), cats):
        reasons.append(
            {"reason": "a deterministic function of the target (a copy, recoding or complement)", "score": 1.0}
        )
    auc = single_feature_auc(values, positive, numeric, seed)
    nmi = normalized_mutual_info(cats, codes(target))
    reasons.append({"reason": "single-feature ROC AUC", "score": auc, "_kind": "auc"})
    reasons.append({"reason": "normalised mutual information with the target", "score": nmi, "_kind": "nmi"})
    return reasons


def check(
    features: pd.DataFrame,
    target: pd.Series,
    favourable: str,
    *,
    numeric: list[str],
    columns: list[str],
    train_rows: np.ndarray,
    action: str,
    auc_threshold: float = DEFAULT_AUC,
    nmi_threshold: float = DEFAULT_NMI,
    seed: int = 0,
    probe: bool = False,
    known: list[dict] = (),
) -> dict:
    """``{"action", "thresholds", "suspected": [{"column", "reason", "score"}], "scores", "probe"}``.

    ``known`` suspects (found by other rules) join the list first. With ``probe`` the columns no
    single score suspects are also scored together
    (:mod:`pipeline.data.leakage_probe`); the sets it names join ``suspected``.
    Raises :class:`BadInputError` (exit 2) naming every suspect when ``action`` is ``fail``.
    """
    train_target = target.iloc[train_rows].astype(str).reset_index(drop=True)
    positive = (train_target == favourable).to_numpy(dtype=int)
    numeric_set = set(numeric)
    suspected, scores = [], {}
    for column in columns:
        values = features[column].iloc[train_rows].reset_index(drop=True)
        found = _score(values, train_target, positive, column in numeric_set, seed)
        scores[column] = {r["_kind"]: r["score"] for r in found if "_kind" in r}
        limits = {"auc": auc_threshold, "nmi": nmi_threshold}
        hits = [r for r in found if "_kind" not in r or r["score"] >= limits[r["_kind"]]]
        if hits:
            top = hits[0]
            suspected.append({"column": column, "reason": top["reason"], "score": float(top["score"])})
    suspected.sort(key=lambda s: (-s["score"], s["column"]))
    named = {s["column"] for s in suspected}
    suspected += [k for k in known if k["column"] not in named]  # found by other rules (dates after the decision)
    probed = None
    if probe:
        from pipeline.data import leakage_probe

        alone = {s["column"] for s in suspected}
        probed = leakage_probe.probe(
            features.iloc[train_rows].reset_index(drop=True),
            positive,
            numeric=[c for c in numeric if c not in alone],
            columns=[c for c in columns if c not in alone],
            threshold=auc_threshold,
            seed=seed,
        )
        suspected += probed["suspected"]
    result = {
        "action": action,
        "thresholds": {"auc": auc_threshold, "nmi": nmi_threshold},
        "suspected": suspected,
        "excluded": [s["column"] for s in suspected] if action == "exclude" else [],
        "scores": scores,
        "probe": probed and {k: v for k, v in probed.items() if k != "suspected"},
    }
    if suspected and action == "fail":
        raise BadInputError(
            "suspected target leakage (data.leakage is 'fail'): "
            + "; ".join(describe(s) for s in suspected)
            + ". Remove the column(s) with data.csv.drop, or set data.leakage to 'exclude' or 'warn'"
        )
    return result


def describe(suspect: dict) -> str:
    """One line for the console, the report and the card."""
    return f"'{suspect['column']}' ({suspect['reason']}, {suspect['score']:.3f})"
