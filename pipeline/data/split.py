"""Train/validation/test splits: stratified and seeded, so reruns get the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.data.table import RawTable
from pipeline.errors import BadInputError


def subsample(table: RawTable, max_rows: int | None, seed: int) -> np.ndarray:
    """Row indices to keep: all rows, or a stratified seeded sample of ``max_rows`` (for tests)."""
    index = np.arange(len(table.target))
    if max_rows is None or max_rows >= len(index):
        return index
    strata = table.target.astype(str)
    if table.official_split is not None:
        strata = strata + "|" + table.official_split.astype(str)
    kept, _ = train_test_split(index, train_size=max_rows, stratify=strata, random_state=seed)
    return np.sort(kept)


def assign(table: RawTable, rows: np.ndarray, *, val_size: float, test_size: float, seed: int) -> pd.Series:
    """Label each kept row ``train``/``val``/``test``; the publisher's split wins when there is one."""
    target = table.target.iloc[rows].to_numpy()
    labels = pd.Series("train", index=rows, dtype=object)
    try:
        if table.official_split is not None:
            labels[:] = table.official_split.iloc[rows].to_numpy()
        else:
            train_idx, test_idx = train_test_split(rows, test_size=test_size, stratify=target, random_state=seed)
            labels[test_idx] = "test"
        train_rows = labels.index[labels == "train"].to_numpy()
        train_target = table.target.iloc[train_rows].to_numpy()
        _, val_idx = train_test_split(train_rows, test_size=val_size, stratify=train_target, random_state=seed)
    except ValueError as err:
        counts = pd.Series(target).value_counts().to_dict()
        raise BadInputError(
            f"too few rows for the splits (data.val_size={val_size}, data.test_size={test_size}): "
            f"{len(rows)} rows with class counts {counts}; each class needs a few rows in every split ({err})"
        ) from err
    labels[val_idx] = "val"
    return labels
