"""The fairness audit: per-group rates with intervals, comparisons with a reference group, and
verdicts under the user's audit policy.

Labels are mapped to {0, 1} explicitly (1 = the configured favourable outcome) before anything
is computed: fairlearn silently returns 0 disparities for string labels. Multiclass targets are
audited as the favourable class against the rest, plus per-group accuracy over all classes.

Intervals are closed-form (:mod:`pipeline.stats.intervals`), so no verdict depends on the number
of bootstrap resamples: ``n_boot`` only sizes the bootstrap of the per-group ROC AUC, which is
information (row-keyed Poisson replicates of a score histogram, :mod:`pipeline.stats.counts`).
The fairlearn-style max-minus-min disparities are kept as information without an interval:
under resampling they are biased upwards and their percentile intervals can exclude the
estimate. The decision rules (equivalence for pass, family control for fail, not assessable for a
comparison lacking rows or events) are :mod:`pipeline.audit.policy`'s. Verdicts are computed from
the evidence only (confusion cells and calibration sums per group, written to ``fairness.json``),
so the gate recomputes them instead of reading a status.

Every figure comes from mergeable count tables (:mod:`pipeline.stats.counts`): the local engine
builds them from the whole test split as one block, the Ray engine (:mod:`pipeline.scale`) from
many blocks merged on the driver, and :func:`audit_tables` turns either into the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.audit import disparity
from pipeline.audit import policy as pol
from pipeline.errors import BadInputError
from pipeline.stats import bootstrap, counts, intervals
from pipeline.stats.groups import sensitive_views
from pipeline.tables.criteria import CRITERIA, RATES, cells_of

_STATUS_ORDER = {pol.FAIL: 0, pol.NOT_ASSESSABLE: 1, pol.INCONCLUSIVE: 2, pol.PASS: 3}


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


def settings_from_config(cfg) -> FairnessSettings:
    """The fairness settings of a :class:`pipeline.config.Config` (its ``audit`` section and seed)."""
    a, p = cfg.audit, cfg.audit.policy
    policy = pol.Policy(
        criteria=dict(p.criteria),
        attributes=tuple(p.attributes) if p.attributes is not None else None,
        min_events=p.min_events,
        family=p.family,
        exempt=tuple(pol.Exemption(e.attribute, e.group, e.reason, e.criterion) for e in p.exempt),
    )
    return FairnessSettings(
        n_boot=a.n_boot,
        ci=a.ci,
        seed=cfg.seed,
        min_group_size=a.min_group_size,
        reference=dict(a.reference) if isinstance(a.reference, dict) else a.reference,
        ratio_bounds=tuple(a.ratio_bounds),
        max_difference=a.max_difference,
        calibration_bins=cfg.evaluate.calibration_bins,
        policy=policy,
    )


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


def _auc_intervals(tables: counts.CountTables, view: str, level) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-group ROC AUC and its percentile bootstrap interval (information only)."""
    point = counts.auc(tables, view)
    if not tables.spec.n_boot:
        return point, None
    return point, np.stack(bootstrap.percentile_interval(counts.auc_replicates(tables, view), level, axis=0))


def _groups(cells, names, settings, eligible, auc, ece) -> dict:
    out = {}
    count = cells["tp"] + cells["fp"] + cells["fn"] + cells["tn"]
    for g, name in enumerate(names):
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
class ViewEvidence:
    """The evidence of one sensitive view: group names, confusion cells and calibration sums.

    A verdict is a function of this and the policy only, so the gate can recompute it from the
    file the fairness stage wrote (:func:`evidence_from_file`) instead of trusting a status string.
    """

    name: str
    names: list[str]
    cells: dict
    calibration: list[dict] | None  # per group {n, events, sum, sumsq} of (observed - score)
    ref: int = 0
    sizable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def count(self) -> np.ndarray:
        return self.cells["tp"] + self.cells["fp"] + self.cells["fn"] + self.cells["tn"]


def _significant(value: float) -> float:
    """12 significant digits: the precision calibration sums are kept and written at, so a
    verdict recomputed from the file equals the one the stage computed."""
    return float(f"{value:.12g}")


def view_evidence(tables: counts.CountTables, view: str) -> ViewEvidence:
    """A view's evidence from its count tables: cells as float64 (exact integers), calibration
    sums at the precision they are written at."""
    cells = {c: v.astype(np.float64) for c, v in counts.cells(tables, view).items()}
    calib = None
    if tables.scored:
        calib = [
            {**row, "sum": _significant(row["sum"]), "sumsq": _significant(row["sumsq"])}
            for row in counts.calibration_sums(tables, view)
        ]
    return ViewEvidence(view, tables.names(view), cells, calib)


def _finish_view(view: ViewEvidence, settings: FairnessSettings) -> ViewEvidence:
    count, positives = view.count, view.cells["tp"] + view.cells["fn"]
    eligible = np.array([not _flags(c, p, settings.min_group_size) for c, p in zip(count, positives)])
    view.ref = _reference(view.name, view.names, count, eligible, settings.reference)
    view.sizable = count >= settings.min_group_size
    return view


def evidence_from_file(fairness: dict) -> list[ViewEvidence]:
    """The evidence ``fairness.json`` holds (cells and calibration sums per group), for the gate."""
    views = []
    for name, block in (fairness.get("features") or {}).items():
        groups = block.get("groups") or {}
        names = list(groups)
        cells = {c: np.array([float(groups[g]["cells"][c]) for g in names]) for c in ("tp", "fp", "fn", "tn")}
        calib = [groups[g]["calibration"] for g in names] if all("calibration" in groups[g] for g in names) else None
        views.append(ViewEvidence(name, names, cells, calib if names else None))
    return views


def _family_size(views: list[ViewEvidence], settings: FairnessSettings, sensitive: list[str]) -> int:
    """Every gating comparison that could fail: each non-reference group per rate (each group for
    calibration), small ones included (a small group can still fail on overwhelming evidence)."""
    m = 0
    for view in views:
        for name, criterion in CRITERIA.items():
            if not settings.policy.gates(name, view.name, sensitive):
                continue
            if criterion.kind == "calibration":
                m += len(view.names) if view.calibration is not None else 0
            else:
                m += (len(view.names) - 1) * len(criterion.rates)
    return max(m, 1)


def _bound(settings: FairnessSettings, criterion):
    if criterion.name in settings.policy.criteria:
        return pol.normalise_bound(criterion.kind, settings.policy.criteria[criterion.name])
    return tuple(settings.ratio_bounds) if criterion.kind == "ratio" else settings.max_difference


def _comparisons(criterion, view: ViewEvidence, settings, bound, levels) -> list[dict]:
    rows, events = [], settings.policy.min_events
    for g, group in enumerate(view.names):
        if criterion.kind == "calibration":
            result = pol.calibration_gap(view.calibration[g], group, bound, levels, events)
        elif g == view.ref:
            continue
        else:
            result = pol.compare_rates(criterion, view.cells, g, view.ref, view.names, bound, levels, events)
        small = not view.sizable[g] or (criterion.kind != "calibration" and not view.sizable[view.ref])
        if small:
            result["reason"] = (
                result["reason"] or f"fewer than {settings.min_group_size} rows in '{group}' or the reference"
            )
        rows.append({"group": group, **result})
    return rows


def _row_status(row: dict) -> str:
    """fail on the family interval (even for a small group: the evidence is overwhelming), else
    not assessable when rows or events are lacking, else pass on the equivalence interval."""
    if row["fails"]:
        return pol.FAIL
    if row["reason"] or not np.isfinite(row["value"]):
        return pol.NOT_ASSESSABLE
    return pol.PASS if row["passes"] else pol.INCONCLUSIVE


def _needed_words(needed: dict | None, rate: str, min_events: int, rows: int, min_rows: int) -> str | None:
    if needed is None:
        return None
    words = RATES[rate].population if rate in RATES else "people in the rate's denominator"
    if needed["needs"] is None:
        return f"has {needed['has']} {words}; {needed['why']}"
    need = max(needed["needs"], min_events if rate != "selection_rate" else 0)
    extra = f" and at least {min_rows} rows (has {rows})" if rows < min_rows else ""
    if "reference_needs" in needed:
        extra += (
            f", and the reference about {needed['reference_needs']} (has {needed['reference_has']}): "
            "its own uncertainty binds"
        )
    return f"needs about {need} {words}, has {needed['has']}{extra}"


def _judge_rows(rows, criterion, bound, levels, settings, view: ViewEvidence, exempt) -> None:
    kind = "difference" if criterion.kind == "calibration" else criterion.kind
    for row in rows:
        status = _row_status(row)
        sizes = row.pop("sizes")
        value, low, high = _num(row.pop("value")), _num(row.pop("low")), _num(row.pop("high"))
        f_low, f_high = _num(row.pop("family_low")), _num(row.pop("family_high"))
        row.pop("passes"), row.pop("fails")
        row.update(value=value, ci=_pair(low, high), ci_family=_pair(f_low, f_high), status=status)
        row["severity"] = pol.severity(kind, value, bound) if value is not None else 0.0
        if status != pol.PASS and sizes:
            g = view.names.index(row["group"])
            needed = pol.needed_size(kind, sizes, bound, levels.alpha)
            row["needed"] = _needed_words(
                needed, row["rate"], settings.policy.min_events, int(view.count[g]), settings.min_group_size
            )
        exemption = exempt(row["group"])
        if exemption is not None and status in (pol.INCONCLUSIVE, pol.NOT_ASSESSABLE):
            row["exempt"] = exemption.reason


def _aggregate(rows: list[dict]) -> tuple[str, dict | None, str]:
    """The check's status and the comparison that decides it: a fail anywhere fails (never
    exempted); then any comparison not assessable, then any inconclusive; pass needs every
    remaining comparison to pass."""
    worst = lambda items: max(items, key=lambda r: r["severity"])  # noqa: E731
    fails = [r for r in rows if r["status"] == pol.FAIL]
    if fails:
        w = worst(fails)
        return pol.FAIL, w, f"'{w['group']}' is outside the bound with the whole family interval"
    live = [r for r in rows if not r.get("exempt")]
    for status, words in ((pol.NOT_ASSESSABLE, "not assessable"), (pol.INCONCLUSIVE, "inconclusive")):
        open_ = [r for r in live if r["status"] == status]
        if open_:
            w = worst(open_)
            why = "; ".join(f"'{r['group']}': {r.get('reason') or 'the interval straddles the bound'}" for r in open_)
            return status, w, f"{words} for {len(open_)} of {len(rows)} groups: {why}"
    if not live:
        return pol.NOT_ASSESSABLE, (worst(rows) if rows else None), "no comparison left to assess (none, or all exempt)"
    exempted = [r["group"] for r in rows if r.get("exempt")]
    note = f"; exempt: {', '.join(exempted)}" if exempted else ""
    return pol.PASS, worst(live), f"every comparison lies inside the bound{note}"


def _verdict(criterion, view: ViewEvidence, settings, sensitive, levels_for) -> dict:
    gating = settings.policy.gates(criterion.name, view.name, sensitive)
    levels = levels_for(gating)
    bound = _bound(settings, criterion)
    rows = _comparisons(criterion, view, settings, bound, levels)

    def exempt(group):
        return settings.policy.exemption(view.name, group, criterion.name) if gating else None

    _judge_rows(rows, criterion, bound, levels, settings, view, exempt)
    status, decisive, reason = _aggregate(rows)
    d = decisive or {}
    return {
        "check": f"{view.name}: {criterion.name}",
        "feature": view.name,
        "metric": criterion.name,
        "value": d.get("value"),
        "ci": d.get("ci"),
        "ci_family": d.get("ci_family"),
        "group": d.get("group"),
        "reference": None if criterion.kind == "calibration" else view.names[view.ref],
        "bound": list(bound) if isinstance(bound, tuple) else bound,
        "status": status,
        "gating": gating,
        "reason": reason,
        "ci_level": levels.equivalence,
        "ci_family_level": levels.fail,
        "needed": [f"'{r['group']}': {r['needed']}" for r in rows if r.get("needed") and not r.get("exempt")],
        "exempt": [
            {"group": r["group"], "reason": r["exempt"], "status": r["status"]} for r in rows if r.get("exempt")
        ],
        "comparisons": rows,
        "severity": d.get("severity", 0.0),
    }


def _order(checks: list[dict]) -> list[dict]:
    """Gating checks first; within each, failures first and the largest effect first."""
    return sorted(checks, key=lambda v: (not v["gating"], _STATUS_ORDER.get(v["status"], 9), -min(v["severity"], 1e9)))


def decide_verdicts(
    views: list[ViewEvidence],
    settings: FairnessSettings,
    sensitive: list[str],
    *,
    inconclusive_reason: str | None = None,
    gating_only: bool = False,
) -> tuple[list[dict], dict]:
    """Every verdict and the policy block, from the evidence alone (the stage and the gate both call this).

    ``gating_only`` skips the informational checks, which never change a gating one (the gate and
    the benchmark need only those)."""
    views = [_finish_view(v, settings) for v in views]
    m = _family_size(views, settings, sensitive)
    alpha = 1 - settings.ci

    def levels_for(gating):
        return pol.Levels(alpha, m if gating else 1, settings.policy.family)

    checks = []
    for view in views:
        for criterion in CRITERIA.values():
            if criterion.kind == "calibration" and view.calibration is None:
                continue
            if gating_only and not settings.policy.gates(criterion.name, view.name, sensitive):
                continue
            checks.append(_verdict(criterion, view, settings, sensitive, levels_for))
    if inconclusive_reason:
        for v in checks:
            v["computed_status"], v["status"] = v["status"], pol.INCONCLUSIVE
            v["reason"] = f"{inconclusive_reason} (computed: {v['computed_status']})"
    return _order(checks), describe_policy(settings, sensitive, levels_for(True))


def audit_decisions(
    y_true01,
    y_pred01,
    score,
    groups: pd.DataFrame,
    sensitive: list[str],
    settings: FairnessSettings,
    *,
    inconclusive_reason: str | None = None,
    row_id=None,
) -> dict:
    """Audit binary decisions (1 = favourable) for every sensitive view under ``settings.policy``.

    ``score`` (probability of the favourable outcome) enables ROC AUC, ECE and calibration; pass
    None for decisions alone. ``inconclusive_reason`` (e.g. a degenerate model) turns every
    verdict inconclusive with that reason, whatever the data say, so it cannot pass a gate.
    ``row_id`` keys the AUC bootstrap's weights (default: the row's position).
    """
    labelled = sensitive_views(groups, sensitive)  # the stage refuses an unknown reference first (check_reference)
    n = len(np.asarray(y_true01))
    row_id = np.arange(n, dtype=np.int64) if row_id is None else np.asarray(row_id, dtype=np.int64)
    views = {name: labels.to_numpy() for name, labels in labelled.items()}
    tables = counts.block_tables(y_true01, y_pred01, score, views, table_spec(settings), row_id)
    return audit_tables(tables, sensitive, settings, inconclusive_reason=inconclusive_reason)


def table_spec(settings: FairnessSettings) -> counts.TableSpec:
    """What each block of an audit under ``settings`` computes."""
    return counts.TableSpec(calibration_bins=settings.calibration_bins, n_boot=settings.n_boot, seed=settings.seed)


def audit_tables(
    tables: counts.CountTables,
    sensitive: list[str],
    settings: FairnessSettings,
    *,
    inconclusive_reason: str | None = None,
) -> dict:
    """The audit (features, verdicts, policy) from merged count tables: the local engine's one
    block and the Ray engine's many blocks both end here."""
    if tables.spec != table_spec(settings):
        raise ValueError(f"count tables computed under {tables.spec}, audited under {table_spec(settings)}")
    views = [view_evidence(tables, name) for name in tables.views]
    verdicts, policy = decide_verdicts(views, settings, sensitive, inconclusive_reason=inconclusive_reason)
    features = {v.name: _view_block(v, tables, settings) for v in views}
    return {"features": features, "verdicts": verdicts, "policy": policy}


def _view_block(view: ViewEvidence, tables: counts.CountTables, settings) -> dict:
    count, positives = view.count, view.cells["tp"] + view.cells["fn"]
    eligible = np.array([not _flags(c, p, settings.min_group_size) for c, p in zip(count, positives)])
    auc = ece = None
    if tables.scored:
        auc = _auc_intervals(tables, view.name, settings.ci)
        ece = counts.ece(tables, view.name)
    groups = _groups(view.cells, view.names, settings, eligible, auc, ece)
    for g, name in enumerate(view.names):
        groups[name]["cells"] = {c: int(view.cells[c][g]) for c in ("tp", "fp", "fn", "tn")}
        if view.calibration is not None:
            groups[name]["calibration"] = view.calibration[g]
        if g != view.ref:
            groups[name]["vs_reference"] = _vs_reference(view.cells, g, view.ref, settings.ci)
    block = {"reference": view.names[view.ref], "groups": groups, "disparities": {}}
    for name, value in _max_min(view.cells, eligible).items():
        block["disparities"][name] = {"value": value, "ci": None}
        block[name] = value  # flat copy: `dvc metrics diff` shows it directly
    return block


def describe_policy(settings: FairnessSettings, sensitive: list[str], levels: pol.Levels) -> dict:
    """What gates, with which bound, by which rule, in the words the report prints."""
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
        "reference": settings.reference,
        "family": p.family,
        "family_size": levels.family_size,
        "ci": settings.ci,
        "alpha": levels.alpha,
        "equivalence_level": levels.equivalence,
        "gating_ci_level": levels.fail,
        "limits": pol.LIMITS,
        "rule": levels.rule(),
        "exempt": [
            {"attribute": e.attribute, "group": e.group, "criterion": e.criterion, "reason": e.reason} for e in p.exempt
        ],
    }


def selection_rate_rows(features: dict) -> pd.DataFrame:
    """Long table (feature, group, selection_rate) for the DVC bar plot."""
    rows = [
        {"feature": f, "group": g, "selection_rate": v["selection_rate"]}
        for f, block in features.items()
        for g, v in block["groups"].items()
    ]
    return pd.DataFrame(rows)
