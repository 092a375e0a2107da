"""Scoring on Ray: a model in ``map_batches`` actors turns a split's encoded shards into scores and
decisions: the trained network for the evaluate tables and the fairness count tables, a saved
mitigation candidate for the mitigate stage's audit of it. One actor class (:class:`Scorer`) takes
the model to load as a small picklable description (:class:`TrainedModel` here; the candidates'
lives in :mod:`pipeline.scale.mitigate`, so the evaluate and fairness stages do not depend on it).

Kept apart from :mod:`pipeline.scale.audit` so that the evaluate stage's Ray path depends on the
model and the shards, not on the fairness audit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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


@dataclass(frozen=True)
class TrainedModel:
    """The trained network (``models/model.pt``) as evaluate and fairness score it: ``proba_<k>``
    per class, ``y_pred`` (class index), ``score`` (the favourable class's probability) and
    ``decision`` (0/1)."""

    model_dir: str
    favourable_index: int
    threshold: float

    def load(self) -> Callable[[np.ndarray, pd.DataFrame], dict]:
        from pipeline.models.predict import load_trained

        return partial(_trained_columns, load_trained(Path(self.model_dir)), self.favourable_index, self.threshold)


def _trained_columns(model, favourable_index: int, threshold: float, X: np.ndarray, batch: pd.DataFrame) -> dict:
    from pipeline.audit.performance import predict_labels
    from pipeline.models.predict import predict_proba

    proba = predict_proba(model, X)
    y_pred = predict_labels(proba, favourable_index, threshold)
    out = {f"proba_{k}": proba[:, k] for k in range(proba.shape[1])}
    out["y_pred"] = y_pred.astype(np.int64)
    out["score"] = proba[:, favourable_index]
    out["decision"] = (y_pred == favourable_index).astype(np.int64)
    return out


class Scorer:
    """A ``map_batches`` actor: loads its model once and adds the model's columns to each batch,
    dropping the features (not needed after scoring). ``model`` is a small picklable description
    whose ``load()`` returns ``columns(X, batch) -> {name: values}``: :class:`TrainedModel`, or a
    saved mitigation candidate (:class:`pipeline.scale.mitigate.CandidateModel`); the weights are
    read in the actor, never shipped."""

    def __init__(self, model, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.columns = model.load()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        features = feature_columns(batch.columns)
        added = self.columns(batch[features].to_numpy(dtype=np.float32), batch)
        out = batch.drop(columns=features)
        for name, values in added.items():
            out[name] = values
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
    """``ds`` with ``score`` and ``decision`` (and the class columns) from the trained model in
    ``model_dir``: :func:`score_with` a :class:`TrainedModel`."""
    model = TrainedModel(str(model_dir), favourable_index, threshold)
    return score_with(ds, model, block_rows, actors, actor_cpus, in_flight)


def score_with(ds, model, block_rows: int, actors: int = 1, actor_cpus: float = 1.0, in_flight: int | None = 1):
    """``ds`` with ``model``'s columns, in ``actors`` :class:`Scorer` actors of ``actor_cpus`` CPUs
    each: leave CPUs for the tasks that read the blocks and count them, or the stream stalls
    (actors holding every CPU starve the readers). ``in_flight`` caps the blocks queued per actor:
    with Ray's default (None) an actor's own memory grew with the data size, with 1 it stayed flat
    (benchmarks/SCALE.md)."""
    if in_flight is None:
        placement = {"concurrency": actors}
    else:
        import ray

        placement = {"compute": ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=in_flight)}
    return ds.map_batches(
        Scorer,
        fn_constructor_kwargs={"model": model},
        batch_size=block_rows,
        batch_format="pandas",
        num_cpus=actor_cpus,
        **placement,
    )


def split_dataset(ray, found: dict, split: str, columns: list[str] | None = None):
    """One split's verified shards (``found``: :func:`pipeline.shards.verify`'s manifest) as a Ray
    Dataset; ``columns`` reads only those (Parquet reads columns apart)."""
    files = [str(Path(name).resolve()) for name in shards.split_files(found, split)]
    if not files:
        raise BadInputError(f"the shard manifest lists no '{split}' shards; rerun `python -m pipeline prepare`")
    return ray.data.read_parquet(files, columns=columns)


def scored_split(ray, found: dict, split: str, model_dir, favourable_index: int, threshold: float, block_rows: int):
    """One split's verified shards read by Ray and scored by the trained model in ``model_dir`` in
    one actor of half a CPU (the readers and counters keep the rest)."""
    model = TrainedModel(str(Path(model_dir).resolve()), favourable_index, threshold)
    return score_with(split_dataset(ray, found, split), model, block_rows, actors=1, actor_cpus=0.5)
