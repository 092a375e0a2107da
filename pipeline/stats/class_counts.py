"""Mergeable tables for the evaluate stage: everything its metrics need, summed per block.

Per block: the confusion matrix over all classes (int64), the sum of the per-row log loss
(float64), the calibration bins of the favourable class's score (rows and favourable labels per
bin int64, sum of scores float64), per class a score histogram by truth (one class against the
rest, int64) for the ROC AUC, and per sensitive group the rows and correct predictions (int64).
:meth:`ClassTables.merge` adds two blocks' tables; the local engine builds one block from the
whole test split, the Ray engine many. Accuracy, balanced accuracy, per-class precision, recall
and F1, the confusion matrix, the reliability curve, the ECE and the accuracy per group are exact
functions of these (the same as scikit-learn computes them from the rows); the log loss is a
float sum (equal to rounding across partitionings); the ROC AUC from the histogram is within the
histogram's resolution of the exact one (:mod:`pipeline.stats.counts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.stats import calibration, counts
from pipeline.stats.counts import AUC_BINS

#: Probabilities are clipped to [this, 1] before the log loss, as the evaluate stage always did.
LOG_LOSS_CLIP = 1e-15


@dataclass
class ClassTables:
    """The evaluate stage's sums over some rows (see the module docstring)."""

    n_classes: int
    favourable: int
    bins: int
    confusion: np.ndarray  # int64 (classes, classes): [truth, predicted]
    loss_sum: float
    bin_rows: np.ndarray  # int64 (bins,)
    bin_labels: np.ndarray  # int64 (bins,)
    bin_scores: np.ndarray  # float64 (bins,)
    auc: np.ndarray  # int64 (classes, 2, AUC_BINS): class c's score, by truth != c / == c
    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # int64 (2,): rows, correct
    blocks: int = 1

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    def merge(self, other: ClassTables) -> ClassTables:
        """The tables of both sets of rows (a new object)."""
        shape = (self.n_classes, self.favourable, self.bins, list(self.groups))
        if (other.n_classes, other.favourable, other.bins, list(other.groups)) != shape:
            raise ValueError(f"evaluate tables of different settings cannot be merged: {shape} vs {other.n_classes}")
        groups = counts.merge_views(self.groups, other.groups)
        return ClassTables(
            self.n_classes,
            self.favourable,
            self.bins,
            self.confusion + other.confusion,
            self.loss_sum + other.loss_sum,
            self.bin_rows + other.bin_rows,
            self.bin_labels + other.bin_labels,
            self.bin_scores + other.bin_scores,
            self.auc + other.auc,
            groups,
            self.blocks + other.blocks,
        )


def row_losses(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row log loss as scikit-learn's ``log_loss`` computes it after the stage's clip to
    [1e-15, 1]: ``-log`` of the true class's probability, clipped again to [eps, 1 - eps]."""
    eps = np.finfo(np.float64).eps
    p = np.clip(np.clip(proba[np.arange(len(y)), y], LOG_LOSS_CLIP, 1), eps, 1 - eps)
    return -np.log(p)


def block_tables(y, y_pred, proba, favourable: int, bins: int, views: dict) -> ClassTables:
    """The tables of one block: class indices ``y`` and ``y_pred``, probabilities ``proba``
    (rows x classes), ``views`` mapping each sensitive view to every row's group label."""
    y, y_pred = np.asarray(y, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = proba.shape[1]
    confusion = np.bincount(y * k + y_pred, minlength=k * k).reshape(k, k)
    score = calibration.check_scores(proba[:, favourable])
    which = calibration.bin_index(score, bins)
    auc = np.stack(
        [
            np.bincount(
                (y == c) * AUC_BINS + calibration.bin_index(proba[:, c], AUC_BINS), minlength=2 * AUC_BINS
            ).reshape(2, AUC_BINS)
            for c in range(k)
        ]
    )
    return ClassTables(
        k,
        favourable,
        bins,
        confusion,
        float(row_losses(y, proba).sum()) if len(y) else 0.0,
        np.bincount(which, minlength=bins),
        np.bincount(which[y == favourable], minlength=bins),
        np.bincount(which, weights=score, minlength=bins),
        auc,
        group_counts(y, y_pred, views),
    )


def group_counts(y, y_pred, views: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per view and group: rows and correct predictions (int64 ``[rows, correct]``)."""
    correct = np.asarray(y) == np.asarray(y_pred)
    out = {}
    for name, labels in views.items():
        names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        rows = np.bincount(codes, minlength=len(names))
        right = np.bincount(codes[correct], minlength=len(names))
        out[name] = {str(g): np.array([rows[i], right[i]]) for i, g in enumerate(names)}
    return out


def merge_all(tables) -> ClassTables:
    """Merge an iterable of tables (at least one), in the order given."""
    return counts.merge_all(tables, "evaluate tables")
