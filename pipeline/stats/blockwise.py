"""Column statistics computed per block and merged exactly: what the encoder needs from all rows.

Why: the local encoder fits scikit-learn on the whole training split in one process. Spread over
blocks, each block reports counts and moments, and the driver merges them; merging is associative,
so the result does not depend on how the rows were cut into blocks (value counts bitwise, moments to
floating-point rounding: the merge is Chan, Golub and LeVeque's pairwise update, the one
scikit-learn's incremental scaler uses).

Counts are int64 (float32 sums stop counting at 2**24).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Moments:
    """Per column: non-missing count, mean and sum of squared deviations (``var = m2 / n``)."""

    n: np.ndarray  # int64
    mean: np.ndarray  # float64
    m2: np.ndarray  # float64

    @property
    def var(self) -> np.ndarray:
        """Population variance (``ddof=0``), as :class:`sklearn.preprocessing.StandardScaler` uses."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.m2 / np.maximum(self.n, 1), np.nan)


def moments(values: np.ndarray) -> Moments:
    """Moments of each column of a 2-D float array, missing values (NaN) left out."""
    x = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(x)
    n = present.sum(axis=0).astype(np.int64)
    total = np.where(present, x, 0.0).sum(axis=0)
    mean = np.divide(total, n, out=np.zeros(x.shape[1]), where=n > 0)
    m2 = np.where(present, (x - mean) ** 2, 0.0).sum(axis=0)
    return Moments(n, mean, m2)


def merge_moments(a: Moments, b: Moments) -> Moments:
    """The moments of both blocks' rows together (exact up to rounding, in any order)."""
    n = a.n + b.n
    delta = b.mean - a.mean
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, b.n / np.maximum(n, 1), 0.0)
        mean = a.mean + delta * share
        m2 = a.m2 + b.m2 + delta**2 * a.n * share
    return Moments(n, mean, m2)


def value_counts(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, dict[str, int]]:
    """Column -> value (as a string) -> rows, for each of ``columns``."""
    out = {}
    for column in columns:
        counts = frame[column].astype(str).value_counts()
        out[column] = {str(k): int(v) for k, v in counts.items()}
    return out


def merge_counts(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Value counts of both blocks together, keys sorted (so any merge order gives equal dicts)."""
    out = {}
    for column in sorted(set(a) | set(b)):
        left, right = a.get(column, {}), b.get(column, {})
        out[column] = {k: int(left.get(k, 0)) + int(right.get(k, 0)) for k in sorted(set(left) | set(right))}
    return out


@dataclass(frozen=True)
class ColumnStats:
    """What one block (or the merge of several) knows about the encoder's columns."""

    numeric: tuple[str, ...]
    moments: Moments
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def summarise(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> ColumnStats:
    """One block's statistics: moments of ``numeric``, value counts of ``categorical``."""
    values = frame[numeric].to_numpy(dtype=np.float64) if numeric else np.empty((len(frame), 0))
    return ColumnStats(tuple(numeric), moments(values), value_counts(frame, categorical))


def merge(a: ColumnStats, b: ColumnStats) -> ColumnStats:
    if a.numeric != b.numeric:
        raise ValueError(f"cannot merge statistics of columns {a.numeric} with {b.numeric}")
    return ColumnStats(a.numeric, merge_moments(a.moments, b.moments), merge_counts(a.counts, b.counts))


def merge_all(parts: Iterable[ColumnStats]) -> ColumnStats:
    """Every block's statistics merged (left to right; the order changes only the last bits of a mean)."""
    merged = None
    for part in parts:
        merged = part if merged is None else merge(merged, part)
    if merged is None:
        raise ValueError("no blocks to merge")
    return merged
