"""Fit encoders on training rows only and apply them to every split.

One-hot categoricals and standardised numerics through scikit-learn; the fitted state is
exported as plain JSON (categories, means, scales) instead of a pickle, so it can be read and
reviewed and never executes code when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler


@dataclass(frozen=True)
class Encoding:
    """What the fitted encoder produced: column names and how they map back to sources."""

    transformer: ColumnTransformer
    feature_names: list[str]
    feature_groups: dict[str, list[int]]
    state: dict


def fit(train: pd.DataFrame, numeric: list[str], categorical: list[str]) -> Encoding:
    """Fit on ``train``; categories unseen there encode as all zeros later."""
    transformer = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32), categorical),
        ],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )
    transformer.fit(train[numeric + categorical])
    names, groups = list(numeric), {c: [i] for i, c in enumerate(numeric)}
    onehot: OneHotEncoder = transformer.named_transformers_["cat"] if categorical else None
    if onehot is not None:
        for column, levels in zip(categorical, onehot.categories_):
            start = len(names)
            names.extend(f"{column}={level}" for level in levels)
            groups[column] = list(range(start, len(names)))
    state = {"numeric": {}, "categorical": {}}
    if numeric:
        scaler: StandardScaler = transformer.named_transformers_["num"]
        for column, mean, scale in zip(numeric, scaler.mean_, scaler.scale_):
            state["numeric"][column] = {"mean": float(mean), "scale": float(scale)}
    if onehot is not None:
        for column, levels in zip(categorical, onehot.categories_):
            state["categorical"][column] = [str(v) for v in levels]
    return Encoding(transformer, names, groups, state)


def transform(encoding: Encoding, frame: pd.DataFrame) -> np.ndarray:
    """Encode ``frame`` to a dense float32 matrix in ``encoding.feature_names`` order."""
    matrix = encoding.transformer.transform(frame)
    return np.ascontiguousarray(matrix, dtype=np.float32)
