"""Stage ``train``: fit the MLP, save its weights (state_dict only), curves, metrics and cost.

``reports/metrics/train.json`` holds only figures that follow from params and data (so two runs
give identical bytes); wall time, throughput, memory and energy go to
``reports/compute/train_cost.json``. The ``last`` checkpoint in ``models/checkpoints/`` is not a
DVC output: DVC deletes outputs before it runs a stage, which would throw away the checkpoint a
``train.resume: true`` run needs.
"""

from __future__ import annotations

import io as _io

import pandas as pd

from pipeline import io, paths
from pipeline.config import Config


def save_model(model) -> None:
    """Write the weights and spec atomically; non-finite weights are refused, never written."""
    import torch

    from pipeline.training.fit import check_finite_state

    state = model.state_dict()
    check_finite_state(state, f"{paths.MODEL_WEIGHTS} (not written)")
    buffer = _io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(paths.MODEL_WEIGHTS, buffer.getvalue())
    io.write_json(paths.MODEL_SPEC, model.spec.to_dict())


def save_curves(history: list[dict]) -> None:
    with io.atomic_path(paths.TRAIN_CURVES) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False, float_format="%.6g")


def main(cfg: Config) -> None:
    from pipeline.training.fit import fit

    if cfg.train.dp.enabled:  # DP-SGD with Opacus (epsilon, delta in train.json cost.dp); see pipeline/training/dp.py
        from pipeline.training.dp import fit_dp as fit

    meta = io.read_json(paths.PREPARED_META)
    arrays = {s: io.read_npz(paths.split_arrays(s)) for s in ("train", "val")}
    result = fit(cfg.train, cfg.seed, arrays, n_classes=len(meta["classes"]), checkpoint_dir=paths.CHECKPOINT_DIR)
    save_model(result.model)
    save_curves(result.history)
    io.write_json(paths.TRAIN_METRICS, result.summary)
    io.write_json(paths.TRAIN_COST, result.cost)
    for note in result.notes:
        print(f"train: {note}")
    wall = result.cost["fit_wall_time_s"]
    print(f"train: {result.summary['epochs_run']} epochs ({result.cost['epochs_this_run']} in {wall:.2f}s), last {result.summary['final']}")
