"""Fit encoders on training rows only and apply them to every split.

One-hot categoricals and standardised numerics through scikit-learn; the fitted state is
exported as plain JSON (categories, means, scales) instead of a pickle, so it can be read and
reviewed and never executes code when loaded.

Memory: the scaler and the one-hot encoder are fitted on their own columns (a
``ColumnTransformer.fit`` runs ``fit_transform`` and builds the whole float64 training matrix
only to discard it), and splits are encoded chunk by chunk into one preallocated float32
matrix, so the float64 intermediates never exceed ``CHUNK_ROWS`` rows (the prepare stage's
peak memory against the size of its float32 output, at 1M rows, is in benchmarks/RESULTS.md).
The values are the same as a ``ColumnTransformer``'s: each block is
computed by the same fitted estimator in float64 and then cast.

The ray engine cannot fit on the whole training split in one process: :func:`from_statistics` builds
the same encoding (names, groups, plain state, capped columns) from counts and moments merged over
blocks (:mod:`pipeline.stats.blockwise`), following scikit-learn's rules for near-constant columns and
for which levels a cap keeps, and :func:`transform` then encodes from that plain state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.stats.blockwise import ColumnStats

#: Rows encoded per chunk: the float64 intermediates stay near ``CHUNK_ROWS * columns * 8`` bytes.
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class Encoding:
    """What the fitted encoders produced: column names and how they map back to sources."""

    numeric: list[str]
    categorical: list[str]
    scaler: StandardScaler | None
    onehot: OneHotEncoder | None
    feature_names: list[str]
    feature_groups: dict[str, list[int]]
    state: dict
    capped: list[dict] = ()


#: Name of the column that holds a capped categorical's folded (infrequent) levels.
OTHER_LEVEL = "<other>"


def capped_column(column: str, levels_in_training: int, levels: list, folded: int) -> dict:
    """A column whose rarer levels share '<other>' (data.max_categories), as meta.json records it."""
    kept = len(levels) - 1  # '<other>' is one of the levels
    return {"column": column, "levels_in_training": levels_in_training, "kept": kept, "folded_into_other": folded}


def _levels(onehot: OneHotEncoder, i: int) -> tuple[list[str], int]:
    """Output levels of column ``i`` in scikit-learn's column order (frequent, then ``<other>``)."""
    categories = [str(v) for v in onehot.categories_[i]]
    infrequent = getattr(onehot, "infrequent_categories_", [None] * len(onehot.categories_))[i]
    if infrequent is None:
        return categories, 0
    folded = {str(v) for v in infrequent}
    return [c for c in categories if c not in folded] + [OTHER_LEVEL], len(folded)


def fit(train: pd.DataFrame, numeric: list[str], categorical: list[str], max_categories: int | None = None) -> Encoding:
    """Fit on ``train``; categories unseen there encode as all zeros later (or as ``<other>`` for a
    column capped at ``max_categories`` output columns, whose rarest levels are folded together)."""
    scaler = StandardScaler().fit(train[numeric]) if numeric else None
    onehot = None
    capped = []
    if categorical:
        if max_categories is None:
            onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)
        else:
            onehot = OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                sparse_output=False,
                dtype=np.float32,
                max_categories=max_categories,
            )
        onehot.fit(train[categorical])
    names, groups = list(numeric), {c: [i] for i, c in enumerate(numeric)}
    state = {"numeric": {}, "categorical": {}}
    if scaler is not None:
        for column, mean, scale in zip(numeric, scaler.mean_, scaler.scale_):
            state["numeric"][column] = {"mean": float(mean), "scale": float(scale)}
    if onehot is not None:
        for i, column in enumerate(categorical):
            levels, folded = _levels(onehot, i)
            if folded:
                capped.append(capped_column(column, len(onehot.categories_[i]), levels, folded))
            start = len(names)
            names.extend(f"{column}={level}" for level in levels)
            groups[column] = list(range(start, len(names)))
            state["categorical"][column] = [str(v) for v in levels]
    return Encoding(list(numeric), list(categorical), scaler, onehot, names, groups, state, capped)


def transform(encoding: Encoding, frame: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Encode ``frame`` (or its rows at positions ``rows``) to a dense float32 matrix in
    ``encoding.feature_names`` order; rows are taken chunk by chunk, never copied all at once."""
    if encoding.scaler is None and encoding.onehot is None and encoding.feature_names:
        return _transform_state(encoding, frame if rows is None else frame.iloc[rows])
    n = len(frame) if rows is None else len(rows)
    out = np.empty((n, len(encoding.feature_names)), dtype=np.float32)
    n_numeric = len(encoding.numeric)
    for start in range(0, n, CHUNK_ROWS):
        chunk = frame.iloc[start : start + CHUNK_ROWS] if rows is None else frame.iloc[rows[start : start + CHUNK_ROWS]]
        rows_out = slice(start, start + len(chunk))
        if encoding.scaler is not None:
            out[rows_out, :n_numeric] = encoding.scaler.transform(chunk[encoding.numeric])
        if encoding.onehot is not None:
            out[rows_out, n_numeric:] = encoding.onehot.transform(chunk[encoding.categorical])
    return out


def _near_constant(n: int, mean: float, var: float) -> bool:
    """scikit-learn's test (``_is_constant_feature``): a variance within the rounding error of a constant."""
    eps = np.finfo(np.float64).eps
    return var <= n * eps * var + (n * mean * eps) ** 2


def _kept_levels(counts: dict[str, int], max_categories: int | None) -> tuple[list[str], int]:
    """Levels a cap keeps, as ``OneHotEncoder(max_categories=...)`` picks them: when the levels plus
    ``<other>`` exceed the cap, the ``max_categories - 1`` most frequent stay (ties: the later level in
    sorted order, scikit-learn's stable sort), in sorted order, then ``<other>``."""
    levels = sorted(counts)
    if max_categories is None or max_categories >= len(levels) + 1:
        return levels, 0
    count = np.array([counts[level] for level in levels], dtype=np.int64)
    frequent = np.zeros(len(levels), dtype=bool)
    if max_categories > 1:
        frequent[np.argsort(count, kind="mergesort")[-(max_categories - 1) :]] = True
    kept = [level for level, keep in zip(levels, frequent) if keep]
    return [*kept, OTHER_LEVEL], len(levels) - len(kept)


def from_statistics(
    stats: ColumnStats, numeric: list[str], categorical: list[str], max_categories: int | None = None
) -> Encoding:
    """The encoding :func:`fit` would give on the rows ``stats`` summarise, built from the statistics alone."""
    if list(stats.numeric) != list(numeric):
        raise ValueError(f"statistics cover numeric columns {list(stats.numeric)}, not {numeric}")
    state: dict = {"numeric": {}, "categorical": {}}
    names, groups, capped = list(numeric), {c: [i] for i, c in enumerate(numeric)}, []
    var = stats.moments.var
    for i, column in enumerate(numeric):
        n, mean = int(stats.moments.n[i]), float(stats.moments.mean[i])
        scale = 1.0 if _near_constant(n, mean, float(var[i])) else math.sqrt(float(var[i]))
        state["numeric"][column] = {"mean": mean, "scale": scale}
    for column in categorical:
        levels, folded = _kept_levels(stats.counts[column], max_categories)
        if folded:
            capped.append(capped_column(column, len(stats.counts[column]), levels, folded))
        start = len(names)
        names.extend(f"{column}={level}" for level in levels)
        groups[column] = list(range(start, len(names)))
        state["categorical"][column] = list(levels)
    return Encoding(list(numeric), list(categorical), None, None, names, groups, state, capped)


def _transform_state(encoding: Encoding, frame: pd.DataFrame) -> np.ndarray:
    """Encode from the plain state: ``(x - mean) / scale`` in float64 then float32, one-hot levels,
    unseen levels all zeros, or ``<other>`` for a capped column (as scikit-learn's encoders do)."""
    out = np.zeros((len(frame), len(encoding.feature_names)), dtype=np.float32)
    numeric = encoding.numeric
    if numeric:
        mean = np.array([encoding.state["numeric"][c]["mean"] for c in numeric])
        scale = np.array([encoding.state["numeric"][c]["scale"] for c in numeric])
        out[:, : len(numeric)] = (frame[numeric].to_numpy(dtype=np.float64) - mean) / scale
    capped = {c["column"] for c in encoding.capped}
    for column in encoding.categorical:
        positions = encoding.feature_groups[column]
        levels = encoding.state["categorical"][column]
        known = levels[:-1] if column in capped else levels
        codes = pd.Index(known).get_indexer(frame[column].astype(str)).astype(np.int64)  # -1: not a known level
        if column in capped:
            codes[codes < 0] = len(levels) - 1
        hit = np.flatnonzero(codes >= 0)
        out[hit, np.asarray(positions)[codes[hit]]] = 1.0
    return out
