"""DP-SGD (its own loop: see pipeline/training/dp.py) writes the same summary and measured-cost
schema as the Lightning fit, so reports and MLflow read one set of keys."""

from __future__ import annotations

import numpy as np

from pipeline import config
from pipeline.training.dp import fit_dp
from pipeline.training.fit import fit


def _rows(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return {"X": x, "y": (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)}


def _keys(value, prefix=""):
    if isinstance(value, dict):
        return {k for key, child in value.items() for k in _keys(child, f"{prefix}{key}.")} | {prefix.rstrip(".")}
    return {prefix.rstrip(".")}


def test_dp_and_lightning_fits_share_the_cost_and_summary_schema(tmp_path):
    arrays = {"train": _rows(256, 0), "val": _rows(64, 1)}
    train = {
        "epochs": 2,
        "min_steps": 0,
        "batch_size": 64,
        "accelerator": "cpu",
        "devices": 1,
        "energy": {"enabled": False},
    }
    plain = fit(config.from_dict({"train": train}).train, 0, arrays, 2, checkpoint_dir=tmp_path)
    dp_settings = config.from_dict({"train": {**train, "dp": {"enabled": True, "noise_multiplier": 1.0}}}).train
    private = fit_dp(dp_settings, 0, arrays, 2, checkpoint_dir=tmp_path)

    assert _keys(private.cost) == _keys(plain.cost)
    dp_only = {k for k in _keys(private.summary) if k.startswith("cost.dp")} | {"final.epsilon"}
    assert _keys(private.summary) - _keys(plain.summary) == dp_only
    assert _keys(plain.summary) == _keys(private.summary) - dp_only  # best is None in both (no early stopping)
    assert private.summary["epochs_run"] == private.cost["epochs_this_run"] == 2
    assert set(private.history[-1]) >= set(plain.history[-1])
