"""The LightningModule: owns the loss, the optimiser and the per-epoch metrics.

Speed choices, each measured on 2 CPU cores (Adult, MLP 64-64, 10 epochs; the end result is in
benchmarks/TRAINING.md, the single-choice figures were measured while building it):

* Manual optimisation. Lightning's automatic optimisation wraps every step in a closure and
  a dozen hooks; on a 10k-parameter MLP that doubles the time of a step. Here the step is
  written out (``zero_grad``, backward, ``step``). Where Lightning's backward and optimiser
  wrappers add nothing but hooks we do not use (one device, no gradient scaler:
  :func:`lightning_wrappers_are_noops`), the step calls torch directly, like a hand-written
  loop; otherwise it goes through ``manual_backward`` and Lightning's optimiser wrapper, which
  keep the precision plugin, the gradient scaler and DDP's gradient sync in the loop.
* Hand-derived gradients (:mod:`pipeline.models.backprop`) where the wrappers are no-ops and
  the precision is ``32-true``: the step writes the loss gradients of the MLP straight into
  one flat gradient tensor and Adam updates one flat parameter tensor, which saves autograd's
  per-op bookkeeping and the optimiser's per-tensor Python cost: at batch 64 on one thread a
  plain loop took 4.1 s with autograd and fused Adam, 2.2 s with this step (TRAINING.md,
  2026-11-29 01:17 UTC). Everywhere else (DDP, mixed precision) the step uses autograd.
* Fused Adam (one kernel for every parameter's update instead of a dozen ops per parameter)
  where the parameters' device supports it: the same algorithm; a plain loop at batch 64
  took 4.4 s with it and 6.7 s with torch's default Adam (2 threads, measured while building
  benchmarks/TRAINING.md).
* Several mini-batches per Lightning item (``TensorBatches.steps_per_item``). Lightning's
  per-item bookkeeping (fetching, hooks, progress counters) is paid once per item; the
  module loops over the mini-batches inside. The sequence of mini-batches and optimiser steps
  is exactly the one of a plain loop. Going from 8 items per epoch to 1 took batch 512 from
  1.23-1.28 s to 1.03-1.06 s (one thread). Under DDP an item is one mini-batch, because DDP
  expects one backward pass per forward call of the wrapped module.
* No ``self.log`` and no metric arithmetic per step: the step keeps its (detached) logits,
  and the item's loss sum and correct count are computed from them once per item, in a
  handful of tensor ops; they become numbers once per epoch. Under DDP they are all-gathered
  so the epoch figures cover every process's rows.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from pipeline.errors import IntegrityError
from pipeline.models.backprop import MlpGradients, batch_targets, flatten_parameters
from pipeline.models.mlp import MLP, MlpSpec

#: Order of the per-split running sums: weighted loss sum, weight sum, correct count, rows.
_SUMS = 4


def lightning_wrappers_are_noops(trainer) -> bool:
    """Whether ``loss.backward()`` and ``optimizer.step()`` do exactly what Lightning's wrappers do.

    The wrappers route backward and step through the strategy and the precision plugin, which
    matters for a gradient scaler (``16-mixed``), DDP (its backward preparation) or a sharding
    strategy (FSDP, DeepSpeed). On one device without a scaler they only add the
    ``on_before_backward``/``on_after_backward``/``on_before_optimizer_step`` hooks, which no
    callback of ours uses, and the ``global_step`` count (it then stays 0; nothing here reads
    it).
    """
    from pytorch_lightning.strategies import SingleDeviceStrategy

    single = type(trainer.strategy) is SingleDeviceStrategy
    return single and getattr(trainer.precision_plugin, "scaler", None) is None


def uses_hand_gradients(trainer) -> bool:
    """Whether the step may compute gradients by hand: no-op wrappers and plain float32 math.

    Under ``bf16-mixed`` the wrappers are no-ops too, but autocast changes the dtypes of the
    matrix products, which only autograd follows.
    """
    return lightning_wrappers_are_noops(trainer) and str(trainer.precision) == "32-true"


def adam(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where every parameter's device supports it."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


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
        row_weights: bool = False,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.model = MLP(spec)
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weight", weight, persistent=False)
        self.epoch_offset = epoch_offset
        self.row_weights = row_weights  # training items carry a third tensor: per-row loss weights
        self.optimizer_state: dict | None = None  # set by a resumed run before fit
        self.history: list[dict] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._pending_val: dict[str, float] = {}
        self._direct = False  # configure_optimizers: call torch's backward and step without Lightning's wrappers
        self._gradients: MlpGradients | None = None  # configure_optimizers: the hand-gradient path

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
        """Add one batch's (or one item's) loss sum, weight sum, correct count and rows."""
        terms = torch.stack([loss_sum.detach(), weight_sum.detach(), (logits.argmax(1) == y).sum().to(loss_sum.dtype)])
        sums = self._sums.get(split)
        if sums is None:
            sums = self._sums[split] = torch.zeros(_SUMS, device=logits.device)
        sums[:3] += terms
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

    def training_step(self, batch, batch_idx):
        """Take one optimiser step per mini-batch of the item, exactly as a plain loop would."""
        if self.row_weights:
            x, y, w = batch
            logits = self._autograd_steps(x, y, w)
            loss_sum = (F.cross_entropy(logits.float(), y, reduction="none") * w).sum()
            self._accumulate("train", logits, y, loss_sum, w.sum())
            return
        x, y = batch
        if self._gradients is not None:
            logits = self._hand_gradient_steps(x, y)
        else:
            logits = self._autograd_steps(x, y)
        self._accumulate("train", logits, y, *self._loss_terms(logits, y))

    def _hand_gradient_steps(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Steps with :class:`MlpGradients`; returns the logits each row had before its step."""
        optimizer = self.optimizers(use_pl_optimizer=False)
        size = self.batch_size
        one_hot, share = batch_targets(y, self.model.spec.n_classes, size, self.class_weight)
        outputs = []
        for start in range(0, len(y), size):
            end = start + size
            outputs.append(self._gradients.step(x[start:end], one_hot[start:end], share[start:end]))
            optimizer.step()
        return torch.cat(outputs)

    def _autograd_steps(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """Steps with autograd, through Lightning's wrappers unless they are no-ops.

        With per-row weights ``w`` (mean 1 over the split) a mini-batch's loss is the mean of
        ``w * cross_entropy``; see :func:`pipeline.training.fit.row_weights`.
        """
        direct = self._direct
        optimizer = self.optimizers(use_pl_optimizer=not direct)
        backward = torch.Tensor.backward if direct else self.manual_backward
        model, weight, size = self.model, self.class_weight, self.batch_size
        outputs = []
        for start in range(0, len(y), size):
            logits = model(x[start : start + size])
            if w is None:
                loss = F.cross_entropy(logits.float(), y[start : start + size], weight=weight)
            else:
                rows = F.cross_entropy(logits.float(), y[start : start + size], reduction="none")
                loss = (rows * w[start : start + size]).mean()
            optimizer.zero_grad()
            backward(loss)
            optimizer.step()
            outputs.append(logits.detach())
        return torch.cat(outputs)

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
        """Adam over one flat parameter on the hand-gradient path, over the layers otherwise.

        Lightning calls this after moving the module to its device, so the flat tensor lives
        there too.
        """
        self._direct = lightning_wrappers_are_noops(self.trainer)
        if uses_hand_gradients(self.trainer) and not self.row_weights:
            optimizer = adam([flatten_parameters(self.model)], self.lr, self.weight_decay)
            self._gradients = MlpGradients(self.model)
        else:
            optimizer = adam(self.parameters(), self.lr, self.weight_decay)
        if self.optimizer_state is not None:
            try:
                optimizer.load_state_dict(self.optimizer_state)
            except ValueError as err:
                raise IntegrityError(
                    f"the checkpoint's optimiser state does not fit this training ({err}); it was written by "
                    "another version of the training code or another kind of device setup. Delete it or set "
                    "train.resume: false to start training from scratch"
                ) from err
        return optimizer
