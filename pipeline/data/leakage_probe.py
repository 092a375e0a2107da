"""Target leakage spread over several columns: a model-based probe and the columns carrying it.

The single-column check (:mod:`pipeline.data.leakage`) misses a leak no column carries alone: on
a criminal-risk file, a later offense date (AUC 0.975), a later case number and charge, ``end``
(0.926) and ``event`` (0.880) each stayed under the threshold and together gave the network
accuracy 0.981. So the inputs are also scored *together*: scikit-learn's
``HistGradientBoostingClassifier`` (a well-kept model that handles mixed types and interactions
without tuning) predicts "favourable vs the rest" out of fold on the training rows. At or above
``data.leakage_auc`` the inputs predict a social outcome better than any honest table does, and
the smallest set of columns that carries it is searched:

1. rank the columns by permutation importance (ROC AUC drop on a held-out fold);
2. add them in that order until the out-of-fold AUC of the set reaches the threshold;
3. drop, least important first, every column the set still reaches it without (greedy
   elimination), so each named column is needed;
4. score the remaining columns again: while they still reach it, another set is searched.

Columns the single-column check already suspects are left out (they are named already). Each set
is reported in the single-column suspects' shape (``column``, ``reason``, ``score``), so the
console, ``data.json``, the report's headline, the card and the alias gate treat it alike.

False alarms: honest social-outcome tables sit far below the default threshold 0.98 (Adult
0.93, German 0.79; figures in ``benchmarks/LEAKAGE.md``), and a set is named only when the
held-out AUC reaches it; a probe below the threshold names nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Out-of-fold splits of the training rows.
FOLDS = 3
#: Training rows the probe reads at most (a seeded, stratified sample above it).
MAX_ROWS = 20_000
#: Levels up to which a categorical column is a native category of the model (its bin limit is 255).
MAX_NATIVE_LEVELS = 250
#: OpenMP threads of each boosting fit. One: a fit on at most MAX_ROWS rows is too small to share,
#: and on a busy 2-core machine two threads (scikit-learn's default) were 20-50 times slower than
#: one, their spin-waiting fighting other processes (benchmarks/LEAKAGE.md).
THREADS = 1
#: Largest set searched per round, and rounds (disjoint sets) at most.
MAX_SET = 8
MAX_ROUNDS = 3


def _matrix(features: pd.DataFrame, numeric: set[str], columns: list[str]) -> tuple[pd.DataFrame, list[bool]]:
    """Numbers as numbers; categories as codes (native categories when few, else their sorted rank,
    so an increasing case number keeps its order)."""
    out, categorical = {}, []
    for column in columns:
        values = features[column]
        if column in numeric:
            out[column] = values.to_numpy(dtype="float64")
            categorical.append(False)
            continue
        text = values.astype(str)
        levels = np.sort(text.unique())
        codes = np.searchsorted(levels, text.to_numpy()).astype("float64")
        out[column] = codes
        categorical.append(len(levels) <= MAX_NATIVE_LEVELS)
    return pd.DataFrame(out), categorical


def _model(categorical: list[bool], seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Early stopping on a held-out tenth (scikit-learn turns it on by itself only above 10,000 rows):
    # small files stop after tens of trees instead of 100, and the score is of a model not overfitted.
    return HistGradientBoostingClassifier(
        categorical_features=np.asarray(categorical, dtype=bool) if any(categorical) else None,
        early_stopping=True,
        random_state=seed,
    )


def out_of_fold_auc(X: pd.DataFrame, categorical: list[bool], y: np.ndarray, seed: int) -> float:
    """ROC AUC of the probe's out-of-fold scores (as ``max(auc, 1 - auc)``, as the single check)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if X.shape[1] == 0:
        return 0.5
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    scores = cross_val_predict(_model(categorical, seed), X, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    return max(auc, 1.0 - auc)


def ranked(X: pd.DataFrame, categorical: list[bool], y: np.ndarray, seed: int) -> list[str]:
    """Columns by permutation importance (AUC drop on a held-out third), most important first."""
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    fit_rows, held_rows = train_test_split(np.arange(len(y)), test_size=1 / FOLDS, stratify=y, random_state=seed)
    model = _model(categorical, seed).fit(X.iloc[fit_rows], y[fit_rows])
    result = permutation_importance(
        model, X.iloc[held_rows], y[held_rows], scoring="roc_auc", n_repeats=3, random_state=seed
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    return [X.columns[i] for i in order]


def carrying_set(X, categorical, y, threshold: float, seed: int) -> tuple[list[str], float, bool]:
    """The smallest set found (forward in importance order, then greedy elimination) reaching the
    threshold, with its AUC and True; when no set of at most :data:`MAX_SET` columns does, those
    most important columns with their AUC and False (a leak is never left unnamed)."""
    kinds = dict(zip(X.columns, categorical))

    def auc(cols: list[str]) -> float:
        return out_of_fold_auc(X[cols], [kinds[c] for c in cols], y, seed)

    chosen, reached = [], None
    for column in ranked(X, categorical, y, seed)[:MAX_SET]:
        chosen.append(column)
        score = auc(chosen)
        if score >= threshold:
            reached = score
            break
    if reached is None:
        return chosen, score, False
    for column in reversed(list(chosen)):
        if len(chosen) == 1:
            break
        rest = [c for c in chosen if c != column]
        score = auc(rest)
        if score >= threshold:
            chosen, reached = rest, score
    return chosen, reached, True


def _sample(y: np.ndarray, seed: int) -> np.ndarray:
    if len(y) <= MAX_ROWS:
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(np.arange(len(y)), train_size=MAX_ROWS, stratify=y, random_state=seed)
    return np.sort(kept)


def probe(
    features: pd.DataFrame,
    positive: np.ndarray,
    *,
    numeric: list[str],
    columns: list[str],
    threshold: float,
    seed: int = 0,
) -> dict:
    """``{"auc", "rows", "columns", "sets": [{"columns", "auc", "auc_without"}], "suspected": [...]}``.

    ``features`` holds the training rows only and ``positive`` their favourable indicator.
    """
    if not columns or positive.min() == positive.max():
        return {"auc": None, "rows": int(len(positive)), "columns": list(columns), "sets": [], "suspected": []}
    from threadpoolctl import threadpool_limits

    rows = _sample(positive, seed)
    X, categorical = _matrix(features.iloc[rows].reset_index(drop=True), set(numeric), columns)
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        return _search(X, categorical, positive[rows], columns, threshold, seed)


def _search(X: pd.DataFrame, categorical: list[bool], y: np.ndarray, columns: list[str], threshold: float, seed: int):
    """Overall AUC, then disjoint carrying sets while what remains still reaches the threshold."""
    overall = out_of_fold_auc(X, categorical, y, seed)
    sets, remaining, score = [], list(columns), overall
    kinds = dict(zip(columns, categorical))
    while score >= threshold and remaining and len(sets) < MAX_ROUNDS:
        chosen, reached, complete = carrying_set(X[remaining], [kinds[c] for c in remaining], y, threshold, seed)
        remaining = [c for c in remaining if c not in chosen]
        score = out_of_fold_auc(X[remaining], [kinds[c] for c in remaining], y, seed)
        sets.append({"columns": chosen, "auc": reached, "auc_without": score, "complete": complete})
        if not complete:
            break
    return {
        "auc": overall,
        "rows": int(len(y)),
        "columns": list(columns),
        "sets": sets,
        "suspected": [suspect for found in sets for suspect in _suspects(found)],
    }


def _suspects(found: dict) -> list[dict]:
    """One suspect per column of a set, worded with its companions."""
    out = []
    for column in found["columns"]:
        others = [c for c in found["columns"] if c != column]
        together = f"together with {', '.join(repr(c) for c in others)}" if others else "alone, among the inputs"
        if not found.get("complete", True):
            together = (
                f"as one of the {len(found['columns'])} columns the probe relies on most; no set of at most "
                f"{MAX_SET} columns reaches the threshold, the leak is spread wider"
            )
        out.append(
            {
                "column": column,
                "reason": (
                    f"carries the outcome {together} (gradient-boosting probe out of fold on the training rows: "
                    f"ROC AUC {found['auc']:.3f} with the set, {found['auc_without']:.3f} without it)"
                ),
                "score": float(found["auc"]),
                "set": list(found["columns"]),
            }
        )
    return out
