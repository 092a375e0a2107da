"""Scoring on Ray: the trained model in ``map_batches`` actors turns a split's encoded shards into
class probabilities and decisions, for the evaluate tables and the fairness count tables alike.

Kept apart from :mod:`pipeline.scale.audit` so that the evaluate stage's Ray path depends on the
model and the shards, not on the fairness audit.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import shards
from pipeline.errors import BadInputError

#: Prefix of a sensitive attribute's column in the sharded data (what ``prepare`` writes).
GROUP_PREFIX = shards.GROUP_PREFIX
_FEATURE = re.compile(r"f\d+")
#: Calls after which a Ray Data task worker that turns blocks into count tables is ended (Ray's ``max_calls``).
#: Such workers kept private memory from task to task: in benchmarks/diag_worker_memory.py (a task that only
#: counts rows after the scoring actors) this bounded them; in the full pipeline (benchmarks/SCALE.md) the count
#: and read workers' peak still grows with the data: an open problem.
TABLE_TASK_CALLS = 5


def feature_columns(columns) -> list[str]:
    """The encoded feature columns (``f0000``, ``f0001`` ...) in their numeric order."""
    return sorted((c for c in columns if _FEATURE.fullmatch(c)), key=lambda c: int(c[1:]))


def text_labels(column: pd.Series) -> pd.Series:
    """Group labels as Python strings (Ray hands Arrow-backed columns; missing values print 'nan'
    as the local engine's ``astype(str)`` does)."""
    values = column.to_numpy(dtype=object)
    values[pd.isna(values)] = "nan"  # Arrow nulls arrive as None, which would print 'None'
    return pd.Series(np.asarray(values, dtype=str), index=column.index)


class Scorer:
    """A ``map_batches`` actor: loads the trained model once and adds ``proba_<k>`` per class,
    ``y_pred`` (class index), ``score`` (the favourable class's probability) and ``decision``
    (0/1) to each batch, dropping the features (they are not needed after scoring)."""

    def __init__(self, model_dir: str, favourable_index: int, threshold: float, threads: int = 1):
        import torch

        from pipeline.models.predict import load_trained

        torch.set_num_threads(threads)
        self.model = load_trained(Path(model_dir))
        self.favourable_index, self.threshold = favourable_index, threshold

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from pipeline.audit.performance import predict_labels
        from pipeline.models.predict import predict_proba

        features = feature_columns(batch.columns)
        proba = predict_proba(self.model, batch[features].to_numpy(dtype=np.float32))
        out = batch.drop(columns=features)
        y_pred = predict_labels(proba, self.favourable_index, self.threshold)
        for k in range(proba.shape[1]):
            out[f"proba_{k}"] = proba[:, k]
        out["y_pred"] = y_pred.astype(np.int64)
        out["score"] = proba[:, self.favourable_index]
        out["decision"] = (y_pred == self.favourable_index).astype(np.int64)
        return out


def score(
    ds,
    model_dir,
    favourable_index: int,
    threshold: float,
    block_rows: int,
    actors: int = 1,
    actor_cpus: float = 1.0,
    in_flight: int | None = 1,
):
    """``ds`` with ``score`` and ``decision`` from the model in ``model_dir``, in ``actors`` actors of
    ``actor_cpus`` CPUs each: leave CPUs for the tasks that read the blocks and count them, or the
    stream stalls (actors holding every CPU starve the readers). ``in_flight`` caps the blocks
    queued per actor: with Ray's default (None) an actor's own memory grew with the data size,
    with 1 it stayed flat (benchmarks/SCALE.md)."""
    kwargs = {"model_dir": str(model_dir), "favourable_index": favourable_index, "threshold": threshold}
    if in_flight is None:
        placement = {"concurrency": actors}
    else:
        import ray

        placement = {"compute": ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=in_flight)}
    return ds.map_batches(
        Scorer,
        fn_constructor_kwargs=kwargs,
        batch_size=block_rows,
        batch_format="pandas",
        num_cpus=actor_cpus,
        **placement,
    )


def scored_split(ray, found: dict, split: str, model_dir, favourable_index: int, threshold: float, block_rows: int):
    """One split's verified shards (``found``: :func:`pipeline.shards.verify`'s manifest) read by
    Ray and scored by the model in ``model_dir`` in one actor of half a CPU (the readers and
    counters keep the rest)."""
    files = [str(Path(name).resolve()) for name in shards.split_files(found, split)]
    if not files:
        raise BadInputError(f"the shard manifest lists no '{split}' shards; rerun `python -m pipeline prepare`")
    ds = ray.data.read_parquet(files)
    return score(ds, Path(model_dir).resolve(), favourable_index, threshold, block_rows, actors=1, actor_cpus=0.5)
