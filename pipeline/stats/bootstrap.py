"""The one bootstrap every audit calls: seeded row resamples, statistics under them, percentile
intervals.

A resample is a vector of row counts (how often each row was drawn), not a list of indices:
drawing ``n`` row indices with replacement and counting them is exactly the classic bootstrap,
and as counts every statistic that is a weighted sum (means, confusion cells, calibration bins,
the Mann-Whitney AUC) comes out of one matrix product for a whole chunk of resamples.

Reproducibility: the draws come from ``numpy.random.default_rng(seed)`` read in one fixed order
(row after row of ``rng.integers(0, n, size=(chunk, n))``), so the same seed gives the same
resamples whatever the chunk size. A second, independent stream for the same run (one per group,
say) comes from :func:`stream_seed`, keyed by a name, so adding or removing another group never
changes a group's resamples.

Where the bootstrap is *not* used: the fairness audit's rates and their differences and ratios
have closed-form intervals (:mod:`pipeline.stats.intervals`); a percentile bootstrap of a small
group's rate under-covers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

#: Draws generated at once while resampling (int64): bounds the generator's temporaries to
#: about 2 x 8 bytes x this many, whatever the number of rows.
DRAWS_PER_CHUNK = 5_000_000
#: Resamples per chunk at most (a chunk is ``chunk x n_rows`` counts).
MAX_CHUNK = 100

Seed = int | np.random.SeedSequence


def stream_seed(seed: int, key: str) -> np.random.SeedSequence:
    """The seed of an independent stream named ``key`` under the run's ``seed``.

    The key is hashed (CRC-32, stable across processes, unlike ``hash``) into the seed
    sequence's entropy, so the stream depends only on ``seed`` and ``key``.
    """
    return np.random.SeedSequence([int(seed), zlib.crc32(str(key).encode("utf-8"))])


def resample_counts(n_rows: int, n_boot: int, seed: Seed, chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield ``(chunk, n_rows)`` matrices of counts: how often each row is drawn in each resample.

    Counts come in the smallest unsigned type that holds them (uint8 in practice: a row drawn
    256 times is vanishingly rare). The draws do not depend on ``chunk`` (the generator is read in
    the same order), so neither does any interval; they do depend on the rows' order and number,
    so the fairness audit, whose blocks may come in any order, uses row-keyed Poisson weights
    instead (:mod:`pipeline.stats.poisson`).
    """
    if n_rows < 0 or n_boot < 0:
        raise ValueError(f"resample_counts needs n_rows >= 0 and n_boot >= 0; got {n_rows} and {n_boot}")
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(MAX_CHUNK, DRAWS_PER_CHUNK // max(n_rows, 1)))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_rows, size=(size, n_rows)) if n_rows else np.zeros((size, 0), np.int64)
        draws += (np.arange(size) * n_rows)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_rows)
        del draws
        yield counts.reshape(size, n_rows).astype(np.min_scalar_type(int(counts.max(initial=0))))


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def bootstrap_means(values: np.ndarray, n_boot: int, seed: Seed) -> np.ndarray:
    """Column means of ``values`` (rows x columns) under each of ``n_boot`` resamples of its rows:
    an array ``(n_boot, columns)``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    if n == 0:
        return np.full((n_boot, values.shape[1]), np.nan)
    parts = [counts @ values / n for counts in resample_counts(n, n_boot, seed)]
    return np.concatenate(parts) if parts else np.zeros((0, values.shape[1]))


def weighted_auc(y_true: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of ``weights`` (resamples x rows), ties counted half (Mann-Whitney).

    A row weight is how often the row was drawn, so this is the AUC of the resample; NaN where a
    resample holds one class only. Rows are sorted by score once; positive and negative weights
    are summed per block of tied scores, so each resample costs two reductions and one
    cumulative sum.
    """
    y_true, score = np.asarray(y_true), np.asarray(score, dtype=np.float64)
    weights = np.atleast_2d(np.asarray(weights))
    if weights.dtype != np.float64:
        weights = weights.astype(np.float64)  # integers overflow and float32 stops counting at 2**24 in the sums below
    if len(score) == 0:
        return np.full(weights.shape[0], np.nan)
    order = np.argsort(score, kind="mergesort")
    s, y = score[order], y_true[order]
    w = weights[:, order]
    _, block_start = np.unique(s, return_index=True)
    pos = np.add.reduceat(w * (y == 1), block_start, axis=1)
    neg = np.add.reduceat(w * (y == 0), block_start, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    return _divide(wins, pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap_auc(y_true: np.ndarray, score: np.ndarray, n_boot: int, seed: Seed) -> np.ndarray:
    """ROC AUC under each of ``n_boot`` resamples of the rows (NaN for a one-class resample)."""
    parts = [weighted_auc(y_true, score, counts) for counts in resample_counts(len(score), n_boot, seed)]
    return np.concatenate(parts) if parts else np.zeros(0)


def percentile_interval(samples: np.ndarray, level: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval of bootstrap ``samples`` along ``axis``.

    Undefined resamples (NaN: a one-class resample's AUC, an empty group) are left out; where
    every resample is undefined the interval is NaN at both ends. Quantiles use numpy's default
    linear interpolation.
    """
    if not 0 < level < 1:
        raise ValueError(f"a percentile interval needs a level in (0, 1); got {level}")
    samples = np.asarray(samples, dtype=np.float64)
    alpha = (1 - level) / 2
    if samples.shape[axis] == 0:
        shape = samples.shape[:axis] + samples.shape[axis + 1 :]
        return np.full(shape, np.nan), np.full(shape, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": reported as NaN
        low, high = np.nanquantile(samples, [alpha, 1 - alpha], axis=axis)
    return low, high
