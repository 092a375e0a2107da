"""Attributions with captum, summed back from one-hot columns to the original columns.

Attribution runs outside the Lightning Trainer: its predict/test loops run under
``torch.inference_mode``, which blocks the gradients captum needs.
"""

from __future__ import annotations

import numpy as np


def regroup(attributions: np.ndarray, feature_groups: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Sum the attribution of each original column's encoded columns, per row."""
    return {column: attributions[:, idx].sum(axis=1) for column, idx in feature_groups.items()}


def integrated_gradients(model, X: np.ndarray, target: int, *, n_steps: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """captum ``IntegratedGradients`` against the all-zeros baseline (the training mean after
    standardisation, and 'no category' for one-hot blocks), in batches of rows.

    Returns per-row attributions (rows x encoded features) and per-row convergence deltas.
    """
    import torch
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    attributions, deltas = [], []
    for start in range(0, len(X), batch_size):
        inputs = torch.from_numpy(np.ascontiguousarray(X[start : start + batch_size]))
        attr, delta = ig.attribute(
            inputs,
            baselines=torch.zeros_like(inputs),
            target=target,
            n_steps=n_steps,
            internal_batch_size=batch_size,
            return_convergence_delta=True,
        )
        attributions.append(attr.detach().numpy())
        deltas.append(delta.detach().numpy())
    return np.concatenate(attributions), np.concatenate(deltas)


def global_importance(per_column: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean absolute attribution per original column, largest first."""
    importance = {column: float(np.abs(values).mean()) for column, values in per_column.items()}
    return dict(sorted(importance.items(), key=lambda item: -item[1]))
