"""The LightningDataModule: hands each process its batches of the in-memory splits.

Loaders are built in ``train_dataloader``/``val_dataloader``, which Lightning calls inside every
process after the strategy is set up, so each DDP process knows its rank and takes its own shard
(Lightning only shards ``torch.utils.data.DataLoader`` by itself, not plain iterables).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from pipeline.training.batches import TensorBatches

#: Rows per Lightning batch when several mini-batches are grouped (see ``TensorBatches``):
#: Lightning's bookkeeping is paid per Lightning batch, so fewer, larger ones cost less. Kept
#: because the train stage as a whole process was faster with it in every measurement (0.1-0.4 s
#: of CPU time of a 6 s process on Adult, 0.4 s of wall time on a quiet machine;
#: benchmarks/TRAINING.md, "Mini-batch grouping"). Each is gathered on its own, so a shuffled epoch holds an item or two
#: in memory, not a second copy of the split. Nothing needs them to be short: a SIGTERM is turned into
#: KeyboardInterrupt by the signal handler wherever the step is, and the checkpoint is written
#: per epoch anyway. Grouping is off whenever something may watch single batches
#: (``group_steps=False``; see :func:`pipeline.training.fit.fit`).
ROWS_PER_ITEM = 65536
#: Validation rows per batch (no gradients, so memory is the only limit).
VAL_BATCH = 8192


class TensorDataModule(pl.LightningDataModule):
    """Train and validation tensors; training order seeded per epoch, validation in order."""

    def __init__(
        self, x_train, y_train, x_val, y_val, *, batch_size: int, seed: int, group_steps: bool = True, w_train=None
    ):
        super().__init__()
        self.x_train, self.y_train = torch.as_tensor(x_train), torch.as_tensor(y_train)
        self.w_train = None if w_train is None else torch.as_tensor(w_train)
        self.x_val, self.y_val = torch.as_tensor(x_val), torch.as_tensor(y_val)
        self.batch_size, self.seed, self.group_steps = batch_size, seed, group_steps

    def _placement(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def steps_per_item(self, world_size: int) -> int:
        """Mini-batches per Lightning batch: grouped on one process, one each under DDP (DDP
        expects one backward pass per forward call of the wrapped module)."""
        if not self.group_steps or world_size > 1:
            return 1
        return max(1, ROWS_PER_ITEM // self.batch_size)

    def train_dataloader(self) -> TensorBatches:
        rank, world = self._placement()
        return TensorBatches(
            self.x_train,
            self.y_train,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            steps_per_item=self.steps_per_item(world),
            rank=rank,
            world_size=world,
            w=self.w_train,
        )

    def val_dataloader(self) -> TensorBatches:
        rank, world = self._placement()
        return TensorBatches(self.x_val, self.y_val, VAL_BATCH, shuffle=False, rank=rank, world_size=world, pad=False)
