"""Report section: the mitigation candidates, their accuracy/disparity trade-off with intervals,
the verdict of each under the audit policy, and the one the registry's 'audited' alias names."""

from __future__ import annotations

from pipeline.report import plots
from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt

LEGAL_CAVEAT = (
    "Legal caveat: a group-threshold candidate (threshold_optimizer) reads the sensitive attribute at decision time "
    "and applies different cut-offs to different groups. That is explicit differential treatment, which is not lawful "
    "everywhere: for example, US employment law forbids using different cut-off scores on the basis of race, colour, "
    "religion, sex or national origin (42 U.S.C. 2000e-2(l)), and other jurisdictions and sectors restrict decisions "
    "that use protected characteristics. Seek legal review before deploying such a candidate; the reductions "
    "candidates use the attribute only while training."
)


def _with_ci(entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return "undefined"
    ci = entry.get("ci")
    return f"{fmt(entry['value'])} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci and ci[0] is not None else fmt(entry["value"])


def _checks(row: dict) -> str:
    items = row["trade_off"].get("gating_checks") or []
    return "; ".join(f"{c['check']} {_with_ci(c)} {c['status']}" for c in items) or "-"


def _table(result: dict) -> Table:
    rows = []
    for name, row in result["candidates"].items():
        verdict = "PASS" if row["passed"] else f"fail ({len(row['failed_checks'])} not passing)"
        if not row["deployable"]:
            verdict += ", comparison only"
        rows.append([name, _with_ci(row["accuracy"]), _with_ci(row["roc_auc"]), _with_ci(row["trade_off"]),
                     _checks(row), verdict, str(row["fits"])])  # fmt: skip
    for name, error in result.get("errors", {}).items():
        rows.append([name, "not built", "", "", "", error, ""])
    metric = next(iter(result["candidates"].values()))["trade_off"]["metric"] if result["candidates"] else "disparity"
    return Table(["Candidate", "accuracy [CI]", "ROC AUC [CI]", f"{metric} by {result['attribute']} [CI]",
                  f"gating checks on {result['attribute']}", "verdict (all attributes)", "network fits"], rows)  # fmt: skip


def _figure(result: dict) -> str | None:
    points = []
    for name, row in result["candidates"].items():
        t = row["trade_off"]
        if t.get("value") is None or row["accuracy"]["value"] is None:
            continue
        points.append({"label": name, "x": t["value"], "x_ci": t.get("ci"), "y": row["accuracy"]["value"],
                       "y_ci": row["accuracy"].get("ci"), "color": "#2e7d32" if row["passed"] else "#4a78a8"})  # fmt: skip
    if not points:
        return None
    metric = next(iter(result["candidates"].values()))["trade_off"]["metric"]
    return plots.scatter_intervals(points, f"Accuracy against {metric} by {result['attribute']} (test split)",
                                   f"{metric} by {result['attribute']}", "accuracy")  # fmt: skip


def build(ctx: dict) -> Section:
    result = ctx.get("mitigation")
    if not result or not result.get("enabled") or not result.get("candidates"):
        return not_run("mitigation", "Mitigation candidates", "mitigate")
    best = result.get("best_passing")
    rows = result["candidates"]
    paragraphs = [
        f"Mitigation on '{result['attribute']}' under the constraint {result['constraint']}. Each candidate is audited "
        "exactly like the network: the same metrics, intervals, policy and verdicts on the test split, on every sensitive "
        "attribute and their intersection; a candidate passes only when every gating check passes.",
        "Reductions (exponentiated_gradient, grid_search) retrain the network itself, with the project's training loop, "
        f"on all training rows with fairlearn's per-row weights ({result.get('weighting', 'loss')} weighting); "
        f"{result['fits_used']} network fits of a budget of {result['fit_budget']}. The threshold optimizer keeps the "
        "network and fits group-specific thresholds on the validation split. Randomised rules (a mixture, interpolated "
        "thresholds) decide each row by a seeded hash of the row, so the served model gives exactly the audited decisions.",
        (f"Best passing candidate: {best} (accuracy {_with_ci(rows[best]['accuracy'])}); the registry's 'audited' alias "
         "points to it." if best else
         "No candidate passes the audit policy: the registry's 'audited' alias is withheld from every version."),  # fmt: skip
    ]
    if any(r["method"] == "threshold_optimizer" for r in rows.values()):
        paragraphs.append(LEGAL_CAVEAT)
    for name, row in rows.items():
        if row.get("notes"):
            paragraphs.append(f"{name}: {'; '.join(row['notes'])}.")
    figure = _figure(result)
    return Section("mitigation", "Mitigation candidates", paragraphs, [("Candidates (test split)", _table(result))],
                   [("Accuracy/disparity trade-off with intervals (green: passes the policy)", figure)] if figure else [])  # fmt: skip
