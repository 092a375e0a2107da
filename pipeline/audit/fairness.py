"""The fairness audit: per-group metrics, disparities, bootstrap intervals and verdicts.

Labels are mapped to {0, 1} explicitly (1 = the configured favourable outcome) before anything
is computed: fairlearn silently returns 0 disparities for string labels. Multiclass targets are
audited as the favourable class against the rest, plus per-group accuracy over all classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.audit import disparity
from pipeline.audit.group_metrics import METRICS, Grouping, group_table, resample_weights

INTERSECTION_SEP = " & "


@dataclass(frozen=True)
class AuditSettings:
    """The subset of ``audit`` params the computation needs (kept plain for tests)."""

    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0
    min_group_size: int = 30
    reference: str | None = None
    ratio_bounds: tuple[float, float] = (0.8, 1.25)
    max_difference: float = 0.1
    calibration_bins: int = 10


def sensitive_views(groups: pd.DataFrame, sensitive: list[str]) -> dict[str, pd.Series]:
    """Each sensitive column, plus their intersection when there are several."""
    views = {name: groups[name].astype(str) for name in sensitive}
    if len(sensitive) > 1:
        columns = [groups[name].astype(str) for name in sensitive]
        views[" x ".join(sensitive)] = columns[0].str.cat(columns[1:], sep=INTERSECTION_SEP)
    return views


def _flags(count: float, positives: float, min_size: int) -> list[str]:
    flags = []
    if count < min_size:
        flags.append(f"fewer than {min_size} rows")
    if positives == 0:
        flags.append("no favourable outcomes in the truth")
    if positives == count:
        flags.append("no unfavourable outcomes in the truth")
    return flags


def _interval(samples: np.ndarray, ci: float) -> np.ndarray:
    """Percentile interval along axis 0 (NaN where every resample is undefined)."""
    alpha = (1 - ci) / 2
    with disparity._quiet():
        return np.nanquantile(samples, [alpha, 1 - alpha], axis=0)


def _reference(names: list[str], counts: np.ndarray, eligible: np.ndarray, wanted: str | None) -> int:
    if wanted is not None and wanted in names:
        return names.index(wanted)
    pool = np.where(eligible, counts, -1)
    return int(np.argmax(pool if pool.max() >= 0 else counts))


def _collect(y_true, y_pred, score, grouping, settings, weights_iter):
    """Point estimates and stacked bootstrap samples of group metrics and disparities."""
    n_rows = len(y_true)
    point = group_table(y_true, y_pred, score, grouping, np.ones((1, n_rows), np.float32), settings.calibration_bins)
    point = {k: v[0] for k, v in point.items()}
    eligible = np.array([not _flags(c, p * c, settings.min_group_size) for c, p in zip(point["count"], point["base_rate"])])
    ref = _reference(grouping.names, point["count"], eligible, settings.reference)
    samples: dict[str, list] = {}
    for weights in weights_iter:
        table = group_table(y_true, y_pred, score, grouping, weights, settings.calibration_bins)
        for key, value in {**table, **_prefixed(disparity.between_groups(table, eligible), "between/"),
                           **_prefixed(disparity.against_reference(table, ref), "ref/")}.items():  # fmt: skip
            samples.setdefault(key, []).append(value)
    stacked = {k: np.concatenate(v, axis=0) for k, v in samples.items()}
    return point, eligible, ref, stacked


def _prefixed(values: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in values.items()}


def audit_view(y_true, y_pred, score, labels: pd.Series, settings: AuditSettings, weights: list[np.ndarray]) -> dict:
    """One sensitive view: groups with intervals, disparities with intervals."""
    grouping = Grouping.from_labels(labels)
    point, eligible, ref, boot = _collect(y_true, y_pred, score, grouping, settings, weights)
    point_table = {k: v[None, :] for k, v in point.items()}
    between = {k: float(v[0]) for k, v in disparity.between_groups(point_table, eligible).items()}
    versus = {k: v[0] for k, v in disparity.against_reference(point_table, ref).items()}
    groups = {}
    for g, name in enumerate(grouping.names):
        entry = {m: _num(point[m][g]) for m in METRICS if m in point}
        entry["count"] = int(point["count"][g])
        entry["flags"] = _flags(point["count"][g], point["base_rate"][g] * point["count"][g], settings.min_group_size)
        entry["eligible"] = bool(eligible[g])
        entry["ci"] = {m: _ci(boot, m, settings.ci, point[m][g], g) for m in METRICS if m in point and m != "count"}
        if g != ref:
            entry["vs_reference"] = {
                k: {"value": _num(versus[k][g]), "ci": _ci(boot, "ref/" + k, settings.ci, versus[k][g], g)} for k in versus
            }
        groups[name] = entry
    block = {"reference": grouping.names[ref], "groups": groups, "disparities": {}}
    for name, value in between.items():
        block["disparities"][name] = {"value": _num(value), "ci": _ci(boot, "between/" + name, settings.ci, value)}
        block[name] = _num(value)  # flat copy: `dvc metrics diff` shows it directly
    return block


def _ci(boot: dict, key: str, level: float, value, group: int | None = None) -> list:
    """Bootstrap interval of ``key`` (for one group if given); the point itself when n_boot is 0."""
    if key not in boot:
        return [_num(value), _num(value)]
    bounds = _interval(boot[key], level)
    return _pair(bounds if group is None else bounds[:, group])


def _num(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def _pair(values) -> list:
    return [_num(values[0]), _num(values[1])]


def verdicts(features: dict, settings: AuditSettings) -> list[dict]:
    """One check per view and disparity, with status pass / fail / inconclusive."""
    checks = []
    for feature, block in features.items():
        for metric, entry in block["disparities"].items():
            kind = "difference" if metric in disparity.DIFFERENCES else "ratio"
            bound = settings.max_difference if kind == "difference" else list(settings.ratio_bounds)
            status = disparity.verdict(entry["value"], tuple(entry["ci"]), kind=kind,
                                       ratio_bounds=settings.ratio_bounds, max_difference=settings.max_difference)  # fmt: skip
            checks.append({"check": f"{feature}: {metric}", "feature": feature, "metric": metric,
                           "value": entry["value"], "ci": entry["ci"], "bound": bound, "status": status})  # fmt: skip
    return checks


def audit_decisions(y_true01, y_pred01, score, groups: pd.DataFrame, sensitive: list[str], settings: AuditSettings) -> dict:
    """Audit binary decisions (1 = favourable) for every sensitive view; same resamples for all."""
    y_true01 = np.asarray(y_true01, dtype=np.int64)
    y_pred01 = np.asarray(y_pred01, dtype=np.int64)
    weights = list(resample_weights(len(y_true01), settings.n_boot, settings.seed)) if settings.n_boot else []
    features = {
        name: audit_view(y_true01, y_pred01, score, labels, settings, weights)
        for name, labels in sensitive_views(groups, sensitive).items()
    }
    return {"features": features, "verdicts": verdicts(features, settings)}


def multiclass_accuracy(y: np.ndarray, y_pred: np.ndarray, groups: pd.DataFrame, sensitive: list[str]) -> dict:
    """Accuracy over all classes per group (the favourable-vs-rest audit cannot show it)."""
    correct = pd.Series(np.asarray(y) == np.asarray(y_pred))
    return {name: {str(g): float(v) for g, v in correct.groupby(labels.to_numpy()).mean().items()}
            for name, labels in sensitive_views(groups, sensitive).items()}  # fmt: skip


def selection_rate_rows(features: dict) -> pd.DataFrame:
    """Long table (feature, group, selection_rate) for the DVC bar plot."""
    rows = [{"feature": f, "group": g, "selection_rate": v["selection_rate"]}
            for f, block in features.items() for g, v in block["groups"].items()]  # fmt: skip
    return pd.DataFrame(rows)
