"""``train`` on Ray Train: the project's LightningModule, fitted by data-parallel workers fed from the shards.

The same :class:`~pipeline.training.lit.LitClassifier` as the local fit, in a Lightning ``Trainer`` that
Ray Train wires up (``RayDDPStrategy``, ``RayLightningEnvironment``, ``prepare_trainer``): gradients are
all-reduced every step, so every rank holds the same weights; rank 0 hands them back once, as a Ray
Train checkpoint, with every rank's weight hash so the driver can check they are equal before writing
the usual ``models/model.pt``.

Rows: each rank reads its own part of the training shards with pyarrow (:class:`ShardRows`), a shard at
a time, never the whole set. The driver cuts the training rows, in the manifest's order, into
``WORKERS`` equal runs (:func:`rank_segments`: every rank takes the same number of steps, or the
all-reduce would hang, so up to ``WORKERS - 1`` rows, the last ones, sit out where the local DDP fit
pads instead). Each epoch a rank visits its shards in an order drawn from (seed, epoch, rank) and
shuffles each shard's rows with the same generator: a block-local shuffle whose order is a function of
the settings alone, so a rerun gives bitwise the same weights (Ray Data's streaming order, which fed
the workers before, is not promised between runs). Validation: every row on each rank (its
all-gathered sums count every row once per rank, which leaves the loss and accuracy ratios exact).

Not carried over from the local fit, and refused or said: DP-SGD (refused), early stopping and resume
(the fit runs the planned epochs; the note says so).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import shards
from pipeline.config import Config
from pipeline.errors import BadInputError, IntegrityError

#: CPUs each training worker reserves (it reads its own rows: no reader tasks need a CPU beside it).
WORKER_CPUS = 1
WORKERS = 2
#: Mini-batches per batch handed to Lightning: LitClassifier takes one optimiser step per mini-batch of
#: the batch it gets, so the steps are the same and Lightning's per-batch cost is paid once for several.
STEPS_PER_READ = 16


@dataclass
class RayFit:
    model: object
    history: list[dict]
    summary: dict
    cost: dict
    notes: list[str]
    weight_hashes: list[str]


def rank_segments(files: list[tuple[str, int]], world: int) -> list[list[tuple[str, int, int]]]:
    """Per rank, its ``(file, first row, end row)`` runs: the rows of ``files`` (``(path, rows)`` in order)
    cut into ``world`` equal consecutive parts of ``total // world`` rows (the rest sit out)."""
    per_rank = sum(rows for _, rows in files) // world
    out: list[list[tuple[str, int, int]]] = [[] for _ in range(world)]
    offset = 0
    for path, rows in files:
        for rank in range(world):
            lo, hi = max(offset, rank * per_rank), min(offset + rows, (rank + 1) * per_rank)
            if lo < hi:
                out[rank].append((path, lo - offset, hi - offset))
        offset += rows
    return out


class ShardRows:
    """Lightning's batches for one rank: ``(x, y)`` float32/int64 tensors of ``size`` rows (the last
    one of an epoch smaller), read from ``segments`` a shard at a time. With a ``seed`` each epoch
    visits the segments in an order drawn from (seed, epoch, rank) and shuffles each one's rows with
    the same generator; without, the rows come in order (validation). LitClassifier calls
    :meth:`set_epoch` at the start of every epoch."""

    def __init__(self, segments: list[tuple[str, int, int]], features: list[str], size: int, seed=None, rank=0):
        self.segments, self.features, self.size = segments, features, size
        self.seed, self.rank, self.epoch = seed, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        import torch

        rng = None if self.seed is None else np.random.default_rng([self.seed, self.epoch, self.rank])
        order = range(len(self.segments)) if rng is None else rng.permutation(len(self.segments))
        held_x, held_y = np.zeros((0, len(self.features)), dtype=np.float32), np.zeros(0, dtype=np.int64)
        for index in order:
            x, y = self._read(*self.segments[index])
            if rng is not None:
                shuffled = rng.permutation(len(y))
                x, y = x[shuffled], y[shuffled]
            x, y = np.concatenate([held_x, x]), np.concatenate([held_y, y])
            full = len(y) // self.size * self.size
            for start in range(0, full, self.size):
                yield torch.from_numpy(x[start : start + self.size]), torch.from_numpy(y[start : start + self.size])
            held_x, held_y = x[full:], y[full:]
        if len(held_y):
            yield torch.from_numpy(held_x), torch.from_numpy(held_y)

    def _read(self, path: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=[shards.LABEL, *self.features]).slice(start, stop - start)
        x = np.stack([table.column(c).to_numpy() for c in self.features], axis=1).astype(np.float32, copy=False)
        return x, table.column(shards.LABEL).to_numpy().astype(np.int64)


def state_sha256(state: dict) -> str:
    """A hash of the weights' values (names, shapes, bytes), the same on every rank when they are equal."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def train_loop(config: dict) -> None:
    """One Ray Train worker: the Lightning fit, then rank 0 reports the weights (every rank reports)."""
    import pytorch_lightning as pl
    import ray.train
    import torch
    import torch.distributed as dist
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

    from pipeline.models.mlp import MlpSpec
    from pipeline.training.fit import quiet_lightning
    from pipeline.training.lit import LitClassifier

    quiet_lightning()
    pl.seed_everything(config["seed"], workers=True, verbose=False)
    spec = MlpSpec(config["n_inputs"], tuple(config["hidden"]), config["n_classes"])
    module = LitClassifier(spec, config["lr"], config["batch_size"], config["weight_decay"], config["class_weights"])
    torch.set_num_threads(1)  # one CPU per worker
    rank = ray.train.get_context().get_world_rank()
    features, size = config["features"], config["batch_size"] * STEPS_PER_READ
    train = ShardRows(config["train_segments"][rank], features, size, seed=config["seed"], rank=rank)
    val = ShardRows(config["val_segments"], features, size) if config["validate"] else None
    trainer = pl.Trainer(
        max_epochs=config["epochs"],
        accelerator="cpu",
        devices="auto",
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if val is not None else 0,
        use_distributed_sampler=False,
    )
    trainer = prepare_trainer(trainer)
    trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    state = {k: v.detach().cpu() for k, v in module.model.state_dict().items()}
    hashes = [None] * dist.get_world_size()
    dist.all_gather_object(hashes, state_sha256(state))
    if ray.train.get_context().get_world_rank() != 0:
        ray.train.report({"rank": ray.train.get_context().get_world_rank()})
        return
    with tempfile.TemporaryDirectory() as folder:
        torch.save(state, Path(folder) / "model.pt")
        (Path(folder) / "history.json").write_text(json.dumps(module.history))
        ray.train.report(
            {"rank": 0, "weight_hashes": hashes, "epochs": len(module.history)},
            checkpoint=ray.train.Checkpoint.from_directory(folder),
        )


def class_counts(found: dict, n_classes: int) -> np.ndarray:
    """Training rows per class, from the shard manifest (int64, no pass over the data)."""
    counts = np.zeros(n_classes, dtype=np.int64)
    for entry in found["files"].values():
        if entry["split"] == "train":
            for i, n in entry["classes"].items():
                counts[int(i)] += int(n)
    return counts


def plan(cfg: Config, found: dict, n_classes: int) -> tuple[dict, list[str]]:
    """The workers' settings: the local fit's, with the epochs raised to ``train.min_steps`` steps per rank."""
    from pipeline.training.fit import steps_per_epoch

    settings = cfg.train
    if settings.dp.enabled:
        raise BadInputError("train.dp.enabled is true but engine.kind is 'ray': DP-SGD runs on the local engine only")
    counts = class_counts(found, n_classes)
    n_train = int(counts.sum())
    if n_train == 0:
        raise BadInputError("the training shards hold 0 rows; nothing to train on")
    per_epoch = steps_per_epoch(n_train, settings.batch_size, WORKERS)
    epochs = max(settings.epochs, -(-settings.min_steps // per_epoch))
    weights = (n_train / (n_classes * np.maximum(counts, 1))).tolist() if settings.class_weights else None
    notes = [f"trained on Ray Train: {WORKERS} workers x {WORKER_CPUS} CPU, {epochs} epochs"]
    if settings.patience > 0:
        notes.append(f"train.patience {settings.patience} is not applied on the ray engine: the planned epochs ran")
    if settings.resume:
        notes.append("train.resume is not applied on the ray engine: the fit started from scratch")
    config = {
        "train_segments": rank_segments(split_rows(found, "train"), WORKERS),
        "val_segments": [(path, 0, rows) for path, rows in split_rows(found, "val")],
        "seed": cfg.seed,
        "n_inputs": len(found["feature_columns"]),
        "hidden": list(settings.hidden),
        "n_classes": n_classes,
        "lr": settings.lr,
        "batch_size": settings.batch_size,
        "weight_decay": settings.weight_decay,
        "class_weights": weights,
        "features": list(found["feature_columns"]),
        "epochs": epochs,
        "validate": found["rows"].get("val", 0) > 0,
        "n_train": n_train,
    }
    return config, notes


def split_rows(found: dict, split: str) -> list[tuple[str, int]]:
    """A split's shards as ``(absolute path, rows)`` in the manifest's order. Absolute: Ray's workers do
    not run in the driver's folder (on a multi-node cluster the folder must be shared)."""
    return [(str(Path(name).resolve()), int(found["files"][name]["rows"])) for name in shards.split_files(found, split)]


def fit(ray, cfg: Config, found: dict, planned: tuple[dict, list[str]], storage: Path) -> RayFit:
    """Fit on the cluster ``ray`` is connected to, as :func:`plan` said; ``storage`` holds Ray Train's run
    folder (a temporary)."""
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipeline.models.mlp import MLP, MlpSpec
    from pipeline.training import cost
    from pipeline.training.fit import _summary, check_finite_state

    config, notes = planned
    n_classes = config["n_classes"]
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=WORKERS, use_gpu=False, resources_per_worker={"CPU": WORKER_CPUS}),
        run_config=RunConfig(storage_path=str(storage.resolve()), name="train"),
    )
    started = time.perf_counter()
    result = trainer.fit()
    wall = time.perf_counter() - started
    hashes = list(result.metrics["weight_hashes"])
    if len(set(hashes)) != 1:
        raise IntegrityError(f"the Ray Train workers ended with different weights (sha256 {hashes}); nothing is saved")
    with result.checkpoint.as_directory() as folder:
        weights = Path(folder) / "model.pt"
        state = torch.load(weights, weights_only=True)
        history = json.loads((Path(folder) / "history.json").read_text())
    check_finite_state(state, "the Ray Train checkpoint")
    spec = MlpSpec(config["n_inputs"], tuple(cfg.train.hidden), n_classes)
    model = MLP(spec)
    model.load_state_dict(state)
    model.eval()
    val_losses = [row.get("val_loss", float("inf")) for row in history]
    best = history[int(np.argmin(val_losses))]["epoch"] if history else None
    final = {"history": history, "stopped_early": False}
    summary = _summary(spec, final, {"best_epoch": best}, False, config["n_train"], cfg.train.batch_size, WORKERS)
    measured = cost.measured_cost(
        torch.device("cpu"),
        threads=None,
        world_size=WORKERS,
        precision=cfg.train.precision,
        strategy="ray_ddp",
        epochs_this_run=len(history),
        resumed_after_epoch=None,
        wall_s=wall,
        samples_this_run=config["n_train"] // WORKERS * WORKERS * len(history),
        energy={"status": "unavailable", "reason": "not measured on the ray engine (the fit runs in Ray's workers)"},
    )
    return RayFit(model, history, summary, {**measured, "engine": "ray"}, notes, hashes)
