"""The evaluate stage's metrics on Ray: class tables per block in actors
(:func:`pipeline.scale.scoring.per_block`), merged on the driver, then the very functions the local
engine calls (:mod:`pipeline.audit.performance`).

A block holds ``y`` and ``y_pred`` (class indices), ``proba_<k>`` for every class (what
:class:`pipeline.scale.scoring.TrainedModel` adds) and ``group:<attribute>`` per sensitive attribute.
The ROC AUC comes from the merged score histograms (the local engine, holding every row, reports
the exact one; the difference is within the histogram's resolution). The near-perfect leakage
probe needs the validation rows and a model per feature group and is not computed here.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline.errors import BadInputError
from pipeline.scale.scoring import GROUP_PREFIX, per_block, text_labels
from pipeline.stats import class_counts
from pipeline.stats.groups import sensitive_views


def block_tables(
    batch: pd.DataFrame, n_classes: int, favourable: int, bins: int, sensitive: list[str]
) -> class_counts.ClassTables:
    """One block's class tables (the reduce function of the pass)."""
    wanted = ["y", "y_pred"] + [f"proba_{k}" for k in range(n_classes)] + [GROUP_PREFIX + a for a in sensitive]
    missing = [c for c in wanted if c not in batch.columns]
    if missing:
        raise BadInputError(f"the dataset lacks column(s) {missing} for evaluate; it has {list(batch.columns)}")
    proba = batch[[f"proba_{k}" for k in range(n_classes)]].to_numpy(dtype=np.float64)
    groups = pd.DataFrame({a: text_labels(batch[GROUP_PREFIX + a]) for a in sensitive})
    views = {name: labels.to_numpy() for name, labels in sensitive_views(groups, sensitive).items()}
    return class_counts.block_tables(batch["y"].to_numpy(), batch["y_pred"].to_numpy(), proba, favourable, bins, views)


def shard_tables(
    ray,
    files: list[str],
    n_classes: int,
    favourable: int,
    bins: int,
    sensitive: list[str],
    *,
    block_rows: int,
    model=None,
    actors: int | None = None,
) -> class_counts.ClassTables:
    """Class tables of every row of ``files`` (scored by ``model`` first when given), merged in file order."""
    reduce = partial(block_tables, n_classes=n_classes, favourable=favourable, bins=bins, sensitive=list(sensitive))
    return class_counts.merge_all(per_block(ray, files, reduce, block_rows=block_rows, model=model, actors=actors))
