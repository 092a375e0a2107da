"""Report section for the fairness audit: group tables with intervals, verdicts, mitigation.

Undefined values print as "undefined" (``safe.fmt``), never as 0; intervals as "[lo, hi]".
"""

from __future__ import annotations

from pipeline.report import plots
from pipeline.report.render import Section, Table, not_run
from pipeline.report.safe import fmt

KEY, TITLE = "quantitative-analyses", "Quantitative analyses: fairness"
GROUP_COLUMNS = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "accuracy_all_classes", "roc_auc", "ece")
DISPARITY_ROWS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equalized_odds_ratio",
                  "equal_opportunity_difference", "false_positive_rate_ratio", "false_negative_rate_ratio")  # fmt: skip


def _with_ci(value, ci) -> str:
    ci = ci or [None, None]
    if value is None:
        return "undefined"
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _bound(bound) -> str:
    low, high = bound
    return f"≤ {fmt(high)}" if low is None else f"[{fmt(low)}, {fmt(high)}]"


def group_table(block: dict) -> Table:
    present = [c for c in GROUP_COLUMNS if any(c in g for g in block["groups"].values())]
    rows = []
    for name, g in block["groups"].items():
        rows.append([name, fmt(g["count"]), *(_with_ci(g.get(c), g["ci"].get(c)) for c in present), "; ".join(g["flags"]) or "-"])
    return Table(["Group", "count", *present, "flags"], rows)


def disparity_table(block: dict) -> Table:
    return Table(["Disparity (max-min)", "value [CI]"], [[k, _with_ci(block.get(k), block["ci"].get(k))] for k in DISPARITY_ROWS])


def reference_table(block: dict) -> Table:
    cols = ("selection_rate_difference", "selection_rate_ratio", "equalized_odds_difference", "fpr_ratio", "fnr_ratio")
    rows = [[g, *(_with_ci(v.get(c), v["ci"].get(c)) for c in cols)] for g, v in block["vs_reference"].items()]
    return Table(["Group", *cols], rows)


def verdict_table(verdicts: list[dict]) -> Table:
    rows = [[v["feature"], v["metric"], _with_ci(v["value"], v["ci"]), _bound(v["bound"]), v["status"]] for v in verdicts]
    return Table(["Feature", "Check", "value [CI]", "allowed", "verdict"], rows)


def mitigation_rows(fair: dict) -> list[dict]:
    """(name, accuracy, main disparity with CI) for the network and each mitigated model."""
    mit = fair.get("mitigation") or {}
    feature = mit.get("sensitive_feature") or next(iter(fair["features"]))
    key = mit.get("main_disparity", "demographic_parity_difference")
    base = fair["features"][feature]
    rows = [{"name": "network (unmitigated)", "accuracy": fair.get("accuracy") or mit.get("unmitigated", {}).get("accuracy"),
             "value": base.get(key), "ci": base["ci"].get(key), "eod": base.get("equalized_odds_difference"),
             "eod_ci": base["ci"].get("equalized_odds_difference"), "note": "-"}]  # fmt: skip
    for m in mit.get("models", []):
        if "error" in m:
            rows.append({"name": m["name"], "accuracy": None, "value": None, "ci": None, "eod": None, "eod_ci": None, "note": f"not fitted: {m['error']}"})
            continue
        f = m["features"][feature]
        rows.append({"name": m["name"], "accuracy": m["accuracy"], "value": f.get(key), "ci": f["ci"].get(key),
                     "eod": f.get("equalized_odds_difference"), "eod_ci": f["ci"].get("equalized_odds_difference"),
                     "note": f"fitted on {m['fitted_on']}"})  # fmt: skip
    return rows


def mitigation_parts(fair: dict) -> tuple[list[tuple[str, Table]], list[tuple[str, str]], list[str]]:
    mit = fair.get("mitigation")
    if not mit:
        return [], [], ["Mitigation was not run (audit.mitigation is false)."]
    feature, rows = mit["sensitive_feature"], mitigation_rows(fair)
    table = Table(["Model", "accuracy", f"DP difference by {feature} [CI]", f"EO difference by {feature} [CI]", "note"],
                  [[r["name"], fmt(r["accuracy"]), _with_ci(r["value"], r["ci"]), _with_ci(r["eod"], r["eod_ci"]), r["note"]] for r in rows])  # fmt: skip
    ok = [r for r in rows if r["accuracy"] is not None and r["value"] is not None]
    figure = _pareto(ok, feature)
    text = [f"Mitigated models are audited on the test split exactly like the network. {mit['note']}. "
            "ThresholdOptimizer decisions are randomised per row, so they have no score: their ROC AUC and ECE are not reported."]  # fmt: skip
    return [(f"Mitigation compared (targeting {feature})", table)], ([("Accuracy against demographic parity difference", figure)] if figure else []), text


def _pareto(rows: list[dict], feature: str) -> str | None:
    if not rows:
        return None
    fig, ax = plots._figure(6.0, 3.6)
    for r in rows:
        ax.scatter([r["value"]], [r["accuracy"]], label=r["name"])
    ax.set_title("Accuracy vs disparity (upper-left is better)", fontsize=10)
    ax.set_xlabel(f"demographic parity difference by {feature}", fontsize=9)
    ax.set_ylabel("accuracy", fontsize=9)
    ax.legend(fontsize=7)
    return plots._svg(fig)


def build(ctx: dict) -> Section:
    fair = ctx.get("fairness")
    if not fair:
        return not_run(KEY, TITLE, "fairness")
    settings = fair.get("settings", {})
    paragraphs = [
        f"Favourable outcome: '{fair['favourable_class']}' (labels mapped to 1 = favourable, 0 = any other class). "
        f"Intervals: {fmt(settings.get('ci'))} percentile bootstrap over {settings.get('n_boot', '?')} whole-table resamples (seed {settings.get('seed', '?')}). "
        f"Groups under {settings.get('min_group_size', '?')} rows are flagged and kept out of disparities; undefined rates are shown as 'undefined'.",
        "A verdict passes when the whole interval lies inside the allowed range, fails when it lies wholly outside, "
        "and is inconclusive when the interval straddles a bound.",
    ]  # fmt: skip
    tables = [("Verdicts (our network)", verdict_table(fair.get("verdicts", [])))]
    figures = []
    for feature, block in fair["features"].items():
        tables.append((f"By {feature} (reference group: {block['reference']})", group_table(block)))
        tables.append((f"Disparities by {feature}", disparity_table(block)))
        if block["vs_reference"]:
            tables.append((f"Against the reference group '{block['reference']}' by {feature}", reference_table(block)))
        groups = list(block["groups"])
        values = [block["groups"][g]["selection_rate"] for g in groups]
        if all(v is not None for v in values):
            figures.append((f"Selection rate by {feature}", plots.barh(groups, values, f"Selection rate by {feature}", "share predicted favourable")))
    for name, ext in (fair.get("external") or {}).items():
        paragraphs.append(f"External {name}: decisions supplied with the data (not made by our network), audited the same way; accuracy {fmt(ext['accuracy'])}.")
        tables.append((f"Verdicts (external {name})", verdict_table(ext["verdicts"])))
        for feature, block in ext["features"].items():
            tables.append((f"External {name} by {feature}", group_table(block)))
    mt, mf, mp = mitigation_parts(fair)
    return Section(KEY, TITLE, paragraphs + mp, tables + mt, figures + mf)


def verdict_lines(ctx: dict) -> list[str]:
    """Ten-second summary for the top of the report."""
    fair = ctx.get("fairness")
    if not fair:
        return ["Fairness audit: not run."]
    checks = fair.get("verdicts", [])
    counts = {s: sum(v["status"] == s for v in checks) for s in ("pass", "fail", "inconclusive")}
    lines = [f"Fairness checks: {counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive of {len(checks)}."]
    for feature, block in fair["features"].items():
        key = "demographic_parity_difference"
        lines.append(f"Demographic parity difference by {feature}: {_with_ci(block.get(key), block['ci'].get(key))}.")
    rows = mitigation_rows(fair) if fair.get("mitigation") else []
    best = [r for r in rows[1:] if r["value"] is not None and r["accuracy"] is not None]
    if best and rows[0]["accuracy"] is not None:
        pick = min(best, key=lambda r: (r["value"], -r["accuracy"]))
        lines.append(f"Best mitigation for {fair['mitigation']['sensitive_feature']}: {pick['name']} brings it to {_with_ci(pick['value'], pick['ci'])} "
                     f"at accuracy {fmt(pick['accuracy'])} (cost {fmt(rows[0]['accuracy'] - pick['accuracy'])}).")  # fmt: skip
    return lines
