"""The evaluate stage's metrics on a Ray Dataset: class tables per block in Ray, merged on the
driver, then the very functions the local engine calls (:mod:`pipeline.audit.performance`).

The dataset holds ``y`` and ``y_pred`` (class indices), ``proba_<k>`` for every class (what
:class:`pipeline.scale.audit.Scorer` adds) and ``group:<attribute>`` per sensitive attribute. The
ROC AUC comes from the merged score histograms (the local engine, holding every row, reports the
exact one; the difference is within the histogram's resolution). The near-perfect leakage probe
needs the validation rows and a model per feature group and is not computed here.
"""

from __future__ import annotations

import pickle
import zlib

import numpy as np
import pandas as pd

from pipeline.errors import BadInputError, PipelineError
from pipeline.scale.scoring import GROUP_PREFIX, TABLE_TASK_CALLS, text_labels
from pipeline.stats import class_counts
from pipeline.stats.groups import sensitive_views


def block_tables(batch: pd.DataFrame, n_classes: int, favourable: int, bins: int, sensitive: list[str]) -> dict:
    """One block's class tables, pickled and compressed into a one-row batch (``map_batches`` function)."""
    try:
        wanted = ["y", "y_pred"] + [f"proba_{k}" for k in range(n_classes)] + [GROUP_PREFIX + a for a in sensitive]
        missing = [c for c in wanted if c not in batch.columns]
        if missing:
            raise BadInputError(f"the dataset lacks column(s) {missing} for evaluate; it has {list(batch.columns)}")
        proba = batch[[f"proba_{k}" for k in range(n_classes)]].to_numpy(dtype=np.float64)
        groups = pd.DataFrame({a: text_labels(batch[GROUP_PREFIX + a]) for a in sensitive})
        views = {name: labels.to_numpy() for name, labels in sensitive_views(groups, sensitive).items()}
        tables = class_counts.block_tables(
            batch["y"].to_numpy(), batch["y_pred"].to_numpy(), proba, favourable, bins, views
        )
    except PipelineError as err:  # bad input reaches the driver as the project's own error (exit 2)
        return {"tables": np.array([b""], dtype=object), "error": np.array([str(err)], dtype=object)}
    payload = zlib.compress(pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return {"tables": np.array([payload], dtype=object), "error": np.array([""], dtype=object)}


def _unpacked(row: dict) -> class_counts.ClassTables:
    if row["error"]:
        raise BadInputError(row["error"])
    return pickle.loads(zlib.decompress(row["tables"]))


def dataset_tables(ds, n_classes: int, favourable: int, bins: int, sensitive: list[str], block_rows: int):
    """Class tables of every row of ``ds`` (blocks of ``block_rows``), merged on the driver as they come."""
    kwargs = {"n_classes": n_classes, "favourable": favourable, "bins": bins, "sensitive": list(sensitive)}
    tables = ds.map_batches(
        block_tables, fn_kwargs=kwargs, batch_size=block_rows, batch_format="pandas", max_calls=TABLE_TASK_CALLS
    )
    return class_counts.merge_all(_unpacked(row) for row in tables.iter_rows())
