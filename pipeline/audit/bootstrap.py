"""Vectorised bootstrap of group confusion counts, calibration bins and ROC AUC.

fairlearn's ``MetricFrame(n_boot=...)`` resamples the whole table and recomputes every metric
in Python once per resample (≈ 3 minutes for 1,000 resamples on Adult's test split). Every
metric we report is a function of a few weighted sums per group, so one resample matrix
(``n_boot`` × rows, the same whole-table resampling with replacement that fairlearn does) feeds
``np.bincount`` over (resample, group, cell) codes, and all resamples are computed at once.
Row 0 of every array returned here is the unresampled data, rows 1.. the resamples.
"""

from __future__ import annotations

import numpy as np

#: Confusion cells per group: index = 4 * y + 2 * pred + correct_all_classes.
N_CELLS = 8


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """How often each row is drawn in each resample, shape (1 + n_boot, n), float32.

    Row 0 is all ones (the original data), so point estimates and intervals share one code
    path. Indices come from raw 32-bit draws scaled by ``n`` (multiply-shift; bias below
    ``n / 2**32``), which is several times faster than ``Generator.integers``, and one
    ``bincount`` over offset indices turns them into counts without a Python loop.
    """
    rng = np.random.default_rng(seed)
    counts = np.ones((1 + n_boot, n), dtype=np.float32)
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        rows = min(n_boot, start + chunk) - start
        raw = rng.bit_generator.random_raw((rows * n + 1) // 2).view(np.uint32)[: rows * n]
        idx = (raw.astype(np.uint64) * np.uint64(n)) >> np.uint64(32)
        idx = idx.astype(np.int64).reshape(rows, n) + np.arange(rows, dtype=np.int64)[:, None] * n
        counts[1 + start : 1 + start + rows] = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n)
    return counts


def score_bins(score: np.ndarray, bins: int) -> np.ndarray:
    """Uniform calibration bin of each score, as ``performance.calibration_points`` bins them."""
    edges = np.linspace(0, 1, bins + 1)
    return np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)


def collapse(weights: np.ndarray, joint: np.ndarray, n_joint: int, cell: np.ndarray, score: np.ndarray | None, bins: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Weighted sums per (resample, joint group, cell, bin) in one sparse product.

    Rows with the same joint group (all sensitive columns together), confusion cell and score
    bin are interchangeable for every count-based metric and for ECE, so one
    ``weights @ onehot`` (cost rows x resamples, whatever the number of columns) gives counts
    and probability sums from which every view's groups are summed afterwards.
    Returns counts (B, J, N_CELLS, bins) and probability sums (B, J, bins) or None.
    """
    import scipy.sparse as sp

    n = len(joint)
    which = score_bins(score, bins) if score is not None else np.zeros(n, dtype=np.int64)
    key = (joint.astype(np.int64) * N_CELLS + cell) * bins + which
    size = n_joint * N_CELLS * bins
    cols, vals, width = [key], [np.ones(n)], size
    if score is not None:
        cols.append(size + joint.astype(np.int64) * bins + which)
        vals.append(score.astype(np.float64))
        width += n_joint * bins
    rows = np.tile(np.arange(n), len(cols))
    onehot = sp.csr_matrix((np.concatenate(vals), (rows, np.concatenate(cols))), shape=(n, width), dtype=np.float64)
    sums = np.asarray(onehot.T.tocsr() @ np.ascontiguousarray(weights.T, dtype=np.float64)).T
    counts = sums[:, :size].reshape(-1, n_joint, N_CELLS, bins)
    prob = sums[:, size:].reshape(-1, n_joint, bins) if score is not None else None
    return counts, prob


def cells(y: np.ndarray, pred: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Confusion cell of each row: 4 * y + 2 * pred + correct (across all classes)."""
    return 4 * y.astype(np.int64) + 2 * pred.astype(np.int64) + correct.astype(np.int64)


def calibration_error(counts: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """ECE per (resample, group) from per-bin counts (B, G, cells, bins) and probability sums.

    ECE = sum over bins of |positives - sum of p| / group size, i.e. the bin-size-weighted gap
    between observed and predicted rates.
    """
    total = counts.sum(axis=2)
    pos = counts[:, :, 4:, :].sum(axis=2)
    n = total.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(pos - prob).sum(axis=2) / n


def roc_auc(weights: np.ndarray, group: np.ndarray, n_groups: int, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC per (resample, group); NaN where a class is absent.

    For each positive, the weight of negatives scoring lower plus half of those tied is read
    from a cumulative sum over the group's negatives sorted by score, at positions found once
    by ``searchsorted`` (they do not change between resamples). Equals
    ``sklearn.metrics.roc_auc_score`` on the unresampled rows (ties count half).
    """
    out = np.full((weights.shape[0], n_groups), np.nan)
    for g in range(n_groups):
        in_g = group == g
        pos_rows, neg_rows = np.flatnonzero(in_g & (y == 1)), np.flatnonzero(in_g & (y == 0))
        if pos_rows.size == 0 or neg_rows.size == 0:
            continue
        neg_rows = neg_rows[np.argsort(score[neg_rows], kind="stable")]
        neg_scores = score[neg_rows]
        cum = np.zeros((weights.shape[0], neg_rows.size + 1), dtype=np.float64)
        np.cumsum(weights[:, neg_rows], axis=1, out=cum[:, 1:])
        left = np.searchsorted(neg_scores, score[pos_rows], side="left")
        right = np.searchsorted(neg_scores, score[pos_rows], side="right")
        below = 0.5 * (cum[:, left] + cum[:, right])
        w_pos = weights[:, pos_rows]
        num = np.einsum("ij,ij->i", w_pos, below)
        den = w_pos.sum(axis=1, dtype=np.float64) * cum[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, g] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def interval(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over resamples (axis 0), ignoring resamples where it is undefined.

    fairlearn uses ``np.quantile`` (linear) over its resamples; we do the same, NaN-aware.
    """
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    if samples.shape[0] == 0:
        nan = np.full(samples.shape[1:], np.nan)
        return nan, nan
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(samples, [lo_q, hi_q], axis=0)
    return lo, hi
