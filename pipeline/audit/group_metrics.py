"""Per-group classification metrics with vectorised bootstrap intervals.

fairlearn's ``MetricFrame(n_boot=...)`` recomputes every metric in Python for each resample
(benchmarks/FAIRNESS.md times both on the Adult test split). Here one resample is a vector of
row weights (how often each row was drawn), and every group's confusion counts, score sums and
calibration bins for all resamples come out of one matrix product. Resampling, the weighted AUC
and the calibration bins are the project's own (:mod:`pipeline.stats.bootstrap`,
:mod:`pipeline.stats.calibration`). The metric definitions are
fairlearn's (selection rate, TPR, FPR, ... on {0, 1} labels), except that a rate whose
denominator is empty is undefined (NaN) instead of fairlearn's 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.stats import bootstrap, calibration

RATES = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy")
METRICS = ("count", *RATES, "roc_auc", "ece")


@dataclass(frozen=True)
class Grouping:
    """Rows coded by group: ``codes[i]`` indexes ``names``."""

    names: list[str]
    codes: np.ndarray

    @classmethod
    def from_labels(cls, labels) -> Grouping:
        names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        return cls([str(n) for n in names], codes.astype(np.int64))


#: The project's one resampler (:mod:`pipeline.stats.bootstrap`), under the name callers know.
resample_weights = bootstrap.resample_counts


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def rates_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """fairlearn's rates from confusion counts (any shape); empty denominators give NaN."""
    n = tp + fp + fn + tn
    return {
        "count": n,
        "base_rate": _divide(tp + fn, n),
        "selection_rate": _divide(tp + fp, n),
        "tpr": _divide(tp, tp + fn),
        "fpr": _divide(fp, fp + tn),
        "fnr": _divide(fn, tp + fn),
        "precision": _divide(tp, tp + fp),
        "accuracy": _divide(tp + tn, n),
    }


def _sparse(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
    from scipy import sparse

    return sparse.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape)


def _cell_matrix(y_true, y_pred, codes, n_groups):
    """Sparse one-hot (rows x 4*groups) of each row's (group, confusion cell): TP, FP, FN, TN."""
    cell = np.where(y_true == 1, np.where(y_pred == 1, 0, 2), np.where(y_pred == 1, 1, 3))
    rows = np.arange(len(codes))
    return _sparse(rows, codes * 4 + cell, np.ones(len(codes)), (len(codes), 4 * n_groups))


def _calibration_matrix(y_true, score, codes, n_groups, bins):
    """Sparse (rows x 3*groups*bins): weight, label and score of each row in its (group, bin) slot."""
    score = calibration.check_scores(score)
    slot = codes * bins + calibration.bin_index(score, bins)
    width = n_groups * bins
    rows = np.arange(len(codes))
    return _sparse(
        np.concatenate([rows, rows, rows]),
        np.concatenate([slot, width + slot, 2 * width + slot]),
        np.concatenate([np.ones(len(codes)), y_true.astype(np.float64), score]),
        (len(codes), 3 * width),
    )


def _project(weights: np.ndarray, matrix) -> np.ndarray:
    """``weights @ matrix`` for a sparse matrix, in float64."""
    return np.asarray((matrix.T @ weights.T).T, dtype=np.float64)


def _ece(sums: np.ndarray, n_groups: int, bins: int) -> np.ndarray:
    """Expected calibration error per group from (..., 3*groups*bins) bin sums."""
    shape = sums.shape[:-1] + (3, n_groups, bins)
    weight, label, score = np.moveaxis(sums.reshape(shape), -3, 0)
    return calibration.ece_from_sums(weight, label, score)


def _auc_per_group(y_true, score, codes, n_groups, weights) -> np.ndarray:
    out = np.full((weights.shape[0], n_groups), np.nan)
    for g in range(n_groups):
        mask = codes == g
        if mask.any() and 0 < y_true[mask].sum() < mask.sum():
            out[:, g] = bootstrap.weighted_auc(y_true[mask], score[mask], weights[:, mask])
    return out


def group_table(
    y_true, y_pred, score, grouping: Grouping, weights: np.ndarray, bins: int = 10
) -> dict[str, np.ndarray]:
    """Every metric for every group under each weight vector: arrays of shape (resamples, groups)."""
    weights = np.asarray(weights, dtype=np.float32)  # resample counts arrive as small integers
    n_groups = len(grouping.names)
    cells = _project(weights, _cell_matrix(y_true, y_pred, grouping.codes, n_groups))
    cells = cells.reshape(weights.shape[0], n_groups, 4)
    table = rates_from_counts(cells[..., 0], cells[..., 1], cells[..., 2], cells[..., 3])
    if score is not None:
        calib = _project(weights, _calibration_matrix(y_true, score, grouping.codes, n_groups, bins))
        table["ece"] = _ece(calib, n_groups, bins)
        table["roc_auc"] = _auc_per_group(y_true, score, grouping.codes, n_groups, weights)
    return table
