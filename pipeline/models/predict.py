"""Batched inference outside the Lightning loop (plain ``no_grad``; memory bounded by batch)."""

from __future__ import annotations

import numpy as np

from pipeline import io, paths


def load_trained(model_dir=None):
    """Rebuild the trained MLP from ``models/model.json`` and ``models/model.pt`` (weights only)."""
    from pipeline.errors import IntegrityError
    from pipeline.models.mlp import MlpSpec, load_weights

    spec_path = paths.MODEL_SPEC if model_dir is None else model_dir / paths.MODEL_SPEC.name
    weights_path = paths.MODEL_WEIGHTS if model_dir is None else model_dir / paths.MODEL_WEIGHTS.name
    try:
        spec = MlpSpec.from_dict(io.read_json(spec_path))
    except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        raise IntegrityError(f"{spec_path}: not a valid network description ({err}); refusing to build it") from err
    return load_weights(weights_path, spec)


def predict_proba(model, X: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """Class probabilities, float64, shape (rows, classes)."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            logits = model(torch.from_numpy(np.ascontiguousarray(X[start : start + batch_size])))
            out.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
