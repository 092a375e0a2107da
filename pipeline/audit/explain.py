"""Attributions you can check: three captum methods, regrouped to original columns, with intervals.

Attribution runs outside the Lightning Trainer: its predict/test loops run under
``torch.inference_mode``, which blocks the gradients captum needs.

Speed: captum's gradient helper differentiates ``torch.unbind(outputs)``, one scalar per row and
step, which costs ten times the model itself on Adult (captum#713). The rows of an MLP in eval
mode are independent, so the gradient of the *sum* of the target logit over a batch is, row by
row, the gradient of each row's own logit. :class:`TargetSum` hands captum that sum; captum's own
``IntegratedGradients`` then runs one backward pass per internal batch. The per-row convergence
delta is computed here from the same definition captum uses (sum of attributions minus
``f(x) - f(baseline)``), because captum's own delta needs per-row outputs.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import BadInputError
from pipeline.stats import bootstrap

#: Evaluations (rows x steps) per forward pass inside captum: bounds memory for any test size. In
#: float64 (:func:`attribute`) 2**14 keeps the explain stage's peak below the float32 one at 2**16, and
#: smaller passes ran faster here (benchmarks/RESULTS.md, the dvc section's explain row).
EVALS_PER_PASS = 1 << 14


def _torch_model_target_sum():
    import torch

    class TargetSum(torch.nn.Module):
        """``model(x)[:, target].sum()`` as a one-element tensor (see the module docstring)."""

        def __init__(self, model, target: int):
            super().__init__()
            self.model, self.target = model, target

        def forward(self, x):
            return self.model(x)[:, self.target].sum().reshape(1)

    return TargetSum


def _rows(model, X: np.ndarray, start: int, size: int):
    """Rows ``start .. start + size`` of ``X`` as a tensor of the network's own precision (a float32
    table explained by the float64 copy that :func:`attribute` makes is widened a batch at a time)."""
    import torch

    dtype = next(model.parameters()).dtype
    return torch.from_numpy(np.ascontiguousarray(X[start : start + size])).to(dtype)


def target_logit(model, X: np.ndarray, target: int, batch_size: int = 65536) -> np.ndarray:
    """The model's raw output for ``target`` per row (what the attributions explain)."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            out.append(model(_rows(model, X, start, batch_size))[:, target].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _ig_pass(model, X: np.ndarray, target: int, n_steps: int, batch_size: int) -> np.ndarray:
    """captum IG against the all-zeros baseline, ``batch_size`` rows per call."""
    import torch
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(_torch_model_target_sum()(model, target))
    out = []
    for start in range(0, len(X), batch_size):
        inputs = _rows(model, X, start, batch_size)
        attr = ig.attribute(
            inputs,
            baselines=torch.zeros_like(inputs),
            n_steps=n_steps,
            internal_batch_size=max(EVALS_PER_PASS, n_steps),
        )
        out.append(attr.detach().numpy().astype(X.dtype))
    return np.concatenate(out) if out else np.zeros((0, X.shape[1]), dtype=X.dtype)


def integrated_gradients(
    model, X: np.ndarray, target: int, *, n_steps: int, max_steps: int, delta_tol: float, batch_size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Integrated Gradients with per-row convergence deltas, refining only the rows that need it.

    Rows whose ``|delta|`` exceeds ``delta_tol`` are recomputed with twice the steps, up to
    ``max_steps``; rows still above it are counted and reported, never hidden.
    Returns (attributions rows x encoded features, deltas per row, summary dict).
    """
    baseline_out = target_logit(model, np.zeros((1, X.shape[1]), dtype=X.dtype), target)[0]
    gap = target_logit(model, X, target) - baseline_out
    attr = _ig_pass(model, X, target, n_steps, batch_size)
    delta = attr.sum(axis=1, dtype=np.float64) - gap
    steps_used = np.full(len(X), n_steps)
    steps = n_steps
    while steps * 2 <= max_steps and (bad := np.abs(delta) > delta_tol).any():
        steps *= 2
        attr[bad] = _ig_pass(model, X[bad], target, steps, batch_size)
        delta[bad] = attr[bad].sum(axis=1, dtype=np.float64) - gap[bad]
        steps_used[bad] = steps
    over = np.abs(delta) > delta_tol
    summary = {
        "n_steps_initial": n_steps,
        "n_steps_max_used": int(steps_used.max()) if len(X) else n_steps,
        "rows_refined": int((steps_used > n_steps).sum()),
        "delta_tol": delta_tol,
        "convergence_delta_max_abs": float(np.abs(delta).max()) if len(X) else 0.0,
        "convergence_delta_mean_abs": float(np.abs(delta).mean()) if len(X) else 0.0,
        "rows_over_tol": int(over.sum()),
        "converged": bool(not over.any()),
    }
    return attr, delta, summary


def deeplift(model, X: np.ndarray, target: int, *, batch_size: int) -> np.ndarray:
    """captum ``DeepLift`` (rescale rule) against the all-zeros baseline, in batches of rows."""
    import torch
    from captum.attr import DeepLift

    method = DeepLift(model)
    out = []
    for start in range(0, len(X), batch_size):
        inputs = _rows(model, X, start, batch_size)
        attr = method.attribute(inputs, baselines=torch.zeros_like(inputs), target=target)
        out.append(attr.detach().numpy().astype(X.dtype))
    return np.concatenate(out) if out else np.zeros((0, X.shape[1]), dtype=X.dtype)


def feature_mask(feature_groups: dict[str, list[int]], n_features: int) -> tuple[np.ndarray, list[str]]:
    """One integer per encoded column naming its original column, so a one-hot block is ablated whole.

    Raises :class:`BadInputError` when the groups do not cover each encoded column exactly once.
    """
    mask = np.full(n_features, -1, dtype=np.int64)
    columns = list(feature_groups)
    for gid, column in enumerate(columns):
        idx = np.asarray(feature_groups[column], dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_features):
            raise BadInputError(f"meta.json feature_groups['{column}'] has indices outside 0..{n_features - 1}")
        if (mask[idx] != -1).any():
            raise BadInputError(f"meta.json feature_groups['{column}'] overlaps another column's indices")
        mask[idx] = gid
    if (mask == -1).any():
        missing = np.flatnonzero(mask == -1).tolist()[:5]
        raise BadInputError(
            f"meta.json feature_groups leaves encoded columns {missing} unassigned; expected every column in one group"
        )
    return mask, columns


def feature_ablation(
    model, X: np.ndarray, target: int, feature_groups: dict[str, list[int]], *, batch_size: int
) -> np.ndarray:
    """captum ``FeatureAblation``: set each original column (its whole one-hot block) to the baseline.

    Returns attributions per row and *original* column (columns in ``feature_groups`` order): the
    ablation of a block is one number, which captum spreads evenly over its encoded columns.
    """
    import torch
    from captum.attr import FeatureAblation

    mask, columns = feature_mask(feature_groups, X.shape[1])
    method = FeatureAblation(model)
    mask_t = torch.from_numpy(mask)[None, :]
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            inputs = _rows(model, X, start, batch_size)
            attr = method.attribute(inputs, baselines=0.0, target=target, feature_mask=mask_t, perturbations_per_eval=4)
            # captum writes the block's total into every encoded column of the block: take one.
            out.append(attr.numpy()[:, [feature_groups[c][0] for c in columns]].astype(X.dtype))
    return np.concatenate(out) if out else np.zeros((0, len(columns)), dtype=X.dtype)


def regroup(attributions: np.ndarray, feature_groups: dict[str, list[int]]) -> np.ndarray:
    """Sum the attribution of each original column's encoded columns, per row (columns in dict order).

    Summing is exact for additive methods (IG and DeepLift satisfy completeness), so the
    regrouped attributions still add up to ``f(x) - f(baseline)``.
    """
    return np.stack([attributions[:, idx].sum(axis=1) for idx in feature_groups.values()], axis=1)


# The methods as pipeline.tables.explain_methods names them, one signature each:
# (model, X, target, feature_groups, settings) -> (attributions per row and original column, summary).


def attribute_integrated_gradients(model, X: np.ndarray, target: int, feature_groups: dict, settings):
    attr, _, summary = integrated_gradients(
        model,
        X,
        target,
        n_steps=settings.n_steps,
        max_steps=settings.max_steps,
        delta_tol=settings.delta_tol,
        batch_size=settings.batch_size,
    )
    return regroup(attr, feature_groups), summary


def attribute_deeplift(model, X: np.ndarray, target: int, feature_groups: dict, settings):
    return regroup(deeplift(model, X, target, batch_size=settings.batch_size), feature_groups), {}


def attribute_feature_ablation(model, X: np.ndarray, target: int, feature_groups: dict, settings):
    return feature_ablation(model, X, target, feature_groups, batch_size=settings.batch_size), {}


def attribute(method: str, model, X: np.ndarray, target: int, feature_groups: dict, settings):
    """Run the explain method named ``method`` in :data:`pipeline.tables.explain_methods.METHODS`,
    computed by a float64 copy of the network (the same function: float32 weights are exact in
    float64), a batch of rows widened at a time, the attributions kept in ``X``'s float32.

    Why: computed in float32, a row's attribution moved in its last bits with the number of rows
    per call (the BLAS kernel changes with the matrix shape), so the same rows explained in other
    blocks of the ray engine gave means that differed in the 9th digit; computed in float64 and
    rounded once, they agree to 1e-9 for any partition (tests/test_scale_explain.py)."""
    import copy

    from pipeline.tables.explain_methods import METHODS

    wide = copy.deepcopy(model).double()
    return globals()[METHODS[method].function](wide, X, target, feature_groups, settings)


def bootstrap_mean_abs(
    per_column: np.ndarray, *, n_boot: int, ci: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean |attribution| per column with a percentile bootstrap interval over rows
    (:mod:`pipeline.stats.bootstrap`: resamples as row counts, one matrix product per chunk)."""
    absolute = np.abs(per_column).astype(np.float64)
    mean = absolute.mean(axis=0)
    if n_boot == 0 or len(absolute) == 0:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    low, high = bootstrap.percentile_interval(bootstrap.bootstrap_means(absolute, n_boot, seed), ci)
    return mean, low, high


def importance_table(per_column: np.ndarray, columns: list[str], *, n_boot: int, ci: float, seed: int) -> dict:
    """``{column: {mean_abs, low, high, share}}`` ordered largest first (share of the total)."""
    return importance_from(columns, *bootstrap_mean_abs(per_column, n_boot=n_boot, ci=ci, seed=seed))


def importance_from(columns: list[str], mean: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict:
    """:func:`importance_table` from the means and interval ends (what the ray engine merges over blocks)."""
    total = mean.sum()
    order = np.argsort(-mean, kind="stable")
    return {
        columns[i]: {
            "mean_abs": mean[i],
            "low": low[i],
            "high": high[i],
            "share": mean[i] / total if total > 0 else None,
        }
        for i in order
    }


def method_block(table: dict) -> dict:
    """A method's ``importance``, ``interval`` and ``share`` in ``explain.json`` from its
    :func:`importance_table` (or :func:`importance_from`), largest first."""
    return {
        "importance": {c: v["mean_abs"] for c, v in table.items()},
        "interval": {c: [v["low"], v["high"]] for c, v in table.items()},
        "share": {c: v["share"] for c, v in table.items()},
    }


def top_k(importance: dict[str, float], k: int) -> list[str]:
    return [c for c, _ in sorted(importance.items(), key=lambda item: -item[1])[:k]]


def agreement(importances: dict[str, dict[str, float]], k: int) -> list[dict]:
    """Spearman rank correlation and top-k overlap (|A ∩ B| / k) for each pair of methods."""
    from scipy.stats import spearmanr

    names = list(importances)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            columns = list(importances[a])
            rho = spearmanr([importances[a][c] for c in columns], [importances[b][c] for c in columns]).statistic
            overlap = len(set(top_k(importances[a], k)) & set(top_k(importances[b], k))) / min(k, len(columns))
            pairs.append(
                {"methods": [a, b], "spearman": float(rho) if np.isfinite(rho) else None, "top_k_overlap": overlap}
            )
    return pairs
