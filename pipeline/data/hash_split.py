"""Split and sample rows by a hash of their ``row_id``: the same rows whatever the blocks.

Why: the local split (:mod:`pipeline.data.split`) is scikit-learn's seeded, stratified shuffle of the
whole table; it needs every row in one process, and a different number of rows or blocks moves every
row. Hashing each row's own id with the seed decides its split from the row alone, so any block size,
any order and any number of workers give the same rows, and a rerun gives the same rows bitwise.

The cost, said where it is used: the shares are met in expectation, not exactly (a binomial spread of
``sqrt(n * p * (1 - p))`` rows), and the split is not stratified by class; at the sizes the ray
engine is for the spread is a small fraction of a percent.
"""

from __future__ import annotations

import numpy as np

#: Distinct streams of one seed: the split and the audit sample must not pick the same rows.
SPLIT_SALT = 1
SAMPLE_SALT = 2
#: Rows the audit sample keeps of every stratum (a class within a joint sensitive group) at least, all of
#: a smaller one's: a group of 0.01% of 10M rows would bring 10 rows to a sample of 100,000 by hash
#: alone, too few to fit a mitigation candidate's threshold for it or to audit it. With many strata
#: the floor shrinks so that the floors together stay within the sample's size (:func:`stratum_floor`).
STRATUM_FLOOR = 500

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014): every input bit moves every output bit.

    uint64 arithmetic wraps modulo 2**64 by design here.
    """
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform(row_id: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A number in [0, 1) per row, a function of (row_id, seed, salt) only (53 bits, float64)."""
    ids = np.asarray(row_id)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"row_id must be integers, got dtype {ids.dtype}")
    key = _mix64(np.array([seed * 4 + salt], dtype=np.uint64))  # seed <= 2**32 - 1: no wrap before mixing
    with np.errstate(over="ignore"):
        h = _mix64(_mix64(ids.astype(np.uint64)) ^ key)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign(
    row_id: np.ndarray, seed: int, *, val_size: float, test_size: float, official: np.ndarray | None = None
) -> np.ndarray:
    """``"train"``/``"val"``/``"test"`` per row: ``test_size`` of all rows are test, ``val_size`` of the
    rest are validation (the shares ``data.val_size`` and ``data.test_size`` mean in the local split).

    ``official``: the publisher's ``train``/``test`` per row (Adult); it wins, as in the local split, and
    ``val_size`` of its training rows become validation rows.
    """
    u = uniform(row_id, seed, SPLIT_SALT)
    labels = np.full(len(u), "train", dtype=object)
    if official is not None:
        labels[np.asarray(official) == "test"] = "test"
        labels[(labels == "train") & (u < val_size)] = "val"
        return labels
    labels[u < test_size + (1.0 - test_size) * val_size] = "val"
    labels[u < test_size] = "test"
    return labels


def sample(row_id: np.ndarray, seed: int, n: int) -> np.ndarray:
    """Positions of the ``n`` rows with the smallest sample hash (all rows when there are fewer), in
    ``row_id`` order: a bounded sample that any partitioning of the rows picks alike (ties broken
    by ``row_id``)."""
    ids = np.asarray(row_id)
    if n >= len(ids):
        return np.arange(len(ids))
    order = np.lexsort((ids, uniform(ids, seed, SAMPLE_SALT)))
    return np.sort(order[:n])


def stratum_floor(n: int, strata: int, floor: int = STRATUM_FLOOR) -> int:
    """Rows per stratum the sample keeps at least: ``floor``, less when ``strata`` floors would exceed ``n``."""
    return max(1, min(floor, n // max(1, strata)))


def stratum_ranks(strata: np.ndarray, hashes: np.ndarray, row_id: np.ndarray) -> np.ndarray:
    """Each row's rank within its stratum by (hash, row_id): 0 for the stratum's smallest hash."""
    order = np.lexsort((row_id, hashes, strata))
    sorted_strata = strata[order]
    starts = np.r_[True, sorted_strata[1:] != sorted_strata[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - first
    return ranks


def stratified_sample(
    row_id: np.ndarray, strata: np.ndarray, seed: int, n: int, floor: int = STRATUM_FLOOR
) -> np.ndarray:
    """Positions of a hash-stratified sample, in ``row_id`` order: the ``n`` rows :func:`sample` picks,
    and with them each stratum's rows of smallest sample hash up to :func:`stratum_floor` (every row of
    a smaller stratum). ``strata``: one label per row. Any partitioning of the rows picks alike: both
    parts are smallest-hash choices, which merge over blocks."""
    ids = np.asarray(row_id)
    labels = np.asarray(strata).astype(str)
    if n >= len(ids):
        return np.arange(len(ids))
    keep = np.zeros(len(ids), dtype=bool)
    keep[sample(ids, seed, n)] = True
    _, codes = np.unique(labels, return_inverse=True)
    per_stratum = stratum_floor(n, int(codes.max()) + 1 if len(codes) else 0, floor)
    keep |= stratum_ranks(codes, uniform(ids, seed, SAMPLE_SALT), ids) < per_stratum
    return np.flatnonzero(keep)


def strata_of(target, groups) -> np.ndarray:
    """A row's stratum: its class and its label in every sensitive column (``groups``: a frame), as text
    (a missing value reads 'nan', as the group labels do)."""
    from pipeline.stats.groups import label_text

    key = label_text(target)
    for column in groups.columns:
        key = np.char.add(np.char.add(key, "\x1f"), label_text(groups[column]))
    return key
