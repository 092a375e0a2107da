"""Two-process DDP on CPU (gloo) through the same ``fit`` the stage uses.

``ddp_spawn``, not ``ddp``: under pytest ``ddp`` re-launches the whole pytest command for the
second rank (STACK-NOTES). The checks: both processes trained on their own half of the rows,
the epoch metrics cover all rows of both processes (all-gather), and the weights that come back
to this process are the trained ones.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from pipeline.training.fit import fit

pytestmark = pytest.mark.slow


def test_two_process_ddp_on_cpu(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    settings = cfg.train.model_copy(
        update={
            "accelerator": "cpu",
            "devices": 2,
            "strategy": "ddp_spawn",
            "epochs": 2,
            "batch_size": 32,
            "num_threads": 1,
        }
    )
    result = fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)

    n_train = len(arrays["train"]["y"])
    assert result.cost["world_size"] == 2 and result.summary["epochs_run"] == 2
    assert [row["epoch"] for row in result.history] == [0, 1]
    # each process took ceil(n/2) rows per epoch; together they covered the split once per epoch
    assert result.summary["cost"]["samples_seen"] == 2 * 2 * -(-n_train // 2)

    # validation figures are over the whole split (both shards gathered) and match the returned
    # weights; had the gradient all-reduce failed, the two processes' models would differ and
    # the gathered loss would mix them
    with torch.no_grad():
        logits = result.model(torch.from_numpy(arrays["val"]["X"]))
    y_val = torch.from_numpy(arrays["val"]["y"])
    last = result.history[-1]
    assert last["val_loss"] == pytest.approx(float(F.cross_entropy(logits, y_val)), rel=1e-5)
    # the share of correct rows, exact (a float32 mean differs from it in the 8th digit)
    assert last["val_accuracy"] == pytest.approx(float((logits.argmax(1) == y_val).double().mean()), abs=1e-9)
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
