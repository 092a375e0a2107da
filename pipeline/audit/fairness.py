"""The fairness audit: per-group rates with intervals, comparisons with a reference group, and
verdicts under the user's audit policy.

Labels are mapped to {0, 1} explicitly (1 = the configured favourable outcome) before anything
is computed: fairlearn silently returns 0 disparities for string labels. Multiclass targets are
audited as the favourable class against the rest, plus per-group accuracy over all classes.

Intervals are closed-form (:mod:`pipeline.stats.intervals`: Wilson per group, Newcombe for
differences, MOVER-R for ratios), so no verdict depends on the number of bootstrap resamples:
``n_boot`` only sizes the bootstrap of the per-group ROC AUC, which is information. The
fairlearn-style max-minus-min disparities are kept as information without an interval: under
resampling they are biased upwards and their percentile intervals can exclude the estimate.
Gating checks are controlled as a family (Bonferroni: each interval at level
``1 - (1 - ci) / m`` over the ``m`` gating comparisons), so "the gate failed by luck" has a
stated bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.audit import disparity
from pipeline.audit import policy as pol
from pipeline.audit.group_metrics import Grouping, _auc_per_group
from pipeline.errors import BadInputError
from pipeline.stats import bootstrap, calibration, intervals
from pipeline.stats.groups import sensitive_views
from pipeline.tables.criteria import CRITERIA, cells_of

RATES = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy")
_STATUS_ORDER = {pol.FAIL: 0, pol.INCONCLUSIVE: 1, pol.UNDEFINED: 2, pol.PASS: 3}


@dataclass(frozen=True)
class FairnessSettings:
    """The subset of ``audit`` params the fairness computation needs (kept plain for tests);
    not :class:`pipeline.config.AuditSettings`, the typed ``audit`` section it is built from.

    ``reference`` is one group name (used for every attribute that has it), a mapping
    ``{attribute: group}``, or None (the largest eligible group). ``ratio_bounds`` and
    ``max_difference`` are the bounds of the informational (non-gating) checks; the gating
    criteria carry their own bounds in ``policy``.
    """

    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0
    min_group_size: int = 30
    reference: str | dict | None = None
    ratio_bounds: tuple[float, float] = (0.8, 1.25)
    max_difference: float = 0.1
    calibration_bins: int = 10
    policy: pol.Policy = field(default_factory=pol.Policy)


def _flags(count: float, positives: float, min_size: int) -> list[str]:
    flags = []
    if count < min_size:
        flags.append(f"fewer than {min_size} rows")
    if positives == 0:
        flags.append("no favourable outcomes in the truth")
    if positives == count:
        flags.append("no unfavourable outcomes in the truth")
    return flags


def check_reference(reference, views: dict[str, pd.Series]) -> None:
    """Refuse a reference group that names no group (exit 2), listing the groups that exist."""
    if reference is None:
        return
    existing = {name: sorted(set(labels)) for name, labels in views.items()}
    listing = "; ".join(f"{name}: {', '.join(map(repr, groups))}" for name, groups in existing.items())
    if isinstance(reference, dict):
        for attribute, group in reference.items():
            if attribute not in existing:
                raise BadInputError(
                    f"audit.reference names the attribute {attribute!r}, which is not audited (attributes: "
                    f"{', '.join(existing)})"
                )
            if str(group) not in existing[attribute]:
                raise BadInputError(
                    f"audit.reference: {group!r} is not a group of {attribute!r}; groups that exist: {listing}"
                )
        return
    if not any(str(reference) in groups for groups in existing.values()):
        raise BadInputError(
            f"audit.reference: {reference!r} is not a group of any audited attribute; groups that exist: {listing}"
        )


def _reference(view: str, names: list[str], counts: np.ndarray, eligible: np.ndarray, wanted) -> int:
    if isinstance(wanted, dict):
        wanted = wanted.get(view)
    if wanted is not None and str(wanted) in names:
        return names.index(str(wanted))
    pool = np.where(eligible, counts, -1)
    return int(np.argmax(pool if pool.max() >= 0 else counts))


def confusion_cells(y_true01, y_pred01, grouping: Grouping) -> dict[str, np.ndarray]:
    """TP, FP, FN, TN counts per group."""
    n = len(grouping.names)
    y, p, codes = np.asarray(y_true01), np.asarray(y_pred01), grouping.codes

    def count(mask):
        return np.bincount(codes[mask], minlength=n).astype(np.float64)

    return {
        "tp": count((y == 1) & (p == 1)),
        "fp": count((y == 0) & (p == 1)),
        "fn": count((y == 1) & (p == 0)),
        "tn": count((y == 0) & (p == 0)),
    }


def _rate(cells: dict, rate: str) -> tuple[np.ndarray, np.ndarray]:
    num, den = cells_of(rate)
    return sum(cells[c] for c in num), sum(cells[c] for c in den)


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _pair(low, high) -> list | None:
    low, high = _num(low), _num(high)
    return None if low is None or high is None else [low, high]


def _auc_intervals(y_true01, score, grouping, weights, level) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-group ROC AUC and its percentile bootstrap interval (information only)."""
    n_groups = len(grouping.names)

    def auc(w):
        return _auc_per_group(y_true01, score, grouping.codes, n_groups, np.asarray(w, dtype=np.float32))

    point = auc(np.ones((1, len(y_true01))))[0]
    if not weights:
        return point, None
    samples = np.concatenate([auc(w) for w in weights])
    return point, np.stack(bootstrap.percentile_interval(samples, level, axis=0))


def _ece(y_true01, score, grouping, bins) -> np.ndarray:
    return calibration.ece_by_group(y_true01, score, grouping.codes, len(grouping.names), bins)


def _groups(cells, grouping, settings, eligible, auc, ece) -> dict:
    out = {}
    count = cells["tp"] + cells["fp"] + cells["fn"] + cells["tn"]
    for g, name in enumerate(grouping.names):
        entry, ci = {"count": int(count[g])}, {}
        for rate in RATES:
            k, n = (v[g] for v in _rate(cells, rate))
            entry[rate] = _num(k / n) if n else None
            ci[rate] = _pair(*intervals.wilson(k, n, settings.ci)) if n else None
        if auc is not None:
            point, bounds = auc
            entry["roc_auc"] = _num(point[g])
            pair = None if bounds is None else _pair(bounds[0, g], bounds[1, g])
            # a percentile interval that misses its own estimate is not reported (biased statistic)
            ci["roc_auc"] = (
                pair if pair and entry["roc_auc"] is not None and intervals.contains(entry["roc_auc"], *pair) else None
            )
            entry["ece"] = _num(ece[g])
        entry["flags"] = _flags(count[g], cells["tp"][g] + cells["fn"][g], settings.min_group_size)
        entry["eligible"] = bool(eligible[g])
        entry["ci"] = ci
        out[name] = entry
    return out


_VS_REFERENCE = {
    "selection_rate_ratio": ("ratio", "selection_rate"),
    "selection_rate_difference": ("difference", "selection_rate"),
    "tpr_difference": ("difference", "tpr"),
    "fpr_difference": ("difference", "fpr"),
    "precision_difference": ("difference", "precision"),
}


def _vs_reference(cells, g: int, ref: int, level: float) -> dict:
    """Information: each group against the reference (nominal level, no verdict)."""
    out = {}
    for key, (kind, rate) in _VS_REFERENCE.items():
        num, den = _rate(cells, rate)
        k1, n1, k2, n2 = num[g], den[g], num[ref], den[ref]
        if kind == "ratio":
            value = k1 / n1 / (k2 / n2) if n1 and n2 and k2 else None
            low, high = intervals.mover_ratio(k1, n1, k2, n2, level)
        else:
            value = k1 / n1 - k2 / n2 if n1 and n2 else None
            low, high = intervals.newcombe_difference(k1, n1, k2, n2, level)
        out[key] = {"value": _num(value), "ci": _pair(low, high) if value is not None else None}
    return out


def _max_min(cells, eligible) -> dict:
    """fairlearn-style max-minus-min over eligible groups: point values only (see module docstring)."""
    table = {r: np.asarray(_rate_values(cells, r))[None, :] for r in ("selection_rate", "tpr", "fpr", "fnr")}
    return {k: _num(v[0]) for k, v in disparity.between_groups(table, eligible).items()}


def _rate_values(cells, rate):
    k, n = _rate(cells, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)


@dataclass
class _View:
    name: str
    grouping: Grouping
    cells: dict
    ref: int
    sizable: np.ndarray  # groups with at least min_group_size rows


def _prepare_view(name, labels, y_true01, y_pred01, settings) -> _View:
    grouping = Grouping.from_labels(labels)
    cells = confusion_cells(y_true01, y_pred01, grouping)
    count = cells["tp"] + cells["fp"] + cells["fn"] + cells["tn"]
    positives = cells["tp"] + cells["fn"]
    eligible = np.array([not _flags(c, p, settings.min_group_size) for c, p in zip(count, positives)])
    ref = _reference(name, grouping.names, count, eligible, settings.reference)
    return _View(name, grouping, cells, ref, count >= settings.min_group_size)


def _family_size(views: list[_View], settings: FairnessSettings, sensitive: list[str], has_score: bool) -> int:
    m = 0
    for view in views:
        for name, criterion in CRITERIA.items():
            if not settings.policy.gates(name, view.name, sensitive):
                continue
            if criterion.kind == "calibration":
                m += int(view.sizable.sum()) if has_score else 0
            else:
                others = view.sizable.copy()
                others[view.ref] = False
                m += int(others.sum()) * len(criterion.rates)
    return max(m, 1)


def _bound(settings: FairnessSettings, criterion):
    if criterion.name in settings.policy.criteria:
        return pol.normalise_bound(criterion.kind, settings.policy.criteria[criterion.name])
    return tuple(settings.ratio_bounds) if criterion.kind == "ratio" else settings.max_difference


def _comparisons(criterion, view, settings, level, y_true01, score) -> list[dict]:
    names, rows = view.grouping.names, []
    events = settings.policy.min_events
    for g, group in enumerate(names):
        if criterion.kind == "calibration":
            result = pol.calibration_gap(y_true01, score, view.grouping.codes == g, group, level, events)
        elif g == view.ref:
            continue
        else:
            result = pol.compare_rates(criterion, view.cells, g, view.ref, names, level, events)
        if not view.sizable[g] or (criterion.kind != "calibration" and not view.sizable[view.ref]):
            result["reason"] = (
                result.get("reason") or f"fewer than {settings.min_group_size} rows in '{group}' or the reference"
            )
            result["small"] = True
        rows.append({"group": group, **result})
    return rows


def _judge_rows(rows: list[dict], kind: str, bound) -> None:
    for row in rows:
        value, low, high = _num(row.pop("value")), _num(row.pop("low")), _num(row.pop("high"))
        row["value"], row["ci"] = value, _pair(low, high)
        if value is None or row["ci"] is None:
            row["status"] = pol.UNDEFINED
            row["reason"] = row.get("reason") or "undefined: an empty denominator"
        elif row.get("reason"):
            row["status"] = pol.INCONCLUSIVE
        else:
            row["status"] = pol.judge("difference" if kind == "calibration" else kind, value, low, high, bound)
        row["assessed"] = row["status"] != pol.UNDEFINED and not row.get("reason")
        row.pop("small", None)


def _aggregate(rows: list[dict], kind: str, bound, require_all: bool) -> tuple[str, dict | None, str | None]:
    """The check's status, the comparison that decides it, and the reason in words."""
    assessed = [r for r in rows if r["assessed"]]
    skipped = [r for r in rows if not r["assessed"]]
    sev = lambda r: pol.severity("difference" if kind == "calibration" else kind, r["value"], bound)  # noqa: E731
    fails = [r for r in assessed if r["status"] == pol.FAIL]
    note = "; ".join(r["reason"] for r in skipped) or None
    if fails:
        worst = max(fails, key=sev)
        return pol.FAIL, worst, f"'{worst['group']}' is outside the bound with the whole interval"
    if not assessed:
        status = pol.UNDEFINED if rows and all(r["status"] == pol.UNDEFINED for r in rows) else pol.INCONCLUSIVE
        return status, (max(rows, key=sev) if rows else None), note or "no group other than the reference"
    if require_all and skipped:
        return (
            pol.INCONCLUSIVE,
            max(assessed, key=sev),
            f"groups not assessed (audit.policy.require_all_groups): {note}",
        )
    open_ = [r for r in assessed if r["status"] == pol.INCONCLUSIVE]
    if open_:
        worst = max(open_, key=sev)
        return (
            pol.INCONCLUSIVE,
            worst,
            f"the interval for '{worst['group']}' straddles the bound" + (f"; not assessed: {note}" if note else ""),
        )
    worst = max(assessed, key=sev)
    return pol.PASS, worst, ("every assessed group meets the bound" + (f"; not assessed: {note}" if note else ""))


def _verdict(criterion, view, settings, sensitive, level_for, y_true01, score) -> dict:
    gating = settings.policy.gates(criterion.name, view.name, sensitive)
    level = level_for(gating)
    bound = _bound(settings, criterion)
    rows = _comparisons(criterion, view, settings, level, y_true01, score)
    _judge_rows(rows, criterion.kind, bound)
    status, decisive, reason = _aggregate(rows, criterion.kind, bound, settings.policy.require_all_groups)
    kind = "difference" if criterion.kind == "calibration" else criterion.kind
    return {
        "check": f"{view.name}: {criterion.name}",
        "feature": view.name,
        "metric": criterion.name,
        "value": decisive["value"] if decisive else None,
        "ci": decisive["ci"] if decisive else None,
        "group": decisive["group"] if decisive else None,
        "reference": None if criterion.kind == "calibration" else view.grouping.names[view.ref],
        "bound": list(bound) if isinstance(bound, tuple) else bound,
        "status": status,
        "gating": gating,
        "reason": reason,
        "ci_level": level,
        "comparisons": rows,
        "severity": pol.severity(kind, decisive["value"], bound) if decisive and decisive["value"] is not None else 0.0,
    }


def _order(checks: list[dict]) -> list[dict]:
    """Gating checks first; within each, failures first and the largest effect first."""
    return sorted(checks, key=lambda v: (not v["gating"], _STATUS_ORDER.get(v["status"], 9), -min(v["severity"], 1e9)))


def audit_decisions(
    y_true01,
    y_pred01,
    score,
    groups: pd.DataFrame,
    sensitive: list[str],
    settings: FairnessSettings,
    *,
    inconclusive_reason: str | None = None,
) -> dict:
    """Audit binary decisions (1 = favourable) for every sensitive view under ``settings.policy``.

    ``score`` (probability of the favourable outcome) enables ROC AUC, ECE and calibration; pass
    None for decisions alone. ``inconclusive_reason`` (e.g. a degenerate model) turns every
    verdict inconclusive with that reason, whatever the data say, so it cannot pass a gate.
    """
    y_true01 = np.asarray(y_true01, dtype=np.int64)
    y_pred01 = np.asarray(y_pred01, dtype=np.int64)
    score = None if score is None else np.asarray(score, dtype=np.float64)
    labelled = sensitive_views(groups, sensitive)  # the stage refuses an unknown reference first (check_reference)
    views = [_prepare_view(name, labels, y_true01, y_pred01, settings) for name, labels in labelled.items()]
    m = _family_size(views, settings, sensitive, score is not None)
    family = settings.policy.family == "bonferroni"

    def level_for(gating):
        return intervals.bonferroni_level(settings.ci, m) if gating and family else settings.ci

    weights = (
        list(bootstrap.resample_counts(len(y_true01), settings.n_boot, settings.seed))
        if settings.n_boot and score is not None
        else []
    )
    features, checks = {}, []
    for view in views:
        features[view.name] = _view_block(view, y_true01, score, settings, weights)
        for criterion in CRITERIA.values():
            if criterion.kind == "calibration" and score is None:
                continue
            checks.append(_verdict(criterion, view, settings, sensitive, level_for, y_true01, score))
    if inconclusive_reason:
        for v in checks:
            v["computed_status"], v["status"] = v["status"], pol.INCONCLUSIVE
            v["reason"] = f"{inconclusive_reason} (computed: {v['computed_status']})"
    return {
        "features": features,
        "verdicts": _order(checks),
        "policy": describe_policy(settings, sensitive, m, level_for(True)),
    }


def _view_block(view: _View, y_true01, score, settings, weights) -> dict:
    eligible = np.array(
        [
            not f
            for f in (
                _flags(c, p, settings.min_group_size)
                for c, p in zip(
                    view.cells["tp"] + view.cells["fp"] + view.cells["fn"] + view.cells["tn"],
                    view.cells["tp"] + view.cells["fn"],
                )
            )
        ]
    )
    auc = ece = None
    if score is not None:
        auc = _auc_intervals(y_true01, score, view.grouping, weights, settings.ci)
        ece = _ece(y_true01, score, view.grouping, settings.calibration_bins)
    groups = _groups(view.cells, view.grouping, settings, eligible, auc, ece)
    for g, name in enumerate(view.grouping.names):
        if g != view.ref:
            groups[name]["vs_reference"] = _vs_reference(view.cells, g, view.ref, settings.ci)
    block = {"reference": view.grouping.names[view.ref], "groups": groups, "disparities": {}}
    for name, value in _max_min(view.cells, eligible).items():
        block["disparities"][name] = {"value": value, "ci": None}
        block[name] = value  # flat copy: `dvc metrics diff` shows it directly
    return block


def describe_policy(settings: FairnessSettings, sensitive: list[str], family_size: int, gating_level: float) -> dict:
    """What gates, with which bound and why, in the words the report prints."""
    p = settings.policy
    criteria = {
        name: {
            "bound": (list(b) if isinstance(b := pol.normalise_bound(CRITERIA[name].kind, bound), tuple) else b),
            "meaning": CRITERIA[name].meaning,
        }
        for name, bound in p.criteria.items()
    }
    return {
        "criteria": criteria,
        "attributes": list(p.attributes) if p.attributes is not None else list(sensitive),
        "min_events": p.min_events,
        "min_group_size": settings.min_group_size,
        "require_all_groups": p.require_all_groups,
        "family": p.family,
        "family_size": family_size,
        "ci": settings.ci,
        "gating_ci_level": gating_level,
    }


def multiclass_accuracy(y: np.ndarray, y_pred: np.ndarray, groups: pd.DataFrame, sensitive: list[str]) -> dict:
    """Accuracy over all classes per group (the favourable-vs-rest audit cannot show it)."""
    correct = pd.Series(np.asarray(y) == np.asarray(y_pred))
    return {
        name: {str(g): float(v) for g, v in correct.groupby(labels.to_numpy()).mean().items()}
        for name, labels in sensitive_views(groups, sensitive).items()
    }


def selection_rate_rows(features: dict) -> pd.DataFrame:
    """Long table (feature, group, selection_rate) for the DVC bar plot."""
    rows = [
        {"feature": f, "group": g, "selection_rate": v["selection_rate"]}
        for f, block in features.items()
        for g, v in block["groups"].items()
    ]
    return pd.DataFrame(rows)
