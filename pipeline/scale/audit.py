"""The fairness audit on a Ray Dataset: count tables per block in Ray, merged on the driver, and
then the very code the local engine runs (:func:`pipeline.audit.fairness.audit_tables`).

The dataset holds ``row_id`` (int64, written by ``prepare``: Ray's own row ids change between
runs, and the AUC bootstrap's weights are keyed by it), ``y`` (class index), one string column
``group:<attribute>`` per sensitive attribute, and either ``score`` (probability of the
favourable class) or float features ``f0000 ...`` that :class:`Scorer` actors turn into scores with
the trained model. A ``decision`` column (0/1, 1 = favourable) is used when present; otherwise
the decision is ``score >= threshold``, the binary rule of :func:`pipeline.audit.performance.predict_labels`.
Decisions without a score (an existing system's) are audited as the local engine audits them:
rates, intervals and verdicts, no ROC AUC or calibration.

Each block's tables travel to the driver pickled and compressed in one row and are merged as they
arrive, so the driver holds one set of tables, never the rows; a worker holds one block.
"""

from __future__ import annotations

import pickle
import zlib

import numpy as np
import pandas as pd

from pipeline.audit.fairness import FairnessSettings, audit_tables, table_spec
from pipeline.errors import BadInputError, PipelineError
from pipeline.scale.scoring import GROUP_PREFIX, TABLE_TASK_CALLS, text_labels
from pipeline.stats import counts
from pipeline.stats.groups import sensitive_views


def check_columns(columns, sensitive: list[str]) -> None:
    """Exit 2 naming what a dataset lacks for the audit (a ``score``, a ``decision``, or both)."""
    wanted = ["row_id", "y"] + [GROUP_PREFIX + a for a in sensitive]
    missing = [c for c in wanted if c not in columns]
    if "score" not in columns and "decision" not in columns:
        missing.append("score or decision")
    if missing:
        raise BadInputError(f"the dataset lacks column(s) {missing} for the fairness audit; it has {list(columns)}")


def block_tables(
    batch: pd.DataFrame, spec: counts.TableSpec, sensitive: list[str], favourable_index: int, threshold: float
) -> dict:
    """One block's count tables, pickled into a one-row batch (``map_batches`` function; Ray
    pickles whatever crosses between its processes anyway)."""
    try:
        tables = _tables(batch, spec, sensitive, favourable_index, threshold)
    except PipelineError as err:  # bad input reaches the driver as the project's own error (exit 2), not Ray's
        return {"tables": np.array([b""], dtype=object), "error": np.array([str(err)], dtype=object)}
    # the 2**16-bin score histograms are mostly zeros: zlib level 1 takes 17 MiB to 0.2 MiB in about 25 ms
    payload = zlib.compress(pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return {"tables": np.array([payload], dtype=object), "error": np.array([""], dtype=object)}


def _tables(batch, spec, sensitive, favourable_index, threshold) -> counts.CountTables:
    check_columns(batch.columns, sensitive)
    y01 = (batch["y"].to_numpy() == favourable_index).astype(np.int64)
    # decisions alone (an existing system's) are audited without ROC AUC, ECE or calibration
    score = batch["score"].to_numpy(dtype=np.float64) if "score" in batch else None
    if "decision" in batch:
        decision = batch["decision"].to_numpy().astype(np.int64)
    else:
        decision = (score >= threshold).astype(np.int64)
    groups = pd.DataFrame({a: text_labels(batch[GROUP_PREFIX + a]) for a in sensitive})
    views = {name: labels.to_numpy() for name, labels in sensitive_views(groups, sensitive).items()}
    return counts.block_tables(y01, decision, score, views, spec, batch["row_id"].to_numpy(dtype=np.int64))


def dataset_tables(
    ds, sensitive: list[str], spec: counts.TableSpec, favourable_index: int, threshold: float, block_rows: int
) -> counts.CountTables:
    """Count tables of every row of ``ds`` (blocks of ``block_rows``), merged on the driver as they come."""
    tables = ds.map_batches(
        block_tables,
        fn_kwargs={
            "spec": spec,
            "sensitive": list(sensitive),
            "favourable_index": favourable_index,
            "threshold": threshold,
        },
        batch_size=block_rows,
        batch_format="pandas",
        max_calls=TABLE_TASK_CALLS,
    )
    return counts.merge_all(_unpacked(row) for row in tables.iter_rows())


def _unpacked(row: dict) -> counts.CountTables:
    if row["error"]:
        raise BadInputError(row["error"])
    return pickle.loads(zlib.decompress(row["tables"]))


def audit_dataset(
    ds,
    sensitive: list[str],
    settings: FairnessSettings,
    *,
    favourable_index: int = 1,
    threshold: float = 0.5,
    block_rows: int = 100_000,
    inconclusive_reason: str | None = None,
) -> dict:
    """The fairness audit of ``ds`` (features, verdicts, policy), as :func:`pipeline.audit.fairness.audit_decisions`
    computes it locally."""
    merged = dataset_tables(ds, sensitive, table_spec(settings), favourable_index, threshold, block_rows)
    return audit_tables(merged, sensitive, settings, inconclusive_reason=inconclusive_reason)
