"""A near-perfect network on a social outcome: leakage seen at the model.

Reoffending, default or admission are not decided by the facts known beforehand: honest tables
give ROC AUCs of 0.7-0.9 (Adult 0.9, German credit 0.8). A network at or above
``data.leakage_auc`` on its *validation* rows (never used to fit it) has most likely read
something recorded after the outcome, whatever the data checks found. It is named in
``evaluate.json`` (``near_perfect``) with the columns it leans on most: each original column's
encoded block is replaced by its validation mean, one at a time, and the drop in validation
ROC AUC ranks them (an ablation, as captum's ``FeatureAblation`` with a baseline, on the
network's own predictions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TOP_COLUMNS = 5


def _auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if positive.min() == positive.max():
        return None
    return float(roc_auc_score(positive, scores))


def check(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    favourable_index: int,
    feature_groups: dict[str, list[int]],
    threshold: float,
) -> dict:
    """``{"flagged", "validation_auc", "threshold", "top_columns": [{"column", "auc_drop"}], "reason"}``.

    ``predict`` maps an encoded matrix to class probabilities.
    """
    positive = (y == favourable_index).astype(int)
    base = _auc(positive, predict(X)[:, favourable_index])
    result = {"flagged": False, "validation_auc": base, "threshold": threshold, "top_columns": [], "reason": None}
    if base is None or base < threshold:
        return result
    means = X.mean(axis=0)
    drops = []
    for column, idx in feature_groups.items():
        ablated = X.copy()
        ablated[:, idx] = means[idx]
        drops.append({"column": column, "auc_drop": base - _auc(positive, predict(ablated)[:, favourable_index])})
    drops.sort(key=lambda d: (-d["auc_drop"], d["column"]))
    top = drops[:TOP_COLUMNS]
    names = ", ".join(f"'{d['column']}' (-{d['auc_drop']:.3f})" for d in top)
    result.update(
        flagged=True,
        top_columns=top,
        reason=(
            f"the network is near-perfect on its validation rows (ROC AUC {base:.3f} >= data.leakage_auc "
            f"{threshold}), which an honest social outcome does not allow; it leans most on {names}"
        ),
    )
    return result
