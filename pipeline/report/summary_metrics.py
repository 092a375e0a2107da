"""``reports/summary.json``: the few figures ``dvc exp show`` and ``dvc metrics diff`` compare runs by.

DVC shows every number of every declared metrics file; the stage outputs hold well over a thousand,
so only this file is declared as ``metrics`` (the detail files are plain outputs). It holds accuracy,
AUC, the audit counts, each gating disparity (with its interval while the file stays within
:data:`MAX_FIGURES`), the privacy attack's AUC and the training work. Wall-clock training time is
left out: it differs on every run, and a metrics diff between identical runs must be empty (it is
logged to MLflow as ``cost/...``).
"""

from __future__ import annotations

from pipeline.audit.gate import STATUSES, gate
from pipeline.report import findings

MAX_FIGURES = 40


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return round(float(value), 6)


def _count(tree: dict) -> int:
    return sum(_count(v) if isinstance(v, dict) else 1 for v in tree.values())


def summary_metrics(ctx: dict) -> dict:
    """Nested ``{section: {name: number}}``; undefined figures are left out, never written as 0."""
    ev = ctx.get("evaluate") or {}
    out: dict[str, dict] = {"model": {k: _num(ev.get(k)) for k in ("accuracy", "balanced_accuracy", "roc_auc")}}
    g = gate(ctx.get("fairness"))
    audit = {f"checks_{k}": g.counts.get(k, 0) for k in STATUSES}  # fixed columns
    audit.update({f"checks_{k}": n for k, n in g.counts.items()})
    audit["passed"] = int(g.passed)
    out["audit"] = audit
    mia = (ctx.get("privacy") or {}).get("membership_inference") or {}
    out["privacy"] = {"attack_auc": _num(mia.get("auc"))}
    cost = (ctx.get("train") or {}).get("cost") or {}
    out["train"] = {
        "epochs_run": (ctx.get("train") or {}).get("epochs_run"),
        "training_flops": _num(cost.get("training_flops_estimate")),
    }
    out = {k: {n: v for n, v in block.items() if v is not None} for k, block in out.items()}
    gating = [v for v in findings.gating(ctx.get("fairness")) if _num(v.get("value")) is not None]
    room = MAX_FIGURES - _count(out)
    with_ci = 3 * len(gating) <= room
    fairness: dict[str, dict[str, float]] = {}
    for v in gating[: room if not with_ci else None]:
        block, metric = fairness.setdefault(str(v.get("feature")), {}), str(v.get("metric"))
        block[metric] = _num(v["value"])
        ci = v.get("ci") or [None, None]
        if with_ci and _num(ci[0]) is not None and _num(ci[1]) is not None:
            block[f"{metric}_ci_low"], block[f"{metric}_ci_high"] = _num(ci[0]), _num(ci[1])
    out["fairness"] = fairness
    return out
