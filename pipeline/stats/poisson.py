"""Row-keyed Poisson bootstrap weights: the weight of a row in a replicate is a function of the
row's id, the seed and the replicate number, nothing else.

Why not :func:`pipeline.stats.bootstrap.resample_counts`: its draws come from one generator read
in row order, so they depend on how many rows there are and in which order they come, and the
fairness audit had to keep every resample of every row (``n_boot`` bytes per row). A Poisson(1)
weight per row and replicate is the standard bootstrap for data that arrives in blocks (Hanley &
MacGibbon 2006; Chamandy et al. 2012): the total weight is random, but each replicate is still a
resample of the rows, and computed from a hash of ``(row_id, seed, b)`` it is identical whatever
the partitioning, the block order or the engine. TFMA's Poisson bootstrap draws at random per
worker and is not reproducible across partitionings (its own docstring says so).

The hash is splitmix64 (Steele, Lea & Flood 2014) applied twice, keyed by the seed and the
replicate; its top 53 bits give a uniform in [0, 1) and the weight is the inverse of the
Poisson(1) distribution function at that uniform. Arithmetic is numpy uint64, which wraps modulo
2**64 exactly as the reference algorithm does.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: A weight above this is returned as this; P(Poisson(1) > 20) is about 4e-20, below the 2**-53
#: resolution of the uniform, so the cap is never reached.
MAX_WEIGHT = 20
#: P(Poisson(1) <= k) for k = 0 .. MAX_WEIGHT - 1 (the last entry rounds to 1.0).
POISSON1_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(MAX_WEIGHT)])


def splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function of state ``x + gamma`` (uint64 in, uint64 out)."""
    with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the algorithm
        z = np.asarray(x, dtype=np.uint64) + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniforms(row_id, seed: int, replicate: int) -> np.ndarray:
    """A uniform in [0, 1) per row from ``(row_id, seed, replicate)``: float64 with 53 random bits."""
    rows = np.asarray(row_id, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ rows
        h = splitmix64(splitmix64(key) + np.uint64(replicate) * _GAMMA)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def poisson1(u: np.ndarray) -> np.ndarray:
    """The Poisson(1) quantile of each uniform: the smallest k with P(X <= k) > u (int64)."""
    return np.minimum(np.searchsorted(POISSON1_CDF, u, side="right"), MAX_WEIGHT).astype(np.int64)


#: Bytes of weights kept in this process (as uint8: every weight is at most MAX_WEIGHT).
MEMO_BYTES = 32 * 2**20
_memo: OrderedDict[tuple, np.ndarray] = OrderedDict()


def weights(row_id, seed: int, replicates: range | list[int]) -> np.ndarray:
    """Poisson(1) weights, shape ``(len(replicates), rows)`` int64: row ``r``'s weight in
    replicate ``b`` depends on ``(row_id[r], seed, b)`` only.

    A pure function, so the most recent results are kept (at most :data:`MEMO_BYTES`, oldest
    dropped first): the mitigate stage audits every candidate on the same test rows, and drawing
    the same replicates once serves them all.
    """
    rows = np.ascontiguousarray(np.asarray(row_id, dtype=np.int64))
    wanted = list(replicates)
    if not wanted:
        return np.zeros((0, len(rows)), dtype=np.int64)
    key = (hashlib.blake2b(rows.tobytes(), digest_size=16).digest(), len(rows), seed, tuple(wanted))
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key].astype(np.int64)
    drawn = np.stack([poisson1(uniforms(rows, seed, b)) for b in wanted])
    _remember(key, drawn.astype(np.uint8))
    return drawn


def _remember(key: tuple, small: np.ndarray) -> None:
    if small.nbytes > MEMO_BYTES:
        return
    _memo[key] = small
    while sum(a.nbytes for a in _memo.values()) > MEMO_BYTES:
        _memo.popitem(last=False)
