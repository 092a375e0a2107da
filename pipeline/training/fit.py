"""Fit the MLP with Lightning and return the trained network, its curves and its cost.

Deterministic figures (history, parameters, FLOPs, epochs) go in ``FitResult.history`` /
``FitResult.summary``; wall-clock figures (which vary run to run) go in ``FitResult.cost``.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import TrainSettings


@dataclass
class FitResult:
    model: object  # pipeline.models.mlp.MLP, on CPU, eval mode
    history: list[dict]
    summary: dict  # deterministic: same params + data -> same values
    cost: dict = field(default_factory=dict)  # measured: varies run to run
    resumed_from_epoch: int = 0
    is_global_zero: bool = True  # False in the extra DDP processes, which must not write outputs


def class_weights(y: np.ndarray, n_classes: int) -> list[float]:
    """Inverse-frequency weights ('balanced' in scikit-learn's sense)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return (len(y) / (n_classes * np.maximum(counts, 1))).tolist()


def seed_everything(seed: int) -> None:
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)


def build_trainer(settings: TrainSettings, callbacks: list, max_epochs: int | None = None, enable_val: bool = True):
    """Trainer with every per-step extra (progress bar, logger, checkpointing, summary) off: measured faster."""
    import pytorch_lightning as pl

    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
    return pl.Trainer(
        max_epochs=settings.epochs if max_epochs is None else max_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        precision=settings.precision,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        deterministic=settings.deterministic,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        limit_val_batches=1.0 if enable_val else 0,
    )


def _fit_keeping_interrupts(trainer, module, train_batches, val_batches) -> None:
    """Lightning turns KeyboardInterrupt (our SIGTERM too) into ``sys.exit(1)``; give the CLI its 130 back."""
    try:
        trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=val_batches)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt("training interrupted; the last completed epoch's checkpoint is kept") from None
        raise


def _restore(state: dict, module, batches, epoch_state) -> None:
    """Put model, RNGs, history and best weights back as they were after the checkpointed epoch."""
    import torch

    module.model.load_state_dict(state["model"])
    module.history = list(state["history"])
    module.epoch_offset = int(state["epoch"])
    epoch_state.optimizer_state = state["optimizer"]
    epoch_state.best = {"val_loss": state["best_val_loss"], "state": state["best_state"]}
    torch.set_rng_state(state["torch_rng"])
    batches.generator.set_state(state["batch_rng"])


def fit(
    settings: TrainSettings,
    seed: int,
    arrays: dict[str, dict[str, np.ndarray]],
    n_classes: int,
    checkpoint_path: Path | None = None,
) -> FitResult:
    """Train on ``arrays['train']``, validate each epoch on ``arrays['val']``; resume if asked."""
    import torch
    from pytorch_lightning.callbacks import EarlyStopping

    from pipeline.models.batches import TensorBatches
    from pipeline.models.lit import LitClassifier
    from pipeline.models.mlp import MlpSpec, count_parameters, flops_per_sample
    from pipeline.training import checkpoint, cost
    from pipeline.training.callbacks import EpochState

    seed_everything(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x_train = torch.from_numpy(arrays["train"]["X"])
    y_train = torch.from_numpy(arrays["train"]["y"])
    spec = MlpSpec(x_train.shape[1], tuple(settings.hidden), n_classes)
    weights = class_weights(arrays["train"]["y"], n_classes) if settings.class_weights else None
    module = LitClassifier(spec, lr=settings.lr, weight_decay=settings.weight_decay, class_weights=weights)
    train_batches = TensorBatches(x_train, y_train, settings.batch_size, shuffle=True, seed=seed)
    val_batches = TensorBatches(
        torch.from_numpy(arrays["val"]["X"]), torch.from_numpy(arrays["val"]["y"]), 8192, shuffle=False
    )
    print_fp = checkpoint.fingerprint(settings, seed, arrays)
    epoch_state = EpochState(checkpoint_path, print_fp, train_batches)
    done, wait = 0, 0
    if settings.resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        state = checkpoint.load(Path(checkpoint_path), print_fp)
        _restore(state, module, train_batches, epoch_state)
        done, wait = int(state["epoch"]), int(state.get("early_stop_wait", 0))
    callbacks: list = [epoch_state]
    stopper = None
    if settings.patience > 0:
        stopper = EarlyStopping(
            monitor="val_loss", patience=settings.patience, mode="min", check_on_train_epoch_end=False
        )
        if epoch_state.best["val_loss"] is not None:
            stopper.best_score = torch.tensor(epoch_state.best["val_loss"])
            stopper.wait_count = wait
        callbacks.append(stopper)
    stopped_before = stopper is not None and wait >= settings.patience
    remaining = 0 if stopped_before else settings.epochs - done
    start = time.perf_counter()
    with cost.Meter() as meter:
        if remaining > 0:
            trainer = build_trainer(settings, callbacks, max_epochs=remaining)
            _fit_keeping_interrupts(trainer, module, train_batches, val_batches)
            device = str(trainer.strategy.root_device)
            global_zero = trainer.is_global_zero
        else:
            device, global_zero = "cpu", True
    wall = time.perf_counter() - start
    best_epoch = None
    if settings.patience > 0 and epoch_state.best["state"] is not None:
        module.model.load_state_dict(epoch_state.best["state"])
        best_epoch = min(module.history, key=lambda r: r.get("val_loss", float("inf")))["epoch"]
    model = module.model.to("cpu").eval()
    epochs_run = len(module.history)
    summary = {
        "epochs_run": epochs_run,
        "epochs_max": settings.epochs,
        "stopped_early": bool(settings.patience > 0 and epochs_run < settings.epochs),
        "best_epoch": best_epoch,
        "parameters": count_parameters(model),
        "flops_per_sample_forward": flops_per_sample(spec),
        "flops_per_sample_train": 3 * flops_per_sample(spec),
        "train_samples": int(len(y_train)),
        "device": device.split(":")[0],
        "world_size": settings.num_nodes * (settings.devices if isinstance(settings.devices, int) else 1),
        "precision": settings.precision,
    }
    epochs_now = epochs_run - done
    cost_figures = {
        "wall_time_s": wall,
        "epochs_timed": epochs_now,
        "wall_time_per_epoch_s": (sum(epoch_state.epoch_seconds) / len(epoch_state.epoch_seconds))
        if epoch_state.epoch_seconds
        else None,
        "samples_per_s": len(y_train) * epochs_now / wall if wall > 0 and epochs_now else None,
        **meter.figures(),
    }
    return FitResult(
        model=model,
        history=module.history,
        summary=summary,
        cost=cost_figures,
        resumed_from_epoch=done,
        is_global_zero=global_zero,
    )
