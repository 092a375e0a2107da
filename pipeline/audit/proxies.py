"""Proxies and counterfactual flips: does the model use a sensitive attribute, directly or not?

Dropping ``sex`` from the inputs does not stop a model using it through ``relationship``
('Husband'/'Wife'). Two checks:

* the share of attribution on columns associated with a sensitive attribute (the data audit's
  Cramér's V on the whole table where it has one, so the report prints one value per pair; else
  the same measure on the test split);
* a counterfactual flip: change the sensitive attribute of every test row to each other group
  (when it is a model input) and count the decisions that change. When it is not an input the
  same test runs on its strongest proxy, set to that proxy's typical value in the other group
  (modal level for a categorical column, same within-group quantile for a numeric one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.stats import association


def decode_columns(
    X: np.ndarray, feature_groups: dict[str, list[int]], categorical: dict[str, list[str]]
) -> pd.DataFrame:
    """Original columns back from the encoded matrix: one-hot argmax (all zeros -> '<unseen>'),
    numeric columns as their (scaled) values; :func:`associations` turns them into categories
    the same way the data audit does."""
    decoded = {}
    for column, idx in feature_groups.items():
        block = X[:, idx]
        if column in categorical:
            levels = np.asarray(categorical[column] + ["<unseen>"], dtype=object)
            hot = np.where(block.max(axis=1) > 0, block.argmax(axis=1), len(idx))
            decoded[column] = levels[hot]
        else:
            decoded[column] = block[:, 0].astype("float64")
    return pd.DataFrame(decoded)


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """The project's one Cramér's V (:mod:`pipeline.stats.association`) of two columns."""
    return association.cramers_v(association.as_categories(a), association.as_categories(b))


def associations(decoded: pd.DataFrame, groups: pd.DataFrame, sensitive: list[str]) -> dict[str, dict[str, float]]:
    """``{sensitive: {input column: Cramér's V}}``, strongest first."""
    out = {}
    for s in sensitive:
        target = groups[s].astype(str).to_numpy()
        values = {c: cramers_v(decoded[c].to_numpy(), target) for c in decoded.columns if c != s}
        out[s] = dict(sorted(values.items(), key=lambda item: -item[1]))
    return out


def proxies_from_data_audit(raw: dict | list | None, sensitive: list[str]) -> dict[str, dict[str, float | None]] | None:
    """The data audit's proxy list (``data.json`` ``audit.proxies``) normalised to
    ``{sensitive: {column: strength or None}}``.

    The data audit writes ``{sensitive: {associations: [...], strongest: [...]}}``; a list of
    records or a plain mapping from sensitive column to columns is read too (a hand-made list);
    ``None`` (no audit) means we compute our own.
    """
    if not raw:
        return None
    out: dict[str, dict[str, float | None]] = {s: {} for s in sensitive}
    if isinstance(raw, dict):
        for s, cols in raw.items():
            if s not in out:
                continue
            if isinstance(cols, dict) and isinstance(cols.get("associations"), list):
                cols = cols["associations"]  # the data audit's own shape: {associations: [...], strongest: [...]}
            if isinstance(cols, dict):
                out[s].update({c: _strength(v) for c, v in cols.items()})
            elif isinstance(cols, list):
                for item in cols:
                    if isinstance(item, str):
                        out[s][item] = None
                    elif isinstance(item, dict) and (col := item.get("column") or item.get("feature")):
                        out[s][col] = _strength(item)
    elif isinstance(raw, list):
        for item in raw:
            if not isinstance(item, dict):
                continue
            s, col = item.get("sensitive") or item.get("attribute"), item.get("column") or item.get("feature")
            if s in out and col:
                out[s][col] = _strength(item)
    return out if any(out.values()) else None


def _strength(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        for key in ("cramers_v", "association", "strength", "value", "score", "mutual_information"):
            if isinstance(value.get(key), (int, float)):
                return float(value[key])
    return None


def attribution_share(importance: dict[str, float], columns: list[str]) -> float | None:
    """Share of the total mean |attribution| that falls on ``columns``."""
    total = sum(importance.values())
    return sum(importance.get(c, 0.0) for c in columns) / total if total > 0 else None


def _decisions(model, X: np.ndarray, favourable_index: int, threshold: float) -> np.ndarray:
    from pipeline.audit.performance import predict_labels
    from pipeline.models.predict import predict_proba

    return predict_labels(predict_proba(model, X), favourable_index, threshold) == favourable_index


def _set_level(X: np.ndarray, idx: list[int], position: int) -> np.ndarray:
    flipped = X.copy()
    flipped[:, idx] = 0.0
    flipped[:, idx[position]] = 1.0
    return flipped


def _counterfactual(X, column, idx, levels, decoded, labels, source, target) -> np.ndarray | None:
    """Rows of group ``source`` moved to group ``target`` on ``column`` (None if not possible)."""
    rows = X[labels == source]
    if levels is not None:  # categorical
        if decoded is None:  # the sensitive attribute itself: switch its one-hot to the other group
            return _set_level(rows, idx, levels.index(target)) if target in levels else None
        target_levels = decoded.loc[labels == target, column]
        if target_levels.empty:
            return None
        mode = str(target_levels.value_counts().index[0])
        return _set_level(rows, idx, levels.index(mode)) if mode in levels else None
    source_values, target_values = rows[:, idx[0]], X[labels == target, idx[0]]
    if len(target_values) == 0:
        return None
    ranks = (np.argsort(np.argsort(source_values, kind="stable"), kind="stable") + 0.5) / len(source_values)
    moved = rows.copy()
    moved[:, idx[0]] = np.quantile(target_values, ranks)
    return moved


def flip_test(
    model,
    X: np.ndarray,
    labels: np.ndarray,
    *,
    column: str,
    idx: list[int],
    levels: list[str] | None,
    decoded: pd.DataFrame | None,
    favourable_index: int,
    threshold: float,
) -> dict:
    """Share of decisions that change when each row is moved to each other group on ``column``.

    ``decoded`` is None when ``column`` is the sensitive attribute itself (its one-hot is set to
    the other group's level); otherwise ``column`` is a proxy and ``decoded`` holds the decoded
    inputs used to find the other group's typical value.
    """
    base = _decisions(model, X, favourable_index, threshold)
    groups = sorted(set(labels.tolist()))
    out = {}
    for source in groups:
        in_source = labels == source
        changed_any = np.zeros(int(in_source.sum()), dtype=bool)
        to = {}
        for target in groups:
            if target == source:
                continue
            moved = _counterfactual(X, column, idx, levels, decoded, labels, source, target)
            if moved is None:
                to[str(target)] = None
                continue
            changed = _decisions(model, moved, favourable_index, threshold) != base[in_source]
            changed_any |= changed
            to[str(target)] = {
                "changed_share": float(changed.mean()) if len(changed) else None,
                "to_favourable": int((changed & ~base[in_source]).sum()),
                "to_unfavourable": int((changed & base[in_source]).sum()),
            }
        out[str(source)] = {
            "count": int(in_source.sum()),
            "changed_share_any": float(changed_any.mean()) if len(changed_any) else None,
            "to": to,
        }
    overall = [v["changed_share_any"] * v["count"] for v in out.values() if v["changed_share_any"] is not None]
    return {
        "column": column,
        "groups": out,
        "changed_share_overall": sum(overall) / len(labels) if len(labels) else None,
    }
