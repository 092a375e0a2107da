"""Stage ``train``: fit the MLP, save its weights (state_dict only), curves and cost.

``reports/metrics/train.json`` holds only deterministic figures (byte-identical across runs on
CPU); wall-clock figures go to ``reports/compute/train_cost.json``. The ``last`` checkpoint in
``models/checkpoints/`` is not a DVC out, so DVC does not delete it before a resumed run.
"""

from __future__ import annotations

import io as _io

import pandas as pd

from pipeline import io, paths
from pipeline.config import Config


def save_model(model) -> None:
    import torch

    buffer = _io.BytesIO()
    torch.save(model.state_dict(), buffer)
    io.write_bytes(paths.MODEL_WEIGHTS, buffer.getvalue())
    io.write_json(paths.MODEL_SPEC, model.spec.to_dict())


def main(cfg: Config) -> None:
    from pipeline.training.fit import fit

    if cfg.train.dp.enabled:  # DP-SGD with Opacus (ε, δ in train.json cost.dp); see pipeline/training/dp.py
        from pipeline.training.dp import fit_dp as fit

    meta = io.read_json(paths.PREPARED_META)
    arrays = {s: io.read_npz(paths.split_arrays(s)) for s in ("train", "val")}
    result = fit(cfg.train, cfg.seed, arrays, n_classes=len(meta["classes"]), checkpoint_path=paths.LAST_CHECKPOINT)
    if not result.is_global_zero:
        return
    save_model(result.model)
    curves = pd.DataFrame(result.history)
    with io.atomic_path(paths.TRAIN_CURVES) as tmp:
        curves.to_csv(tmp, index=False, float_format="%.6g")
    last = result.history[-1] if result.history else {}
    io.write_json(paths.TRAIN_METRICS, {"final": last, "cost": result.summary})
    io.write_json(paths.TRAIN_COST, {**result.cost, "resumed_from_epoch": result.resumed_from_epoch})
    print(
        f"train: epochs {result.resumed_from_epoch + 1}..{result.summary['epochs_run']} "
        f"in {result.cost['wall_time_s']:.1f}s, last {last}"
    )
