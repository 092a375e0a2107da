"""Accuracy of the predicted class within each group, over all classes.

The fairness stage measures binary outcomes (favourable class against the rest); for a
multiclass target that hides errors between the other classes, so accuracy per group is computed
here on the class indices themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.stats.groups import sensitive_views


def group_accuracy(y: np.ndarray, y_pred: np.ndarray, groups: pd.DataFrame, sensitive: list[str]) -> dict:
    """``{view: {group: {"count", "accuracy"}}}`` for each sensitive column and their intersection."""
    views = sensitive_views(groups, sensitive)
    correct = pd.Series(np.asarray(y) == np.asarray(y_pred), dtype=float)
    result = {}
    for name, view in views.items():
        stats = correct.groupby(view.to_numpy(), sort=True).agg(["size", "mean"])
        result[name] = {str(g): {"count": int(r["size"]), "accuracy": float(r["mean"])} for g, r in stats.iterrows()}
    return result
