"""The LightningModule: owns the loss, the optimiser and the per-epoch metrics.

Speed choices, each measured (benchmarks/TRAINING.md):

* Manual optimisation. Lightning's automatic optimisation wraps every step in a closure and
  a dozen hooks; on a 10k-parameter MLP that doubles the time of a step. Here the step is
  written out (``zero_grad``, ``manual_backward``, ``step``). ``manual_backward`` keeps the
  precision plugin and DDP's gradient sync in the loop; the optimiser step goes straight to
  torch where that is exactly equivalent (:func:`plain_step_is_exact`), and through Lightning's
  wrapper otherwise (gradient scaler, sharded strategies).
* Several mini-batches per Lightning item (``TensorBatches.steps_per_item``). Lightning's
  per-item bookkeeping (fetching, hooks, progress counters) is paid once per item; the
  module loops over the mini-batches inside. The sequence of mini-batches and optimiser steps
  is exactly the one of a plain loop. Under DDP an item is one mini-batch, because DDP
  expects one backward pass per forward call of the wrapped module.
* No ``self.log`` per step: loss sums and correct counts accumulate on the device and become
  numbers once per epoch; under DDP they are all-gathered so the epoch figures cover every
  process's rows.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from pipeline.models.mlp import MLP, MlpSpec

#: Order of the per-split running sums: weighted loss sum, weight sum, correct count, rows.
_SUMS = 4


def plain_step_is_exact(trainer) -> bool:
    """Whether ``optimizer.step()`` on the torch optimiser does exactly what Lightning's wrapper does.

    The wrapper routes the step through the strategy and precision plugin, which matters for a
    gradient scaler (``16-mixed``) or a sharding strategy (FSDP, DeepSpeed). For one device or DDP
    without a scaler it only adds hooks we do not use and the ``global_step`` count, at about
    65 us per step (measured, benchmarks/TRAINING.md). ``global_step`` then stays 0; nothing
    here reads it.
    """
    from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy

    strategy_ok = type(trainer.strategy) in (SingleDeviceStrategy, DDPStrategy)
    return strategy_ok and getattr(trainer.precision_plugin, "scaler", None) is None


class LitClassifier(pl.LightningModule):
    """Cross-entropy training of :class:`MLP` with Adam; records one history row per epoch.

    ``epoch_offset`` is the number of epochs already done by a resumed run, so history rows
    and the data order (``TensorBatches.set_epoch``) continue where the checkpoint left off.
    """

    def __init__(
        self,
        spec: MlpSpec,
        lr: float,
        batch_size: int,
        weight_decay: float = 0.0,
        class_weights: list[float] | None = None,
        epoch_offset: int = 0,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.model = MLP(spec)
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weight", weight, persistent=False)
        self.epoch_offset = epoch_offset
        self.optimizer_state: dict | None = None  # set by a resumed run before fit
        self.history: list[dict] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._pending_val: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def epoch(self) -> int:
        """The epoch number counted from the very first run, resumed or not."""
        return self.epoch_offset + int(self.current_epoch)

    def _loss_terms(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted loss sum and weight sum: their ratio is the mean loss, also across batches."""
        loss_sum = F.cross_entropy(logits.float(), y, weight=self.class_weight, reduction="sum")
        weight_sum = self.class_weight[y].sum() if self.class_weight is not None else logits.new_tensor(float(len(y)))
        return loss_sum, weight_sum

    def _accumulate(self, split: str, logits, y, loss_sum, weight_sum) -> None:
        sums = self._sums.get(split)
        if sums is None:
            sums = self._sums[split] = torch.zeros(_SUMS, device=logits.device)
        sums[0] += loss_sum.detach()
        sums[1] += weight_sum.detach()
        sums[2] += (logits.argmax(1) == y).sum()
        sums[3] += len(y)

    def _epoch_means(self, split: str) -> dict[str, float]:
        """Epoch loss and accuracy over every process's rows (all processes must call this)."""
        sums = self._sums.pop(split, None)
        if sums is None:
            sums = torch.zeros(_SUMS, device=self.device)
        if self.trainer.world_size > 1:
            sums = self.all_gather(sums).reshape(-1, _SUMS).sum(0)
        loss, weight, correct, n = sums.tolist()
        if n == 0:
            return {}
        return {f"{split}_loss": loss / weight, f"{split}_accuracy": correct / n}

    def on_train_start(self) -> None:
        self._plain_step = plain_step_is_exact(self.trainer)

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.optimizers(use_pl_optimizer=not getattr(self, "_plain_step", False))
        size = self.batch_size
        for start in range(0, len(y), size):
            xb, yb = x[start : start + size], y[start : start + size]
            logits = self.model(xb)
            loss_sum, weight_sum = self._loss_terms(logits, yb)
            optimizer.zero_grad()
            self.manual_backward(loss_sum / weight_sum)
            optimizer.step()
            self._accumulate("train", logits, yb, loss_sum, weight_sum)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        self._accumulate("val", logits, y, *self._loss_terms(logits, y))

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(self.epoch)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._pending_val = self._epoch_means("val")

    def on_train_epoch_end(self) -> None:
        row = {"epoch": self.epoch, **self._epoch_means("train"), **self._pending_val}
        self._pending_val = {}
        self.history.append(row)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        return optimizer
