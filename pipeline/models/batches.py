"""Batches sliced from tensors held in memory.

A ``DataLoader(TensorDataset)`` indexes one row at a time and collates them back together; on
Adult that costs more than the model's own forward and backward pass. Slicing a shuffled copy
of the whole tensor costs one gather per epoch and one view per batch.
"""

from __future__ import annotations

import torch


class TensorBatches:
    """Iterable of ``(x, y)`` batches; reshuffled each epoch from a seeded generator.

    Lightning accepts any iterable with ``__len__`` as a dataloader.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool, seed: int = 0):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        x, y = self.x, self.y
        if self.shuffle:
            order = torch.randperm(len(y), generator=self.generator)
            x, y = x[order], y[order]
        for start in range(0, len(y), self.batch_size):
            yield x[start : start + self.batch_size], y[start : start + self.batch_size]
