"""Fit the MLP with Lightning and return the trained network, its curves and its cost."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from pipeline.config import TrainSettings


@dataclass
class FitResult:
    model: object  # pipeline.models.mlp.MLP, on CPU, eval mode
    history: list[dict]
    cost: dict


def class_weights(y: np.ndarray, n_classes: int) -> list[float]:
    """Inverse-frequency weights ('balanced' in scikit-learn's sense)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return (len(y) / (n_classes * np.maximum(counts, 1))).tolist()


def seed_everything(seed: int) -> None:
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)


def build_trainer(settings: TrainSettings, callbacks: list, enable_val: bool = True):
    import pytorch_lightning as pl

    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    return pl.Trainer(
        max_epochs=settings.epochs,
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


def fit(settings: TrainSettings, seed: int, arrays: dict[str, dict[str, np.ndarray]], n_classes: int) -> FitResult:
    """Train on ``arrays['train']``, validate each epoch on ``arrays['val']``."""
    import torch

    from pipeline.models.batches import TensorBatches
    from pipeline.models.lit import LitClassifier
    from pipeline.models.mlp import MlpSpec, count_parameters, flops_per_sample

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
    trainer = build_trainer(settings, callbacks=[])
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=val_batches)
    wall = time.perf_counter() - start
    model = module.model.to("cpu").eval()
    epochs_run = len(module.history)
    cost = {
        "wall_time_s": wall,
        "epochs_run": epochs_run,
        "wall_time_per_epoch_s": wall / max(epochs_run, 1),
        "samples_per_s": len(y_train) * epochs_run / wall if wall > 0 else None,
        "parameters": count_parameters(model),
        "flops_per_sample_forward": flops_per_sample(spec),
        "device": str(trainer.strategy.root_device),
    }
    return FitResult(model=model, history=module.history, cost=cost)
