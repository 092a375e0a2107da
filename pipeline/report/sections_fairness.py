"""Report section: group tables with intervals, verdicts, intersections, mitigation, Pareto plot."""

from __future__ import annotations

from pipeline.report import plots
from pipeline.report.render import Section, Table, not_run
from pipeline.report.safe import fmt

GROUP_COLUMNS = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "roc_auc", "ece")


def _with_ci(value, ci) -> str:
    if value is None:
        return "undefined"
    if not ci or ci[0] is None or ci[0] == ci[1] == value:
        return fmt(value)
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _group_table(block: dict) -> Table:
    rows = []
    for name, g in block["groups"].items():
        label = f"{name} (reference)" if name == block["reference"] else name
        cells = [_with_ci(g.get(m), g["ci"].get(m)) for m in GROUP_COLUMNS]
        rows.append([label, str(g["count"]), *cells, "; ".join(g["flags"]) or "-"])
    return Table(["Group", "count", *GROUP_COLUMNS, "flags"], rows)


def _disparity_table(block: dict, verdicts: dict) -> Table:
    rows = [[name, _with_ci(d["value"], d["ci"]), verdicts.get(name, "-")] for name, d in block["disparities"].items()]
    return Table(["Disparity (max-min over eligible groups)", "value [CI]", "verdict"], rows)


def _reference_table(block: dict) -> Table:
    keys = ("selection_rate_ratio", "selection_rate_difference", "tpr_difference", "fpr_difference", "fpr_ratio", "fnr_ratio")
    rows = [[name, *(_with_ci(g["vs_reference"][k]["value"], g["vs_reference"][k]["ci"]) for k in keys)]
            for name, g in block["groups"].items() if "vs_reference" in g]  # fmt: skip
    return Table([f"Group vs {block['reference']}", *keys], rows)


def _mitigation(m: dict) -> tuple[list[tuple[str, Table]], list[tuple[str, str]], list[str]]:
    rows, xs, ys, labels = [], [], [], []
    for name, row in m["models"].items():
        if "error" in row:
            rows.append([name, "not fitted", "", "", row["error"]])
            continue
        rows.append([name, fmt(row["accuracy"]), fmt(row["demographic_parity_difference"]), fmt(row["equalized_odds_difference"]), ""])
        if row["demographic_parity_difference"] is not None:
            xs.append(row["demographic_parity_difference"]), ys.append(row["accuracy"]), labels.append(name)
    table = Table(["Model", "accuracy", f"DP difference by {m['feature']}", f"EO difference by {m['feature']}", "note"], rows)
    figure = plots.scatter(xs, ys, labels, f"Accuracy vs demographic parity difference ({m['feature']})",
                           "demographic parity difference", "accuracy")  # fmt: skip
    notes = [f"Mitigation targets '{m['feature']}'; fitted on the {m['fitted_on']}.", m["reductions_estimator"] + "."]
    return [("Mitigation compared (test split)", table)], [("Pareto: accuracy against disparity", figure)], notes


def build(ctx: dict) -> Section:
    fair = ctx.get("fairness")
    if not fair or "verdicts" not in fair:
        return not_run("quantitative-analyses", "Quantitative analyses", "fairness")
    s = fair["settings"]
    paragraphs = [
        f"Favourable outcome: '{fair['favourable_class']}'. Intervals: {int(s['ci'] * 100)}% bootstrap, {s['n_boot']} resamples. "
        f"Groups under {s['min_group_size']} rows, or without both outcomes in the truth, are flagged and left out of max-min disparities; "
        "their undefined rates are shown as undefined, never as 0.",
        f"Checks: ratios within {s['ratio_bounds']} (four-fifths rule), differences at most {s['max_difference']}; "
        "'inconclusive' means the interval straddles the bound.",
    ]
    if fair.get("binary_note"):
        paragraphs.append(fair["binary_note"] + ".")
    tables, figures = [], []
    for feature, block in fair["features"].items():
        verdicts = {v["metric"]: v["status"] for v in fair["verdicts"] if v["feature"] == feature}
        tables += [(f"By {feature}", _group_table(block)), (f"Disparities by {feature}", _disparity_table(block, verdicts)),
                   (f"By {feature}, against the reference group", _reference_table(block))]  # fmt: skip
        names = list(block["groups"])
        figures.append((f"Selection rate by {feature}", plots.barh(names, [block["groups"][g]["selection_rate"] or 0.0 for g in names],
                                                                     f"Selection rate by {feature}", "share predicted favourable")))  # fmt: skip
    for feature, per_group in (fair.get("accuracy_all_classes") or {}).items():
        tables.append((f"Accuracy over all classes by {feature}", Table(["Group", "accuracy"], [[g, fmt(v)] for g, v in per_group.items()])))
    for system, audited in (fair.get("external") or {}).items():
        rows = [[v["check"], _with_ci(v["value"], v["ci"]), v["status"]] for v in audited["verdicts"]]
        tables.append((f"Existing system's {system}: checks", Table(["Check", "value [CI]", "verdict"], rows)))
    if fair.get("mitigation"):
        more_tables, more_figures, notes = _mitigation(fair["mitigation"])
        tables += more_tables
        figures += more_figures
        paragraphs += notes
    return Section("quantitative-analyses", "Quantitative analyses", paragraphs, tables, figures)


def verdict_lines(ctx: dict) -> list[str]:
    """Ten-second summary: how many checks passed, failed or were inconclusive, and the worst ones."""
    fair = ctx.get("fairness")
    if not fair or "verdicts" not in fair:
        return ["Fairness: not audited in this run."]
    counts = {k: sum(v["status"] == k for v in fair["verdicts"]) for k in ("pass", "fail", "inconclusive")}
    lines = [f"Fairness: {counts['fail']} of {len(fair['verdicts'])} checks FAIL, {counts['inconclusive']} inconclusive, {counts['pass']} pass."]
    for v in [v for v in fair["verdicts"] if v["status"] == "fail"][:3]:
        lines.append(f"FAIL {v['check']} = {fmt(v['value'])} (bound {v['bound']}).")
    mit = (fair.get("mitigation") or {}).get("models", {})
    best = mit.get("threshold_optimizer (demographic_parity)")
    base = mit.get("network (unmitigated)")
    if best and base and "error" not in best:
        lines.append(f"Mitigation: demographic parity difference by {fair['mitigation']['feature']} {fmt(base['demographic_parity_difference'])} -> "
                     f"{fmt(best['demographic_parity_difference'])} at accuracy {fmt(base['accuracy'])} -> {fmt(best['accuracy'])}.")  # fmt: skip
    return lines
