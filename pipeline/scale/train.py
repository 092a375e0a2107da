"""``train`` on Ray Train: the project's LightningModule, fitted by data-parallel workers fed from the shards.

The same :class:`~pipeline.training.lit.LitClassifier` as the local fit, in a Lightning ``Trainer`` that
Ray Train wires up (``RayDDPStrategy``, ``RayLightningEnvironment``, ``prepare_trainer``): gradients are
all-reduced every step, so every rank holds the same weights; rank 0 hands them back once, as a Ray
Train checkpoint, with every rank's weight hash so the driver can check they are equal before writing
the usual ``models/model.pt``. Rows come from the Parquet shards through ``get_dataset_shard`` (the
training set split equally, so every rank takes the same number of steps: an uneven split would hang
the all-reduce, so up to ``WORKERS - 1`` training rows sit out each epoch where the local DDP fit pads
instead); validation whole on each rank (its all-gathered sums count every row once per rank, which
leaves the loss and accuracy ratios exact).

CPU budgets: each worker asks for ``WORKER_CPUS``; on a 2-CPU machine two workers asking one CPU each
left nothing for Ray Data's read tasks and the fit hung.

Not carried over from the local fit, and refused or said: DP-SGD (refused), early stopping and resume
(the fit runs the planned epochs; the note says so), bitwise reruns (Ray Data's streaming order is not
promised between runs).
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

#: CPUs each training worker reserves: half a core, so the readers always have one.
WORKER_CPUS = 0.5
WORKERS = 2
#: Mini-batches per batch read from Ray Data: LitClassifier takes one optimiser step per mini-batch of
#: the batch it gets, so the steps are the same and the readers' per-batch cost is paid once for several.
STEPS_PER_READ = 16


@dataclass
class RayFit:
    model: object
    history: list[dict]
    summary: dict
    cost: dict
    notes: list[str]
    weight_hashes: list[str]


def _batches(shard, features: list[str], batch_size: int, *, seed: int | None):
    """(x, y) float32/int64 batches of a dataset shard, in the shape LitClassifier takes."""
    import torch

    def collate(batch: dict) -> tuple:
        x = np.stack([batch[c] for c in features], axis=1).astype(np.float32, copy=False)
        return torch.from_numpy(x), torch.from_numpy(np.asarray(batch["y"], dtype=np.int64))

    shuffle = {"local_shuffle_buffer_size": 2 * batch_size, "local_shuffle_seed": seed} if seed is not None else {}
    return shard.iter_torch_batches(batch_size=batch_size, collate_fn=collate, **shuffle)


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
    features, size = config["features"], config["batch_size"] * STEPS_PER_READ
    train = _batches(ray.train.get_dataset_shard("train"), features, size, seed=config["seed"])
    val = _batches(ray.train.get_dataset_shard("val"), features, size, seed=None) if config["validate"] else None
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


def read(ray, found: dict, split: str, columns: list[str]):
    """A split's shards as a Ray dataset. Absolute paths: Ray's read tasks do not run in the driver's
    folder (on a multi-node cluster the folder must be shared, or the shards copied to shared storage)."""
    files = [str(Path(name).resolve()) for name in shards.split_files(found, split)]
    return ray.data.read_parquet(files).select_columns(columns)


def fit(ray, cfg: Config, found: dict, planned: tuple[dict, list[str]], storage: Path) -> RayFit:
    """Fit on the cluster ``ray`` is connected to, as :func:`plan` said; ``storage`` holds Ray Train's run
    folder (a temporary)."""
    import ray.data
    import torch
    from ray.train import DataConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipeline.models.mlp import MLP, MlpSpec
    from pipeline.training import cost
    from pipeline.training.fit import _summary, check_finite_state

    config, notes = planned
    n_classes = config["n_classes"]
    columns = [shards.LABEL, *found["feature_columns"]]
    datasets = {"train": read(ray, found, "train", columns)}
    if config["validate"]:
        datasets["val"] = read(ray, found, "val", columns)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=WORKERS, use_gpu=False, resources_per_worker={"CPU": WORKER_CPUS}),
        run_config=RunConfig(storage_path=str(storage.resolve()), name="train"),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=["train"]),  # every rank validates on every row
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
        samples_this_run=-(-config["n_train"] // WORKERS) * WORKERS * len(history),
        energy={"status": "unavailable", "reason": "not measured on the ray engine (the fit runs in Ray's workers)"},
    )
    return RayFit(model, history, summary, {**measured, "engine": "ray"}, notes, hashes)
