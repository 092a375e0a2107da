"""Rows coded by group, and the per-group ROC AUC under bootstrap resample weights.

The rates and their intervals are closed-form (:mod:`pipeline.audit.fairness` from the rates
table); the AUC has no closed form, so it alone is bootstrapped, all resamples at once
(:func:`pipeline.stats.bootstrap.weighted_auc`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.stats import bootstrap


@dataclass(frozen=True)
class Grouping:
    """Rows coded by group: ``codes[i]`` indexes ``names``."""

    names: list[str]
    codes: np.ndarray

    @classmethod
    def from_labels(cls, labels) -> Grouping:
        names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        return cls([str(n) for n in names], codes.astype(np.int64))


def _auc_per_group(y_true, score, codes, n_groups, weights) -> np.ndarray:
    """ROC AUC of each group under each weight vector: shape (resamples, groups); NaN for a group
    with one class only."""
    out = np.full((weights.shape[0], n_groups), np.nan)
    for g in range(n_groups):
        mask = codes == g
        if mask.any() and 0 < y_true[mask].sum() < mask.sum():
            out[:, g] = bootstrap.weighted_auc(y_true[mask], score[mask], weights[:, mask])
    return out
