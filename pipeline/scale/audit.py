"""The fairness audit on Ray: count tables per block in actors (:func:`pipeline.scale.scoring.per_block`),
merged on the driver, and then the very code the local engine runs
(:func:`pipeline.audit.fairness.audit_tables`).

A block holds ``row_id`` (int64, written by ``prepare``: Ray's own row ids change between runs,
and the AUC bootstrap's weights are keyed by it), ``y`` (class index), one string column
``group:<attribute>`` per sensitive attribute, and ``score`` (probability of the favourable class)
and/or ``decision`` (0/1, 1 = favourable), as the shards hold them or as a model scoring them adds
them. Without ``decision``, the decision is ``score >= threshold``, the binary rule of
:func:`pipeline.audit.performance.predict_labels`. Decisions without a score (an existing system's)
are audited as the local engine audits them: rates, intervals and verdicts, no ROC AUC or calibration.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline.audit.fairness import FairnessSettings, audit_tables, table_spec
from pipeline.errors import BadInputError
from pipeline.scale.scoring import GROUP_PREFIX, per_block, text_labels
from pipeline.stats import counts
from pipeline.stats.groups import sensitive_views


def check_columns(columns, sensitive: list[str]) -> None:
    """Exit 2 naming what a block lacks for the audit (a ``score``, a ``decision``, or both)."""
    wanted = ["row_id", "y"] + [GROUP_PREFIX + a for a in sensitive]
    missing = [c for c in wanted if c not in columns]
    if "score" not in columns and "decision" not in columns:
        missing.append("score or decision")
    if missing:
        raise BadInputError(f"the dataset lacks column(s) {missing} for the fairness audit; it has {list(columns)}")


def block_tables(
    batch: pd.DataFrame, spec: counts.TableSpec, sensitive: list[str], favourable_index: int, threshold: float
) -> counts.CountTables:
    """One block's count tables (the reduce function of the pass)."""
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


def shard_tables(
    ray,
    files: list[str],
    sensitive: list[str],
    spec: counts.TableSpec,
    *,
    favourable_index: int = 1,
    threshold: float = 0.5,
    block_rows: int = 100_000,
    model=None,
    actors: int | None = None,
) -> counts.CountTables:
    """Count tables of every row of ``files`` (scored by ``model`` first when given), merged in file order."""
    reduce = partial(
        block_tables, spec=spec, sensitive=list(sensitive), favourable_index=favourable_index, threshold=threshold
    )
    return counts.merge_all(per_block(ray, files, reduce, block_rows=block_rows, model=model, actors=actors))


def audit_shards(
    ray,
    files: list[str],
    sensitive: list[str],
    settings: FairnessSettings,
    *,
    inconclusive_reason: str | None = None,
    **options,
) -> dict:
    """The fairness audit of every row of ``files`` (features, verdicts, policy), as
    :func:`pipeline.audit.fairness.audit_decisions` computes it locally; ``options`` as :func:`shard_tables`."""
    merged = shard_tables(ray, files, sensitive, table_spec(settings), **options)
    return audit_tables(merged, sensitive, settings, inconclusive_reason=inconclusive_reason)
