"""Lightning callbacks: per-epoch checkpoint + best weights, and wall time per epoch."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from pipeline.training import checkpoint


class EpochState(pl.Callback):
    """Keeps the best weights (lowest val loss) in memory and writes the ``last`` checkpoint.

    Runs before the module's own ``on_train_epoch_end``, so it closes the epoch itself
    (``close_epoch`` is idempotent) to checkpoint the finished epoch's history row.
    """

    def __init__(self, path: Path | None, fingerprint: str, batches, best: dict | None = None):
        self.path, self.fingerprint, self.batches = path, fingerprint, batches
        self.best = best or {"val_loss": None, "state": None}
        self.optimizer_state: dict | None = None
        self.epoch_seconds: list[float] = []
        self._start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        if self.optimizer_state is not None:
            trainer.optimizers[0].load_state_dict(self.optimizer_state)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row = pl_module.close_epoch()
        self.epoch_seconds.append(time.perf_counter() - self._start)
        loss = row.get("val_loss")
        if loss is not None and (self.best["val_loss"] is None or loss < self.best["val_loss"]):
            self.best = {"val_loss": loss, "state": copy.deepcopy(pl_module.model.state_dict())}
        if self.path is not None and trainer.is_global_zero:
            checkpoint.save(self.path, self.snapshot(trainer, pl_module))

    def snapshot(self, trainer, pl_module) -> dict:
        """Everything needed to continue exactly where this epoch ended, as plain tensors/primitives."""
        stopper = next((cb for cb in trainer.callbacks if isinstance(cb, pl.callbacks.EarlyStopping)), None)
        return {
            "fingerprint": self.fingerprint,
            "epoch": len(pl_module.history),
            "model": {k: v.detach().cpu() for k, v in pl_module.model.state_dict().items()},
            "optimizer": trainer.optimizers[0].state_dict(),
            "history": list(pl_module.history),
            "best_val_loss": self.best["val_loss"],
            "best_state": self.best["state"],
            "early_stop_wait": int(stopper.wait_count) if stopper else 0,
            "torch_rng": torch.get_rng_state(),
            "batch_rng": self.batches.generator.get_state(),
        }
