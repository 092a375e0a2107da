"""The LightningModule: owns the loss, the optimiser and the per-epoch metrics.

Per-step ``self.log`` calls cost more than a small MLP's step, so losses and correct counts are
summed on the device and turned into numbers once per epoch.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from pipeline.models.mlp import MLP, MlpSpec


class LitClassifier(pl.LightningModule):
    def __init__(self, spec: MlpSpec, lr: float, weight_decay: float = 0.0, class_weights: list[float] | None = None):
        super().__init__()
        self.save_hyperparameters(
            {"spec": spec.to_dict(), "lr": lr, "weight_decay": weight_decay, "class_weights": class_weights}
        )
        self.model = MLP(spec)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss_fn = nn.CrossEntropyLoss(weight=weight)
        self.history: list[dict] = []
        self.epoch_offset = 0  # epochs completed before a resume
        self._closed_epoch = -1
        self._sums: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _accumulate(self, split: str, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        n = torch.tensor(float(len(y)), device=logits.device)
        stats = torch.stack([loss.detach().float() * n, (logits.argmax(1) == y).sum().float(), n])
        self._sums[split] = self._sums.get(split, torch.zeros(3, device=logits.device)) + stats

    def _epoch_means(self, split: str) -> dict[str, float]:
        sums = self._sums.pop(split, None)
        if sums is None:
            return {}
        if self.trainer.world_size > 1:
            sums = self.all_gather(sums).reshape(-1, 3).sum(0)
        loss, correct, n = sums.tolist()
        return {f"{split}_loss": loss / max(n, 1), f"{split}_accuracy": correct / max(n, 1)}

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self._accumulate("train", logits, y, loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        self._accumulate("val", logits, y, self.loss_fn(logits, y))

    def on_validation_epoch_end(self) -> None:
        means = self._epoch_means("val")
        if means and not self.trainer.sanity_checking:
            self.log("val_loss", means["val_loss"], sync_dist=False)
            self._pending_val = means

    def close_epoch(self) -> dict:
        """Append this epoch's history row once (callbacks may call it before the module hook)."""
        if self._closed_epoch != self.current_epoch:
            self._closed_epoch = int(self.current_epoch)
            row = {
                "epoch": self.epoch_offset + int(self.current_epoch),
                **self._epoch_means("train"),
                **getattr(self, "_pending_val", {}),
            }
            self._pending_val = {}
            self.history.append(row)
        return self.history[-1]

    def on_train_epoch_end(self) -> None:
        self.close_epoch()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
