"""Membership inference: can an attacker tell the training rows from rows the model never saw?

The loss-threshold attack (Yeom et al., 2018) scores each row by the negative of the model's
cross-entropy loss on it: a model that memorised its training rows has lower loss on them. The
attack's ROC AUC over members (training rows) and non-members (held-out test rows) measures the
leak: 0.5 is no better than a coin. TPR at 1% FPR is the figure that matters when an attacker
only acts on the rows it is most sure of (Carlini et al., 2022). Members and non-members are
subsampled to equal sizes, seeded, so the AUC is not skewed by the split ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import BadInputError
from pipeline.stats import bootstrap


def per_row_loss(model, X: np.ndarray, y: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """Cross-entropy of each row under ``model`` (float64)."""
    from pipeline.models.predict import predict_proba

    proba = predict_proba(model, X, batch_size=batch_size)
    if len(y) and (y.min() < 0 or y.max() >= proba.shape[1]):
        raise BadInputError(f"labels outside 0..{proba.shape[1] - 1}: the model and the data disagree on the classes")
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))


def balanced_sample(n_members: int, n_non_members: int, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-size seeded subsamples of member and non-member row indices (at most ``max_rows`` each)."""
    n = min(n_members, n_non_members, max_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_members, n, replace=False)), np.sort(rng.choice(n_non_members, n, replace=False))


def tpr_at_fpr(is_member: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """Largest true-positive rate among thresholds whose false-positive rate is at most ``fpr``."""
    from sklearn.metrics import roc_curve

    fprs, tprs, _ = roc_curve(is_member, score)
    allowed = fprs <= fpr
    return float(tprs[allowed].max()) if allowed.any() else 0.0


def attack_metrics(is_member: np.ndarray, score: np.ndarray) -> dict:
    """AUC, TPR at 1% and 10% FPR, and the best balanced accuracy of any threshold."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if len(set(is_member.tolist())) < 2:
        return {"auc": None, "tpr_at_1pct_fpr": None, "tpr_at_10pct_fpr": None, "advantage": None}
    fprs, tprs, _ = roc_curve(is_member, score)
    return {
        "auc": float(roc_auc_score(is_member, score)),
        "tpr_at_1pct_fpr": tpr_at_fpr(is_member, score, 0.01),
        "tpr_at_10pct_fpr": tpr_at_fpr(is_member, score, 0.10),
        "advantage": float((tprs - fprs).max()),  # membership advantage (Yeom et al.): max TPR - FPR
    }


def _auc_interval(is_member: np.ndarray, score: np.ndarray, n_boot: int, ci: float, seed: int) -> list[float | None]:
    """Percentile bootstrap interval of the AUC, resampling rows (:mod:`pipeline.stats.bootstrap`);
    a resample holding one side only is left out."""
    if n_boot == 0 or len(set(is_member.tolist())) < 2:
        return [None, None]
    low, high = bootstrap.percentile_interval(bootstrap.bootstrap_auc(is_member, score, n_boot, seed), ci)
    return [float(low), float(high)] if np.isfinite(low) and np.isfinite(high) else [None, None]


def membership_inference(
    model,
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    *,
    member_groups: pd.DataFrame | None = None,
    non_member_groups: pd.DataFrame | None = None,
    sensitive: list[str] = (),
    max_rows: int,
    seed: int,
    min_group_size: int = 30,
    n_boot: int = 0,
    ci: float = 0.95,
) -> dict:
    """The loss-threshold attack, overall and per sensitive group.

    ``members`` and ``non_members`` are ``(X, y)``; group frames are row-aligned with them.
    """
    (xm, ym), (xn, yn) = members, non_members
    if len(ym) == 0 or len(yn) == 0:
        raise BadInputError(f"membership inference needs members and non-members; got {len(ym)} and {len(yn)} rows")
    im, inn = balanced_sample(len(ym), len(yn), max_rows, seed)
    loss_m, loss_n = per_row_loss(model, xm[im], ym[im]), per_row_loss(model, xn[inn], yn[inn])
    is_member = np.concatenate([np.ones(len(im), dtype=int), np.zeros(len(inn), dtype=int)])
    score = -np.concatenate([loss_m, loss_n])
    result = {
        "attack": "loss threshold (score = -cross-entropy)",
        "rows_per_side": int(len(im)),
        "mean_loss_members": float(loss_m.mean()),
        "mean_loss_non_members": float(loss_n.mean()),
        "generalisation_gap": float(loss_n.mean() - loss_m.mean()),
        **attack_metrics(is_member, score),
        "auc_interval": _auc_interval(is_member, score, n_boot, ci, seed),
        "by_group": {},
    }
    for s in sensitive:
        labels = np.concatenate(
            [member_groups[s].to_numpy().astype("U")[im], non_member_groups[s].to_numpy().astype("U")[inn]]
        )
        block = {}
        for group in sorted(set(labels.tolist())):
            rows = labels == group
            counts = {"members": int(is_member[rows].sum()), "non_members": int((1 - is_member[rows]).sum())}
            block[group] = {
                **counts,
                "small": bool(min(counts.values()) < min_group_size),
                **attack_metrics(is_member[rows], score[rows]),
            }
        result["by_group"][s] = block
    return result
