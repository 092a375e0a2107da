"""Fit the MLP with Lightning and return the trained network, its curves and its cost.

Speed: batches are slices of tensors held in memory (``TensorBatches``), metrics are summed on
the device and read once per epoch, and the Trainer runs without logger, progress bar, model
summary or Lightning checkpointing; our own epoch hook writes the resumable checkpoint.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import TrainSettings
from pipeline.training import checkpoint


@dataclass
class FitResult:
    model: object  # pipeline.models.mlp.MLP, on CPU, eval mode
    history: list[dict]
    cost: dict
    summary: dict = field(default_factory=dict)  # deterministic facts: epochs, early stop, resume
    is_global_zero: bool = True


def class_weights(y: np.ndarray, n_classes: int) -> list[float]:
    """Inverse-frequency weights ('balanced' in scikit-learn's sense)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return (len(y) / (n_classes * np.maximum(counts, 1))).tolist()


def seed_everything(seed: int) -> None:
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)


def build_trainer(settings: TrainSettings, max_epochs: int):
    import pytorch_lightning as pl

    for pattern in (".*LeafSpec.*", ".*does not have many workers.*", ".*GPU available but not used.*", ".*litlogger.*"):
        warnings.filterwarnings("ignore", message=pattern)
    return pl.Trainer(
        max_epochs=max_epochs,
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
    )


class EpochEnd:
    """Runs after every epoch on rank 0's figures: early stopping on val loss and the checkpoint."""

    def __init__(self, settings: TrainSettings, fingerprint: str, ckpt_path: Path, batches, state: dict | None):
        self.settings, self.fingerprint, self.ckpt_path, self.batches = settings, fingerprint, ckpt_path, batches
        state = state or {}
        self.best_val = float(state.get("best_val", float("inf")))
        self.best_state = state.get("best_state") or None
        self.bad_epochs = int(state.get("bad_epochs", 0))
        self.stopped_early = False

    def __call__(self, module, row: dict) -> None:
        import torch

        val = row.get("val_loss", float("nan"))
        if val < self.best_val:
            self.best_val, self.bad_epochs = val, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in module.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        if self.settings.patience and self.bad_epochs >= self.settings.patience:
            module.trainer.should_stop = True
            self.stopped_early = True
        if module.trainer.is_global_zero:
            import json

            checkpoint.save(self.ckpt_path, {
                "fingerprint": self.fingerprint, "epochs_done": int(row["epoch"]) + 1,
                "model": {k: v.detach().cpu() for k, v in module.model.state_dict().items()},
                "optimizer": module.optimizers().optimizer.state_dict(), "history": json.dumps(module.history),
                "best_val": self.best_val, "best_state": self.best_state or {}, "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early, "torch_rng": torch.get_rng_state(),
                "batch_rng": self.batches.generator.get_state(),
            })  # fmt: skip


def _restore(module, batches, state: dict) -> None:
    """Put a checkpoint's weights, history and random state back before fitting the remaining epochs."""
    import json

    import torch

    module.model.load_state_dict(state["model"])
    module.history = json.loads(state["history"])
    module.epoch_offset = int(state["epochs_done"])
    torch.set_rng_state(state["torch_rng"])
    batches.generator.set_state(state["batch_rng"])
    optimizer_state = state["optimizer"]

    def load_optimizer(mod, _row=None):
        mod.optimizers().optimizer.load_state_dict(optimizer_state)

    module.on_train_start = lambda: load_optimizer(module)


def fit(settings: TrainSettings, seed: int, arrays: dict[str, dict[str, np.ndarray]], n_classes: int,
        ckpt_path: Path | None = None) -> FitResult:  # fmt: skip
    """Train on ``arrays['train']``, validate each epoch on ``arrays['val']``; resume if asked."""
    import torch

    from pipeline.models.batches import TensorBatches
    from pipeline.models.lit import LitClassifier
    from pipeline.models.mlp import MlpSpec, count_parameters, flops_per_sample
    from pipeline.training.cost import EnergyMeter, device_name, peak_memory

    seed_everything(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ckpt_path = ckpt_path or Path("models/checkpoints/last.pt")
    print_fp = checkpoint.fingerprint(settings.model_dump(mode="json"), seed, arrays)
    x_train, y_train = torch.from_numpy(arrays["train"]["X"]), torch.from_numpy(arrays["train"]["y"])
    spec = MlpSpec(x_train.shape[1], tuple(settings.hidden), n_classes)
    weights = class_weights(arrays["train"]["y"], n_classes) if settings.class_weights else None
    module = LitClassifier(spec, lr=settings.lr, weight_decay=settings.weight_decay, class_weights=weights)
    train_batches = TensorBatches(x_train, y_train, settings.batch_size, shuffle=True, seed=seed)
    val_batches = TensorBatches(torch.from_numpy(arrays["val"]["X"]), torch.from_numpy(arrays["val"]["y"]), 8192, shuffle=False)
    state = checkpoint.load(ckpt_path, print_fp) if settings.resume and ckpt_path.is_file() else None
    if state is not None:
        _restore(module, train_batches, state)
    done = int(state["epochs_done"]) if state else 0
    remaining = 0 if state and state.get("stopped_early") else settings.epochs - done
    hook = EpochEnd(settings, print_fp, ckpt_path, train_batches, state)
    module.epoch_end_hooks.append(hook)
    start = time.perf_counter()
    trainer = None
    with EnergyMeter("cpu" if settings.accelerator == "cpu" else _device_guess()) as meter:
        if remaining > 0:
            trainer = build_trainer(settings, remaining)
            trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=val_batches)
    wall = time.perf_counter() - start
    is_zero = trainer is None or trainer.is_global_zero
    history = module.history
    if trainer is not None and not history and ckpt_path.is_file():  # ddp_spawn: figures live in the checkpoint
        import json

        history = json.loads(checkpoint.load(ckpt_path, print_fp)["history"])
    model = module.model.to("cpu").eval()
    if settings.patience and hook.best_state:
        model.load_state_dict(hook.best_state)  # early stopping restores the best weights
    device = str(trainer.strategy.root_device) if trainer is not None else "cpu"
    epochs_now = len(history) - done
    cost = {
        "wall_time_s": wall, "epochs_this_run": epochs_now, "wall_time_per_epoch_s": wall / max(epochs_now, 1),
        "samples_per_s": len(y_train) * epochs_now / wall if wall > 0 and epochs_now else None,
        "device_name": device_name(device), **peak_memory(device), **getattr(meter, "result", {}),
    }  # fmt: skip
    summary = {
        "epochs_run": len(history), "resumed_from_epoch": done if state else None,
        "stopped_early": bool(hook.stopped_early or (state or {}).get("stopped_early", False)),
        "best_val_loss": hook.best_val if hook.best_val != float("inf") else None,
        "parameters": count_parameters(model), "flops_per_sample_forward": flops_per_sample(spec),
        "flops_per_sample_train": 3 * flops_per_sample(spec), "device": device, "precision": settings.precision,
    }  # fmt: skip
    return FitResult(model=model, history=history, cost=cost, summary=summary, is_global_zero=is_zero)


def _device_guess() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
