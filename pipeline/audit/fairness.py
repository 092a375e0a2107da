"""Group metrics, disparities and bootstrap intervals, with fairlearn's definitions.

Labels are mapped to {0, 1} explicitly (1 = the configured favourable outcome) before any
metric sees them: fairlearn silently returns 0 disparities for string labels. Every metric is
computed from weighted per-group sums (see :mod:`pipeline.audit.bootstrap`), so the point
estimate and all resamples share one code path. Undefined rates (no positives, no negatives,
no predicted positives) are ``None``, never 0, and never enter a max/min disparity; groups under
``min_group_size`` are reported but kept out of disparities too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.audit import bootstrap

INTERSECTION_SEP = " & "

#: Per-group metrics, in report order.
GROUP_METRICS = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "roc_auc", "ece")

#: Max-min disparities (fairlearn ``method="between_groups"`` definitions).
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "false_positive_rate_ratio",
    "false_negative_rate_ratio",
)

#: Rates compared against the reference group.
REFERENCE_RATES = ("selection_rate", "tpr", "fpr", "fnr")


@dataclass(frozen=True)
class Decisions:
    """One decision maker's outputs on the audited rows, already mapped to favourable = 1.

    ``score`` is the favourable-class probability (``None`` for decisions without a score, e.g.
    a randomised post-processor or an external yes/no decision); ``correct_all`` marks rows
    whose predicted class equals the true class across all classes (multiclass accuracy).
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray | None = None
    correct_all: np.ndarray | None = None


@dataclass(frozen=True)
class AuditSettings:
    """The numbers an audit needs (mirrors ``config.AuditSettings`` without importing it)."""

    min_group_size: int = 30
    n_boot: int = 1000
    ci: float = 0.95
    reference: str | None = None
    seed: int = 0
    bins: int = 10


def binary(y: np.ndarray, favourable_index: int) -> np.ndarray:
    """Class indices to {0, 1}: 1 where the class is the favourable one."""
    return (np.asarray(y) == favourable_index).astype(np.int64)


def decisions_from_classes(y: np.ndarray, y_pred: np.ndarray, favourable_index: int, score: np.ndarray | None, n_classes: int) -> Decisions:
    """Favourable-vs-rest decisions of a (possibly multiclass) classifier."""
    correct = (np.asarray(y) == np.asarray(y_pred)) if n_classes > 2 else None
    return Decisions(binary(y, favourable_index), binary(y_pred, favourable_index), score, correct)


def sensitive_views(groups: pd.DataFrame, sensitive: list[str]) -> dict[str, pd.Series]:
    """Each sensitive column, plus their intersection when there are several."""
    views = {name: groups[name].astype(str) for name in sensitive}
    if len(sensitive) > 1:
        joined = groups[sensitive].astype(str).agg(INTERSECTION_SEP.join, axis=1)
        views[" x ".join(sensitive)] = joined
    return views


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def rates(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Group rates from confusion cells (B, G, 8); NaN where the denominator is 0."""
    cell = conf.reshape(*conf.shape[:2], 2, 2, 2).sum(axis=4)  # [.., y, pred]
    tn, fp, fn, tp = cell[..., 0, 0], cell[..., 0, 1], cell[..., 1, 0], cell[..., 1, 1]
    n = tn + fp + fn + tp
    return {
        "count": n,
        "base_rate": _div(tp + fn, n),
        "selection_rate": _div(tp + fp, n),
        "tpr": _div(tp, tp + fn),
        "fpr": _div(fp, fp + tn),
        "fnr": _div(fn, tp + fn),
        "precision": _div(tp, tp + fp),
        "accuracy": _div(tp + tn, n),
        "accuracy_all_classes": _div(conf[..., 1::2].sum(axis=2), n),
    }


def _spread(values: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max - min, min / max) over eligible groups per resample; NaN with < 2 defined groups."""
    masked = np.where(eligible[None, :], values, np.nan)
    defined = np.sum(~np.isnan(masked), axis=1) >= 2
    safe = np.where(defined[:, None], masked, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo = np.nanmax(safe, axis=1), np.nanmin(safe, axis=1)
    diff = np.where(defined, hi - lo, np.nan)
    ratio = np.where(defined, _div(lo, hi), np.nan)
    return diff, ratio


def disparities(r: dict[str, np.ndarray], eligible: np.ndarray) -> dict[str, np.ndarray]:
    """fairlearn's between-groups disparities, each per resample."""
    sel_d, sel_r = _spread(r["selection_rate"], eligible)
    tpr_d, tpr_r = _spread(r["tpr"], eligible)
    fpr_d, fpr_r = _spread(r["fpr"], eligible)
    _, fnr_r = _spread(r["fnr"], eligible)
    return {
        "demographic_parity_difference": sel_d,
        "demographic_parity_ratio": sel_r,
        "equalized_odds_difference": _max_defined(tpr_d, fpr_d),
        "equalized_odds_ratio": _min_defined(tpr_r, fpr_r),
        "equal_opportunity_difference": tpr_d,
        "false_positive_rate_ratio": fpr_r,
        "false_negative_rate_ratio": fnr_r,
    }


def _max_defined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Max of two parts; undefined if either is (fairlearn needs both TPR and FPR)."""
    return np.where(np.isnan(a) | np.isnan(b), np.nan, np.maximum(a, b))


def _min_defined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a) | np.isnan(b), np.nan, np.minimum(a, b))


def _value(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _ci(lo: float, hi: float) -> list[float | None]:
    return [_value(lo), _value(hi)]


def _flags(r0: dict[str, np.ndarray], g: int, min_group_size: int) -> list[str]:
    flags = []
    if r0["count"][g] < min_group_size:
        flags.append(f"fewer than {min_group_size} rows")
    if r0["base_rate"][g] == 0:
        flags.append("no positives")
    if r0["base_rate"][g] == 1:
        flags.append("no negatives")
    return flags


def _reference(names: list[str], counts: np.ndarray, eligible: np.ndarray, wanted: str | None) -> str:
    """The configured reference group if this view has it, else the largest eligible group."""
    if wanted is not None and wanted in names:
        return wanted
    pool = np.where(eligible, counts, -1)
    return names[int(np.argmax(pool))]


@dataclass(frozen=True)
class _Collapsed:
    """Per-joint-group sums shared by every view (see ``bootstrap.collapse``)."""

    joint: np.ndarray
    counts: np.ndarray
    prob: np.ndarray | None


def _collapse(weights: np.ndarray, dec: Decisions, views: dict[str, pd.Series], bins: int) -> _Collapsed:
    frame = pd.DataFrame({name: view.astype(str).to_numpy() for name, view in views.items()})
    joint, uniques = pd.factorize(pd.MultiIndex.from_frame(frame)) if len(frame.columns) else (np.zeros(len(dec.y_true), dtype=np.int64), [0])
    correct = dec.correct_all if dec.correct_all is not None else (dec.y_true == dec.y_pred)
    cell = bootstrap.cells(dec.y_true, dec.y_pred, correct)
    counts, prob = bootstrap.collapse(weights, joint, len(uniques), cell, dec.score, bins)
    return _Collapsed(joint, counts, prob)


def audit_view(weights: np.ndarray, dec: Decisions, feature: pd.Series, s: AuditSettings, shared: _Collapsed) -> dict:
    """Every group metric and disparity for one sensitive view, each with its interval."""
    codes, uniques = pd.factorize(feature.astype(str), sort=True)
    names = [str(u) for u in uniques]
    g = len(names)
    to_view = np.zeros((shared.counts.shape[1], g))
    to_view[shared.joint, codes] = 1.0  # each joint group lies inside exactly one group here
    counts = np.einsum("bjcq,jg->bgcq", shared.counts, to_view)
    r = rates(counts.sum(axis=3))
    if dec.score is not None:
        r["roc_auc"] = bootstrap.roc_auc(weights, codes, g, dec.y_true, dec.score)
        r["ece"] = bootstrap.calibration_error(counts, np.einsum("bjq,jg->bgq", shared.prob, to_view))
    r0 = {k: v[0] for k, v in r.items()}
    eligible = r0["count"] >= s.min_group_size
    disp = disparities(r, eligible)
    ref = _reference(names, r0["count"], eligible, s.reference)
    return {
        "reference": ref,
        "excluded_from_disparities": [n for n, ok in zip(names, eligible, strict=False) if not ok],
        "groups": _group_block(r, names, s, dec.correct_all is not None),
        **{k: _value(v[0]) for k, v in disp.items()},
        "ci": {k: _ci(*bootstrap.interval(v[1:], s.ci)) for k, v in disp.items()},
        "vs_reference": _vs_reference(r, names, names.index(ref), eligible, s.ci),
    }


def _group_block(r: dict[str, np.ndarray], names: list[str], s: AuditSettings, multiclass: bool) -> dict:
    """Per-group values, flags and intervals; metrics that do not apply are left out."""
    r0 = {k: v[0] for k, v in r.items()}
    keys = [k for k in GROUP_METRICS if k in r] + (["accuracy_all_classes"] if multiclass else [])
    bounds = {k: bootstrap.interval(r[k][1:], s.ci) for k in keys}
    out = {}
    for i, name in enumerate(names):
        block = {"count": int(round(float(r0["count"][i]))), "flags": _flags(r0, i, s.min_group_size)}
        block.update({k: _value(r0[k][i]) for k in keys})
        block["ci"] = {k: _ci(bounds[k][0][i], bounds[k][1][i]) for k in keys}
        out[name] = block
    return out


def _vs_reference(r: dict[str, np.ndarray], names: list[str], ref: int, eligible: np.ndarray, ci: float) -> dict:
    """Each eligible group's rate differences (group - reference) and ratios (group / reference)."""
    out = {}
    for i, name in enumerate(names):
        if i == ref or not eligible[i]:
            continue
        parts = {}
        for k in REFERENCE_RATES:
            parts[f"{k}_difference"] = r[k][:, i] - r[k][:, ref]
            parts[f"{k}_ratio"] = _div(r[k][:, i], r[k][:, ref])
        parts["equalized_odds_difference"] = _max_defined(np.abs(parts["tpr_difference"]), np.abs(parts["fpr_difference"]))
        block = {k: _value(v[0]) for k, v in parts.items()}
        block["ci"] = {k: _ci(*bootstrap.interval(v[1:], ci)) for k, v in parts.items()}
        out[name] = block
    return out


def audit(dec: Decisions, views: dict[str, pd.Series], s: AuditSettings, weights: np.ndarray | None = None) -> dict:
    """Every view's metrics. Pass ``weights`` to share resamples between decision makers."""
    if weights is None:
        weights = bootstrap.resample_counts(len(dec.y_true), s.n_boot, s.seed)
    shared = _collapse(weights, dec, views, s.bins)
    return {name: audit_view(weights, dec, view, s, shared) for name, view in views.items()}


def overall_accuracy(dec: Decisions) -> float:
    """Share of rows decided correctly (favourable vs rest)."""
    return float(np.mean(dec.y_true == dec.y_pred))


def selection_rate_rows(features: dict) -> pd.DataFrame:
    """Long table (feature, group, selection_rate) for the DVC bar plot."""
    rows = [
        {"feature": feature, "group": group, "selection_rate": values["selection_rate"]}
        for feature, block in features.items()
        for group, values in block["groups"].items()
    ]
    return pd.DataFrame(rows, columns=["feature", "group", "selection_rate"])
