"""Attributions compared across sensitive groups, and local explanations of individual errors.

A model can lean on different columns for different groups (for example on relationship status
for women and on capital gain for men); the global ranking hides that. Differences carry a
bootstrap interval, resampling rows within each group, so a gap in a group of 40 rows is not read
as a finding. Each group's resamples come from its own stream (:func:`pipeline.stats.bootstrap.stream_seed`
keyed by the group's name), so a group's interval does not depend on which other groups exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audit.explain import top_k
from pipeline.stats import bootstrap


def _boot_means(absolute: np.ndarray, n_boot: int, seed: int, key: str) -> np.ndarray:
    """``n_boot`` resampled column means of one group's ``absolute`` (rows x columns), drawn from
    the stream named ``key`` (attribute and group)."""
    return bootstrap.bootstrap_means(absolute, n_boot, bootstrap.stream_seed(seed, key))


def by_group(
    per_column: np.ndarray,
    columns: list[str],
    groups: pd.Series,
    *,
    k: int,
    n_boot: int,
    ci: float,
    seed: int,
    min_group_size: int,
) -> dict:
    """Mean |attribution| per column for each group, and each group minus the largest group.

    Returns ``{"reference": g0, "groups": {g: {"count", "small", "importance": {col: v},
    "top_k", "top_k_overlap_with_reference", "difference": {col: {"value","low","high"}}}}}``.
    """
    absolute = np.abs(per_column).astype(np.float64)
    labels = groups.to_numpy().astype("U")
    counts = pd.Series(labels).value_counts()
    rows = {str(g): absolute[labels == g] for g in counts.index}
    means = {g: r.mean(axis=0) for g, r in rows.items()}
    boots = {g: _boot_means(r, n_boot, seed, f"{groups.name}={g}") for g, r in rows.items()} if n_boot else None
    sizes = {g: len(r) for g, r in rows.items()}
    return by_group_from(columns, sizes, means, boots, str(counts.index[0]), k=k, ci=ci, min_group_size=min_group_size)


def by_group_from(
    columns: list[str],
    sizes: dict[str, int],
    means: dict[str, np.ndarray],
    boots: dict[str, np.ndarray] | None,
    reference: str,
    *,
    k: int,
    ci: float,
    min_group_size: int,
) -> dict:
    """:func:`by_group` from each group's row count, mean |attribution| per column and bootstrap
    means (replicates x columns; None: no intervals), as the ray engine merges them over blocks.
    A group's difference interval is the percentile interval of its replicate means minus the
    reference group's in the same replicate."""
    ref_top = top_k(dict(zip(columns, means[reference])), k)
    out = {}
    for group in sorted(sizes, key=str):
        importance = dict(zip(columns, means[group]))
        entry = {
            "count": int(sizes[group]),
            "small": bool(sizes[group] < min_group_size),
            "importance": importance,
            "top_k": top_k(importance, k),
            "top_k_overlap_with_reference": len(set(top_k(importance, k)) & set(ref_top)) / min(k, len(columns)),
        }
        if group != reference:
            diff = means[group] - means[reference]
            if boots is not None:
                low, high = bootstrap.percentile_interval(boots[group] - boots[reference], ci)
            else:
                low = high = np.full_like(diff, np.nan)
            entry["difference"] = {
                c: {"value": diff[i], "low": low[i], "high": high[i], "excludes_zero": bool(low[i] > 0 or high[i] < 0)}
                for i, c in enumerate(columns)
            }
        out[str(group)] = entry
    return {"reference": reference, "groups": out}


def pick_errors(predictions: pd.DataFrame, favourable_index: int, labels: np.ndarray, per_group: int) -> list[dict]:
    """Row indices of the most confident false positives and false negatives in each group.

    A false positive is predicted favourable when the truth is not; the most confident one has
    the highest favourable probability. A false negative is the reverse, lowest probability.
    """
    proba = predictions[f"proba_{favourable_index}"].to_numpy()
    fav_true = predictions["y_true"].to_numpy() == favourable_index
    fav_pred = predictions["y_pred"].to_numpy() == favourable_index
    picks = []
    for group in sorted(set(labels.tolist())):
        in_group = labels == group
        for kind, mask, order in (
            ("false_positive", in_group & fav_pred & ~fav_true, -1),
            ("false_negative", in_group & ~fav_pred & fav_true, 1),
        ):
            idx = np.flatnonzero(mask)
            chosen = idx[np.argsort(order * proba[idx], kind="stable")[:per_group]]
            picks += [
                {"group": str(group), "kind": kind, "row": int(r), "proba_favourable": float(proba[r])} for r in chosen
            ]
    return picks


def local_explanations(picks: list[dict], per_column: np.ndarray, columns: list[str], k: int) -> list[dict]:
    """For each picked row, its ``k`` columns with the largest |attribution|, signed."""
    out = []
    for pick in picks:
        values = per_column[pick["row"]]
        order = np.argsort(-np.abs(values), kind="stable")[:k]
        out.append({**pick, "top_columns": [{"column": columns[i], "attribution": float(values[i])} for i in order]})
    return out
