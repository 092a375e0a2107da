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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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


def _levels(onehot: OneHotEncoder, i: int) -> tuple[list[str], int]:
    """Output levels of column ``i`` in scikit-learn's column order (frequent, then ``<other>``)."""
    categories = [str(v) for v in onehot.categories_[i]]
    infrequent = getattr(onehot, "infrequent_categories_", [None] * len(categories))[i]
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
                capped.append(
                    {
                        "column": column,
                        "levels_in_training": len(onehot.categories_[i]),
                        "kept": len(levels) - 1,
                        "folded_into_other": folded,
                    }
                )
            start = len(names)
            names.extend(f"{column}={level}" for level in levels)
            groups[column] = list(range(start, len(names)))
            state["categorical"][column] = [str(v) for v in levels]
    return Encoding(list(numeric), list(categorical), scaler, onehot, names, groups, state, capped)


def transform(encoding: Encoding, frame: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Encode ``frame`` (or its rows at positions ``rows``) to a dense float32 matrix in
    ``encoding.feature_names`` order; rows are taken chunk by chunk, never copied all at once."""
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
