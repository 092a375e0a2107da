"""Block passes on Ray: a pool of actors reads a split's Parquet shards a block at a time, scores
each block with a model and reduces it to small tables; the driver merges them in file order.

Why actors of our own and not Ray Data's ``read_parquet`` + ``map_batches``: with Ray Data the read
worker and the counting workers grew with the data size (1.7 -> 4.0 GiB from 2M to 10M rows, blocks
of 100,000 rows; benchmarks/SCALE.md has the history), while an actor that holds one block at a time
stays flat. Here each actor is handed one shard per call (``ActorPool`` gives an idle actor the next
file, so no actor queues more than one), reads it in blocks of ``block_rows`` with pyarrow, and
sends back only the reduced tables, compressed. Results come back in the order of the files, so
float sums merge in one order on every run.

One actor body (:class:`BlockWorker`) serves every pass: the evaluate class tables, the fairness
count tables, a mitigation candidate's tables (its model described by
:class:`pipeline.scale.mitigate.CandidateModel`) and the candidate check's group labels (no model).
"""

from __future__ import annotations

import pickle
import re
import zlib
from collections.abc import Callable, Iterator
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


def feature_columns(columns) -> list[str]:
    """The encoded feature columns (``f0000``, ``f0001`` ...) in their numeric order."""
    return sorted((c for c in columns if _FEATURE.fullmatch(c)), key=lambda c: int(c[1:]))


def text_labels(column: pd.Series) -> pd.Series:
    """Group labels as Python strings (Arrow nulls arrive as None; they print 'nan' as the local
    engine's ``astype(str)`` prints a missing value)."""
    from pipeline.stats.groups import label_text

    return pd.Series(label_text(column), index=column.index)


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
    """Adds a model's columns to each block and drops the features (not needed after scoring).
    ``model`` is a small picklable description whose ``load()`` returns ``columns(X, batch) ->
    {name: values}``: :class:`TrainedModel`, or a saved mitigation candidate
    (:class:`pipeline.scale.mitigate.CandidateModel`); the weights are read where it runs, never shipped."""

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


class BlockWorker:
    """One actor of a block pass (a plain class: tests run it in-process). ``reduce(batch) -> tables``
    is a picklable function; ``model`` (optional) is scored first. The model is loaded on the first
    call, not in ``__init__``, so that a file that does not load reaches the driver as the project's
    own error (Ray wraps a failed method call, with its cause, but not a failed constructor)."""

    def __init__(self, reduce: Callable[[pd.DataFrame], object], model=None):
        self.reduce, self.model, self.scorer = reduce, model, None

    def run(self, path: str, columns: list[str] | None, block_rows: int) -> bytes:
        """The reduced tables of each block of ``path`` (in order), pickled and compressed: the
        2**16-bin score histograms are mostly zeros (zlib level 1: 17 MiB to 0.2 MiB in about 25 ms)."""
        import pyarrow.parquet as pq

        if self.model is not None and self.scorer is None:
            self.scorer = Scorer(self.model)
        out = []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=block_rows, columns=columns):
            frame = batch.to_pandas()
            out.append(self.reduce(self.scorer(frame) if self.scorer else frame))
        return zlib.compress(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpacked(payload: bytes) -> list:
    return pickle.loads(zlib.decompress(payload))


def split_files(found: dict, split: str) -> list[str]:
    """One split's verified shards (``found``: :func:`pipeline.shards.verify`'s manifest) as absolute paths."""
    files = [str(Path(name).resolve()) for name in shards.split_files(found, split)]
    if not files:
        raise BadInputError(f"the shard manifest lists no '{split}' shards; rerun `python -m pipeline prepare`")
    return files


def per_block(
    ray,
    files: list[str],
    reduce: Callable[[pd.DataFrame], object],
    *,
    block_rows: int,
    model=None,
    columns: list[str] | None = None,
    actors: int | None = None,
) -> Iterator:
    """``reduce`` of every block of ``files`` (blocks of at most ``block_rows`` rows, in file order),
    computed in ``actors`` :class:`BlockWorker` actors of one CPU each (default: the cluster's
    CPUs, at most one per file), each holding one block at a time. A project error raised in an
    actor is raised here as itself (exit codes intact); the actors end when the pass does."""
    from ray.util import ActorPool

    from pipeline.scale.cluster import project_errors

    count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    worker = ray.remote(num_cpus=1)(BlockWorker)
    pool = [worker.remote(reduce, model) for _ in range(max(1, min(count, len(files))))]
    try:
        with project_errors(ray):
            for payload in ActorPool(pool).map(lambda actor, path: actor.run.remote(path, columns, block_rows), files):
                yield from unpacked(payload)
    finally:
        for actor in pool:
            ray.kill(actor)
