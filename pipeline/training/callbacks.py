"""End-of-epoch work: early stopping on validation loss and the ``last`` checkpoint.

Both live in one callback because the checkpoint must hold the early-stopping state of the
same epoch. It subclasses Lightning's ``Checkpoint`` so that Lightning runs it after the
LightningModule's ``on_train_epoch_end`` (which computes the epoch's figures), as it does for
its own ``ModelCheckpoint``.
"""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning.callbacks import Checkpoint

from pipeline.training import checkpoint


class EpochEnd(Checkpoint):
    """Track the best validation loss, stop after ``patience`` epochs without improvement, and
    write the ``last`` checkpoint (global rank 0 only) after every epoch.

    ``patience == 0`` turns early stopping off; the best epoch is then not tracked and the
    final weights are the last epoch's.
    """

    def __init__(
        self,
        path: Path,
        fingerprint: dict[str, str],
        *,
        patience: int,
        max_epochs: int,
        resumed: dict | None = None,
    ):
        super().__init__()
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.patience = patience
        self.max_epochs = max_epochs
        stop = (resumed or {}).get("early_stopping") or {}
        self.best_loss: float | None = stop.get("best_loss")
        self.best_epoch: int | None = stop.get("best_epoch")
        self.bad_epochs: int = int(stop.get("bad_epochs", 0))
        self.best_model: dict | None = stop.get("best_model")

    def _update_early_stopping(self, row: dict, pl_module) -> bool:
        """Record an improvement or count a bad epoch; return True when training should stop."""
        if self.patience == 0 or row.get("val_loss") is None:
            return False
        if self.best_loss is None or row["val_loss"] < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = row["val_loss"], row["epoch"], 0
            self.best_model = checkpoint.to_cpu(pl_module.model.state_dict())
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row = pl_module.history[-1]
        if self._update_early_stopping(row, pl_module):
            trainer.should_stop = True
        finished = trainer.should_stop or row["epoch"] >= self.max_epochs - 1
        if not trainer.is_global_zero:
            return
        state = {
            **self.fingerprint,
            "epoch": int(row["epoch"]),
            "finished": bool(finished),
            "stopped_early": bool(trainer.should_stop and row["epoch"] < self.max_epochs - 1),
            "model": checkpoint.to_cpu(pl_module.model.state_dict()),
            "optimizer": checkpoint.to_cpu(trainer.strategy.optimizer_state(trainer.optimizers[0])),
            "history": list(pl_module.history),
            "early_stopping": {
                "patience": self.patience,
                "best_loss": self.best_loss,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "best_model": self.best_model,
            },
        }
        checkpoint.write(self.path, state)
