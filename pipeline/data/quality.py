"""Row-level quality checks the audit reports: duplicated rows and rows shared by train and test.

A test row that also sits in the training rows is scored on data the model has seen, so test
metrics overstate what it does on new people; many duplicates also weight some people more than
others. Neither is an error (real tables have true duplicates), so both are counted and reported
in ``data.json``, never silently ignored.
"""

from __future__ import annotations

import pandas as pd


def _row_hashes(features: pd.DataFrame, target: pd.Series | None = None) -> pd.Series:
    """One 64-bit hash per row, equal for equal rows.

    Each column is hashed in its own dtype (numbers as numbers, so ``0.0`` equals ``-0.0``;
    categories by their level): turning the whole table into text first held a second, larger
    copy of it.
    """
    if target is not None:  # the label as categories: hashed by level, without a string object per row
        labels = pd.Series(pd.Categorical(target.astype(str)), index=features.index)
        features = features.assign(__target=labels)
    return pd.util.hash_pandas_object(features, index=False)


def duplicates_and_overlap(features: pd.DataFrame, target: pd.Series, labels: pd.Series) -> dict:
    """Counts of duplicated rows, and of test rows whose inputs (or inputs and label) occur in training."""
    full = _row_hashes(features, target)
    inputs = _row_hashes(features)
    kept_full, kept_inputs = full.iloc[labels.index], inputs.iloc[labels.index]
    train = (labels == "train").to_numpy()
    test = (labels == "test").to_numpy()
    n_test = int(test.sum())
    same_row = kept_full[test].isin(kept_full[train]).to_numpy()  # a hash table, not a Python set
    same_inputs = kept_inputs[test].isin(kept_inputs[train]).to_numpy()
    return {
        "duplicate_rows": int(full.duplicated().sum()),
        "duplicate_rows_share": float(full.duplicated().mean()) if len(full) else 0.0,
        "train_test_overlap": {
            "test_rows": n_test,
            "identical_rows": int(same_row.sum()),
            "identical_inputs": int(same_inputs.sum()),
            "share_of_test": float(same_row.mean()) if n_test else 0.0,
        },
    }
