"""Stage ``explain``: which original columns drive the model's favourable decisions."""

from __future__ import annotations

import numpy as np

from pipeline import io, paths
from pipeline.audit import explain
from pipeline.config import Config


def main(cfg: Config) -> None:
    from pipeline.models.predict import load_trained

    meta = io.read_json(paths.PREPARED_META)
    test = io.read_npz(paths.split_arrays("test"))
    model = load_trained()
    attributions, deltas = explain.integrated_gradients(
        model, test["X"], meta["favourable_index"], n_steps=cfg.explain.n_steps, batch_size=cfg.explain.batch_size
    )
    importance = explain.global_importance(explain.regroup(attributions, meta["feature_groups"]))
    result = {
        "target_class": meta["favourable"],
        "integrated_gradients": {
            "importance": importance,
            "n_steps": cfg.explain.n_steps,
            "convergence_delta_max_abs": float(np.abs(deltas).max()),
            "convergence_delta_mean_abs": float(np.abs(deltas).mean()),
        },
    }
    io.write_json(paths.EXPLAIN_METRICS, result)
    print(f"explain: top columns {list(importance)[: cfg.explain.top_k]}")
