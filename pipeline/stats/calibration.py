"""Calibration bins and the expected calibration error (ECE): one binning for every audit.

The edge rule (the only one in the project): with ``B`` uniform bins the edges are
``k / B`` (``numpy.arange(B + 1) / B``, each the double nearest ``k / B``) and bin ``k`` holds
the scores ``s`` with ``k / B < s <= (k + 1) / B``; the first bin also holds 0. A score exactly
on an inner edge belongs to the bin *below* it (0.3 with ten bins is in (0.2, 0.3]). This is
Guo et al. (2017)'s ``I_m = ((m - 1) / M, m / M]`` and scikit-learn's
``calibration_curve(strategy="uniform")`` rule; scikit-learn takes its edges from
``numpy.linspace``, which can sit one unit in the last place off ``k / B``, so the two can differ
only for a score within one ulp of an edge.

ECE is the bin-size-weighted mean of ``|fraction positive - mean score|`` over the non-empty
bins, i.e. ``sum_b |sum of labels in b - sum of scores in b| / N``. The evaluate stage's ECE and
reliability curve and the fairness audit's ECE per group all come from :func:`bin_index` and
:func:`ece_from_sums`, so one report cannot hold two ECEs of the same scores.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import BadInputError

#: Scores this far outside [0, 1] are rounding noise and clipped; farther out they are refused.
SCORE_TOLERANCE = 1e-6


def bin_edges(bins: int) -> np.ndarray:
    """The ``bins + 1`` uniform edges ``k / bins`` from 0 to 1."""
    if int(bins) < 1:
        raise BadInputError(f"calibration bins must be at least 1; got {bins}")
    return np.arange(int(bins) + 1) / int(bins)


def check_scores(score) -> np.ndarray:
    """Scores as float64 in [0, 1]; a NaN or a score outside [0, 1] is refused by name."""
    score = np.asarray(score, dtype=np.float64)
    if np.isnan(score).any():
        raise BadInputError(f"calibration needs probabilities; {int(np.isnan(score).sum())} score(s) are NaN")
    outside = (score < -SCORE_TOLERANCE) | (score > 1 + SCORE_TOLERANCE)
    if outside.any():
        raise BadInputError(
            f"calibration needs probabilities in [0, 1]; {int(outside.sum())} score(s) fall outside "
            f"(first: {score[outside][0]!r})"
        )
    return np.clip(score, 0.0, 1.0)


def bin_index(score, bins: int) -> np.ndarray:
    """The bin of each score under the module's edge rule (right-closed bins, 0 in the first)."""
    edges = bin_edges(bins)
    return np.searchsorted(edges[1:-1], check_scores(score), side="left").astype(np.int64)


def bin_sums(y01, score, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: number of rows, sum of {0, 1} labels and sum of scores (arrays of length ``bins``)."""
    score = check_scores(score)
    which = bin_index(score, bins)
    y = np.asarray(y01, dtype=np.float64)
    return (
        np.bincount(which, minlength=bins).astype(np.float64),
        np.bincount(which, weights=y, minlength=bins),
        np.bincount(which, weights=score, minlength=bins),
    )


def ece_from_sums(count: np.ndarray, label_sum: np.ndarray, score_sum: np.ndarray) -> np.ndarray:
    """ECE from per-bin sums along the last axis (any leading shape: resamples, groups);
    NaN where there are no rows."""
    total = np.asarray(count, dtype=np.float64).sum(axis=-1)
    gap = np.abs(np.asarray(label_sum, dtype=np.float64) - np.asarray(score_sum, dtype=np.float64)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, gap / np.where(total > 0, total, 1), np.nan)


def expected_calibration_error(y01, score, bins: int) -> float:
    """ECE of scores against {0, 1} labels with ``bins`` uniform bins (NaN for no rows)."""
    return float(ece_from_sums(*bin_sums(y01, score, bins)))


def ece_by_group(y01, score, codes, n_groups: int, bins: int) -> np.ndarray:
    """ECE within each group (``codes[i]`` is row i's group): an array of length ``n_groups``."""
    score = check_scores(score)
    slot = np.asarray(codes, dtype=np.int64) * bins + bin_index(score, bins)
    size = n_groups * bins
    y = np.asarray(y01, dtype=np.float64)
    sums = [np.bincount(slot, weights=w, minlength=size).reshape(n_groups, bins) for w in (None, y, score)]
    return ece_from_sums(*sums)


def reliability(y01, score, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability curve over the non-empty bins: (fraction positive, mean score, rows per bin),
    in bin order (the first two are what ``calibration_curve`` returns)."""
    count, label_sum, score_sum = bin_sums(y01, score, bins)
    nonzero = count > 0
    return label_sum[nonzero] / count[nonzero], score_sum[nonzero] / count[nonzero], count[nonzero].astype(np.int64)
