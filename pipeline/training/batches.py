"""Batches sliced from tensors held in memory.

A ``DataLoader(TensorDataset)`` indexes one row at a time and collates them back together; on
a small MLP that costs more than the model's own forward and backward pass. Here each item
(several mini-batches, see :class:`TensorBatches`) is one gather of its rows, and the training
step slices it into views. Gathering item by item instead of copying the whole shuffled split
at once keeps the memory a shuffle needs to the items in flight rather than a second copy of
the training data (benchmarks/RESULTS.md, train peak memory).

Two more things live here because they decide which rows a step sees:

* **Epoch-seeded order.** The order of epoch ``e`` comes from a generator seeded with
  ``(seed, e)``, not from a generator that advances as training goes. A run resumed at epoch
  ``e`` therefore sees exactly the rows an uninterrupted run would have seen, without saving
  any generator state (the idea of ``DistributedSampler.set_epoch``).
* **Sharding.** Under DDP every process draws the same permutation and keeps every
  ``world_size``-th row starting at its rank, padded by wrapping around so that every process
  runs the same number of steps (a process with one step fewer would hang the others in the
  gradient all-reduce).
"""

from __future__ import annotations

import torch

#: Mixes the epoch into the seed; a large odd constant keeps (seed, epoch) pairs apart.
_EPOCH_STRIDE = 1_000_003


def epoch_order(n_rows: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of ``range(n_rows)`` used in ``epoch`` (same in every process)."""
    generator = torch.Generator().manual_seed(seed * _EPOCH_STRIDE + epoch)
    return torch.randperm(n_rows, generator=generator)


def shard(order: torch.Tensor, rank: int, world_size: int, *, pad: bool = True) -> torch.Tensor:
    """This process's share of ``order``: every ``world_size``-th index.

    ``pad`` repeats indices from the start so every process gets the same count (needed for
    training steps; evaluation uses ``pad=False`` so that no row is counted twice).
    """
    if world_size == 1:
        return order
    if not pad:
        return order[rank::world_size]
    per_rank = -(-len(order) // world_size)
    total = per_rank * world_size
    if total > len(order):
        repeats = -(-total // len(order))
        order = order.repeat(repeats)[:total]
    return order[rank:total:world_size]


class TensorBatches:
    """Iterable of ``(x, y)`` items for Lightning (any iterable with ``__len__`` will do).

    Each item holds ``steps_per_item`` consecutive mini-batches of ``batch_size`` rows; the
    LightningModule splits it again and takes one optimiser step per mini-batch. With
    ``steps_per_item=1`` an item is one mini-batch. Grouping leaves the sequence of
    mini-batches unchanged and spreads Lightning's fixed per-item cost over several steps.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        steps_per_item: int = 1,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
        w: torch.Tensor | None = None,
    ):
        if batch_size < 1 or steps_per_item < 1:
            raise ValueError(f"batch_size and steps_per_item must be >= 1, got {batch_size} and {steps_per_item}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.x, self.y, self.w = x, y, w
        self.batch_size = batch_size
        self.steps_per_item = steps_per_item
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.pad = pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the row order of ``epoch`` (called at the start of every epoch)."""
        self.epoch = epoch

    def rows(self) -> int:
        """Rows this process sees per epoch (after sharding and padding)."""
        if self.world_size == 1:
            return len(self.y)
        if not self.pad:
            return len(range(self.rank, len(self.y), self.world_size))
        return -(-len(self.y) // self.world_size)

    def steps(self) -> int:
        """Optimiser steps (mini-batches) per epoch in this process."""
        return -(-self.rows() // self.batch_size)

    def __len__(self) -> int:
        return -(-self.steps() // self.steps_per_item)

    def __iter__(self):
        """Items ``(x, y)``, or ``(x, y, w)`` when per-row weights were given.

        Unshuffled single-process items are views; otherwise each item is gathered on its own,
        so no item shares memory with another (a kept slice of one stays valid all epoch).
        """
        tensors = (self.x, self.y) if self.w is None else (self.x, self.y, self.w)
        rows = None
        if self.shuffle or self.world_size > 1:
            order = epoch_order(len(self.y), self.seed, self.epoch) if self.shuffle else torch.arange(len(self.y))
            rows = shard(order, self.rank, self.world_size, pad=self.pad)
        item = self.batch_size * self.steps_per_item
        for start in range(0, len(self.y) if rows is None else len(rows), item):
            if rows is None:
                yield tuple(t[start : start + item] for t in tensors)
            else:
                index = rows[start : start + item]
                yield tuple(torch.index_select(t, 0, index) for t in tensors)
