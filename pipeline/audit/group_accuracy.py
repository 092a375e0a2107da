"""Accuracy of the predicted class within each group, over all classes.

The fairness stage measures binary outcomes (favourable class against the rest); for a
multiclass target that hides errors between the other classes, so accuracy per group is computed
here on the class indices themselves.
"""

from __future__ import annotations

from pipeline.stats.class_counts import group_counts
from pipeline.stats.groups import sensitive_views


def group_accuracy(y, y_pred, groups, sensitive: list[str]) -> dict:
    """``{view: {group: {"count", "accuracy"}}}`` for each sensitive column and their intersection."""
    views = {name: labels.to_numpy() for name, labels in sensitive_views(groups, sensitive).items()}
    return accuracy_from_counts(group_counts(y, y_pred, views))


def accuracy_from_counts(counts: dict) -> dict:
    """The accuracy per group from ``{view: {group: [rows, correct]}}`` (merged tables or one block)."""
    return {
        view: {g: {"count": int(v[0]), "accuracy": float(v[1] / v[0])} for g, v in sorted(groups.items())}
        for view, groups in counts.items()
    }
