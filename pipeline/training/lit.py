"""The LightningModule: owns the loss, the optimiser, the schedulers and the per-epoch metrics.

Why manual optimisation. A Lightning batch may hold several consecutive mini-batches
(:class:`~pipeline.training.batches.TensorBatches`), so that Lightning's fixed per-batch cost
(fetching, hooks, progress bookkeeping) is paid once for many optimiser steps; on a small MLP
that cost is as large as the step itself (benchmarks/TRAINING.md). Every step still goes
through Lightning's contract: ``manual_backward`` (precision plugin, gradient scaler, DDP's
gradient sync) and the ``LightningOptimizer`` wrapper, whose ``step`` counts each optimiser
step in ``trainer.global_step``. Under manual optimisation Lightning leaves schedulers to the
module; :meth:`LitClassifier.configure_optimizers` may return them in Lightning's usual form
and they are stepped as their ``interval`` says: after every optimiser step (``"step"``) or
at the end of every epoch (``"epoch"``), each ``frequency`` times.

Train metrics come from the logits each mini-batch had before its step, kept (detached) and
reduced once per epoch: nothing is computed per step for them, and the figures do not depend
on how mini-batches are grouped into Lightning batches.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from pipeline.errors import BadInputError, IntegrityError
from pipeline.models.mlp import MLP, MlpSpec

#: Order of the per-split sums: weighted loss sum, weight sum, correct count, rows.
_SUMS = 4


def adam(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where every parameter's device supports it."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


class LitClassifier(pl.LightningModule):
    """Cross-entropy training of :class:`MLP` with Adam; records one history row per epoch.

    ``epoch_offset`` is the number of epochs already done by a resumed run, so history rows
    and the data order (``TensorBatches.set_epoch``) continue where the checkpoint left off.
    ``row_weights``: training batches carry a third tensor, each row's loss weight (mean 1
    over the split; :func:`pipeline.training.fit.row_weights`); a mini-batch's loss is then the
    mean of ``weight * cross_entropy``. Otherwise it is torch's (class-weighted) mean.
    """

    def __init__(
        self,
        spec: MlpSpec,
        lr: float,
        batch_size: int,
        weight_decay: float = 0.0,
        class_weights: list[float] | None = None,
        epoch_offset: int = 0,
        row_weights: bool = False,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.model = MLP(spec)
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weight", weight, persistent=False)
        self.epoch_offset = epoch_offset
        self.row_weights = row_weights
        self.optimizer_state: dict | None = None  # set by a resumed run before fit
        self.history: list[dict] = []
        self._outputs: dict[str, list[tuple]] = {}
        self._pending_val: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def epoch(self) -> int:
        """The epoch number counted from the very first run, resumed or not."""
        return self.epoch_offset + int(self.current_epoch)

    def _loss(self, logits, y, w) -> torch.Tensor:
        """The mini-batch's mean loss: torch's (class-weighted) mean, or mean(w * cross-entropy)."""
        if w is None:
            return F.cross_entropy(logits.float(), y, weight=self.class_weight)
        return (F.cross_entropy(logits.float(), y, reduction="none") * w).mean()

    def _keep(self, split: str, logits, y, w) -> None:
        """Keep a batch's (detached) logits, labels and row weights for the epoch's figures."""
        self._outputs.setdefault(split, []).append((logits.detach(), y, w))

    def _epoch_sums(self, split: str) -> torch.Tensor:
        """Weighted loss sum, weight sum, correct count and rows of the epoch's kept batches.

        Computed once per epoch over all kept rows, so the figures cost nothing per step and do
        not depend on how mini-batches were grouped into Lightning batches.
        """
        kept = self._outputs.pop(split, [])
        if not kept:
            return torch.zeros(_SUMS, device=self.device)
        logits = torch.cat([k[0] for k in kept]).float()
        y = torch.cat([k[1] for k in kept])
        losses = F.cross_entropy(logits, y, reduction="none")
        if kept[0][2] is not None:
            weights = torch.cat([k[2] for k in kept])
        elif self.class_weight is not None:
            weights = self.class_weight[y]
        else:
            weights = torch.ones_like(losses)
        correct = (logits.argmax(1) == y).sum().to(losses.dtype)
        return torch.stack([(losses * weights).sum(), weights.sum(), correct, losses.new_tensor(float(len(y)))])

    def _epoch_means(self, split: str) -> dict[str, float]:
        """Epoch loss and accuracy over every process's rows (all processes must call this)."""
        sums = self._epoch_sums(split)
        if self.trainer.world_size > 1:
            sums = self.all_gather(sums).reshape(-1, _SUMS).sum(0)
        loss, weight, correct, n = sums.tolist()
        if n == 0:
            return {}
        return {f"{split}_loss": loss / weight, f"{split}_accuracy": correct / n}

    def training_step(self, batch, batch_idx):
        """One optimiser step per mini-batch of the Lightning batch, exactly as a plain loop."""
        x, y, w = batch if self.row_weights else (*batch, None)
        optimizer = self.optimizers()
        step_schedulers = self._scheduler_configs("step")
        size = self.batch_size
        for start in range(0, len(y), size):
            xb, yb = x[start : start + size], y[start : start + size]
            wb = None if w is None else w[start : start + size]
            logits = self.model(xb)
            loss = self._loss(logits, yb, wb)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            for config in step_schedulers:
                if self.trainer.global_step % config.frequency == 0:
                    config.scheduler.step()
            self._keep("train", logits, yb, wb)

    def _scheduler_configs(self, interval: str) -> list:
        """Lightning's scheduler configs (from ``configure_optimizers``) with this interval."""
        return [c for c in self.trainer.lr_scheduler_configs if c.interval == interval]

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self._keep("val", self.model(x), y, None)

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(self.epoch)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._pending_val = self._epoch_means("val")

    def on_train_epoch_end(self) -> None:
        for config in self._scheduler_configs("epoch"):
            if (self.current_epoch + 1) % config.frequency == 0:
                config.scheduler.step()
        row = {"epoch": self.epoch, **self._epoch_means("train"), **self._pending_val}
        self._pending_val = {}
        self._refuse_divergence(row)
        self.history.append(row)

    def _refuse_divergence(self, row: dict) -> None:
        """Stop before this epoch is checkpointed if its loss or the weights are not finite.

        Runs before the checkpoint callback (Lightning calls the module's hook first), so the
        last checkpoint on disk stays the previous, finite epoch and no model is written.
        """
        loss = row.get("train_loss")
        finite_weights = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        if finite_weights and (loss is None or math.isfinite(loss)):
            return
        raise BadInputError(
            f"training diverged in epoch {row['epoch']}: training loss {loss}, "
            f"{'finite' if finite_weights else 'non-finite'} weights. Nothing is saved (the previous model and "
            f"checkpoint stay as they were); lower train.lr (now {self.lr:g}), check the prepared data for extreme "
            f"values, or train at a wider precision (train.precision is {self.trainer.precision})"
        )

    def configure_optimizers(self):
        """Adam over the network's parameters, carrying a resumed run's optimiser state."""
        optimizer = adam(self.parameters(), self.lr, self.weight_decay)
        if self.optimizer_state is not None:
            try:
                optimizer.load_state_dict(self.optimizer_state)
            except ValueError as err:
                raise IntegrityError(
                    f"the checkpoint's optimiser state does not fit this training ({err}); it was written by "
                    "another version of the training code. Delete it or set train.resume: false to start "
                    "training from scratch"
                ) from err
        return optimizer
