"""Group metrics and disparities with fairlearn.

Labels are mapped to {0, 1} explicitly (1 = the configured favourable outcome) before fairlearn
sees them: fairlearn silently returns 0 disparities for string labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INTERSECTION_SEP = " & "


def sensitive_views(groups: pd.DataFrame, sensitive: list[str]) -> dict[str, pd.Series]:
    """Each sensitive column, plus their intersection when there are several."""
    views = {name: groups[name].astype(str) for name in sensitive}
    if len(sensitive) > 1:
        joined = groups[sensitive].astype(str).agg(INTERSECTION_SEP.join, axis=1)
        views[" x ".join(sensitive)] = joined
    return views


def group_metrics(y_true: np.ndarray, y_pred: np.ndarray, feature: pd.Series) -> dict:
    """fairlearn ``MetricFrame`` for one sensitive view: per-group table and disparities."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    frame = MetricFrame(
        metrics={
            "count": count,
            "accuracy": accuracy_score,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=feature.to_numpy(),
    )
    kwargs = dict(y_true=y_true, y_pred=y_pred, sensitive_features=feature.to_numpy())
    return {
        "groups": {str(g): row.to_dict() for g, row in frame.by_group.iterrows()},
        "demographic_parity_difference": demographic_parity_difference(**kwargs),
        "demographic_parity_ratio": demographic_parity_ratio(**kwargs),
        "equalized_odds_difference": equalized_odds_difference(**kwargs),
    }


def audit(y: np.ndarray, y_pred: np.ndarray, favourable_index: int, groups: pd.DataFrame, sensitive: list[str]) -> dict:
    """Every sensitive view's metrics, on labels mapped to favourable = 1."""
    y_true = (y == favourable_index).astype(int)
    decision = (y_pred == favourable_index).astype(int)
    return {name: group_metrics(y_true, decision, view) for name, view in sensitive_views(groups, sensitive).items()}


def selection_rate_rows(result: dict) -> pd.DataFrame:
    """Long table (feature, group, selection_rate) for the DVC bar plot."""
    rows = [
        {"feature": feature, "group": group, "selection_rate": values["selection_rate"]}
        for feature, block in result.items()
        for group, values in block["groups"].items()
    ]
    return pd.DataFrame(rows)
