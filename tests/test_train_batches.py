"""In-memory batches: seeded order per epoch, DDP shards, grouped mini-batches."""

from __future__ import annotations

import pytest
import torch

from pipeline.training.batches import TensorBatches, epoch_order, shard


def _data(n: int = 103):
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    return x, torch.arange(n)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(50, 7, 3), epoch_order(50, 7, 3))
    assert not torch.equal(epoch_order(50, 7, 3), epoch_order(50, 7, 4))
    assert not torch.equal(epoch_order(50, 7, 3), epoch_order(50, 8, 3))
    assert sorted(epoch_order(50, 7, 3).tolist()) == list(range(50))


def test_padded_shards_cover_every_row_with_equal_lengths():
    order = epoch_order(103, 1, 0)
    shards = [shard(order, rank, 4) for rank in range(4)]
    assert {len(s) for s in shards} == {26}  # ceil(103 / 4)
    assert set(torch.cat(shards).tolist()) == set(range(103))


def test_unpadded_shards_partition_the_rows():
    order = torch.arange(103)
    shards = [shard(order, rank, 4, pad=False) for rank in range(4)]
    joined = torch.cat(shards).tolist()
    assert sorted(joined) == list(range(103)) and len(joined) == 103


def test_grouped_items_hold_the_same_minibatch_sequence():
    x, y = _data()
    single = TensorBatches(x, y, 8, shuffle=True, seed=3, steps_per_item=1)
    grouped = TensorBatches(x, y, 8, shuffle=True, seed=3, steps_per_item=5)
    for loader in (single, grouped):
        loader.set_epoch(2)
    flat_single = torch.cat([yb for _, yb in single])
    flat_grouped = torch.cat([yb for _, yb in grouped])
    assert torch.equal(flat_single, flat_grouped)
    assert torch.equal(flat_single, torch.arange(103)[epoch_order(103, 3, 2)])
    assert len(single) == 13 and len(grouped) == 3 and grouped.steps() == 13
    assert len(list(grouped)) == len(grouped)


def test_rows_stay_paired_with_labels():
    x, y = _data()
    for xb, yb in TensorBatches(x, y, 10, shuffle=True, seed=0, rank=1, world_size=2):
        assert torch.equal(xb[:, 0].long(), yb)


def test_ranks_see_disjoint_rows_in_one_epoch():
    x, y = _data(100)
    seen = [
        torch.cat([yb for _, yb in TensorBatches(x, y, 7, shuffle=True, seed=5, rank=r, world_size=2)]) for r in (0, 1)
    ]
    assert len(seen[0]) == len(seen[1]) == 50
    assert not set(seen[0].tolist()) & set(seen[1].tolist())


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"steps_per_item": 0}, {"rank": 2, "world_size": 2}])
def test_bad_arguments_are_refused(kwargs):
    x, y = _data(10)
    args = {"batch_size": 4, **kwargs}
    with pytest.raises(ValueError):
        TensorBatches(x, y, args.pop("batch_size"), shuffle=False, **args)
