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


def _bound(bound) -> str:
    return f"[{fmt(bound[0])}, {fmt(bound[1])}]" if isinstance(bound, list) else f"|d| <= {fmt(bound)}"


def _checks(row: dict) -> str:
    items = row["trade_off"].get("gating_checks") or []
    return "; ".join(f"{c['check']} {_with_ci(c)} {c['status']}" for c in items) or "-"


def _table(result: dict) -> Table:
    rows = []
    for name, row in result["candidates"].items():
        verdict = "PASS" if row["passed"] else f"fail ({len(row['failed_checks'])} not passing)"
        if not row["deployable"]:
            verdict += ", comparison only"
        rows.append(
            [
                name,
                ", ".join(row.get("targets") or []) or "-",
                _with_ci(row["accuracy"]),
                _with_ci(row["roc_auc"]),
                _checks(row),
                verdict,
                str(row["fits"]),
            ]
        )
    for name, error in result.get("errors", {}).items():
        rows.append([name, "", "not built", "", "", error, ""])
    return Table(
        [
            "Candidate",
            "policy criteria targeted",
            "accuracy [CI]",
            "ROC AUC [CI]",
            "gating checks (every policy attribute) [pass-rule CI]",
            "verdict",
            "network fits",
        ],
        rows,
    )


def _rows_audited(result: dict) -> str:
    """Which rows the candidates were audited on, in the words of the table's caption."""
    on = result.get("audited_on")
    return f"every test row: {fmt(on['test_rows'])}" if on else "test split"


def _audited_on(result: dict) -> str:
    """The paragraph that says where the candidates were built and audited (the ray engine only)."""
    on = result["audited_on"]
    built = ", ".join(f"{split} {fmt(n)}" for split, n in on["built_on"].items())
    return (
        f"Engine: {on['engine']}. The candidates were built on the hash-stratified sample's splits ({built} rows; "
        f"fairlearn needs the rows in memory) and each deployable one was audited on every test row of the shards "
        f"({fmt(on['test_rows'])} rows in {on['blocks']} blocks, scored by the saved candidate in a Ray actor, count "
        f"tables merged): the same rows as the fairness audit. The decisions file holds the sample's "
        f"{fmt(on['sample_test_rows'])} test rows."
    )


def _figure(result: dict) -> str | None:
    points = []
    for name, row in result["candidates"].items():
        t = row["trade_off"]
        if t.get("value") is None or row["accuracy"]["value"] is None:
            continue
        points.append(
            {
                "label": name,
                "x": t["value"],
                "x_ci": t.get("ci"),
                "y": row["accuracy"]["value"],
                "y_ci": row["accuracy"].get("ci"),
                "color": "#2e7d32" if row["passed"] else "#4a78a8",
            }
        )
    if not points:
        return None
    metric = next(iter(result["candidates"].values()))["trade_off"]["metric"]
    return plots.scatter_intervals(points, f"Accuracy against {metric} ({_rows_audited(result)})", metric, "accuracy")


def _targets(result: dict) -> str:
    """What was mitigated and why, in words."""
    attrs = result.get("attributes") or [result["attribute"]]
    where = f"'{attrs[0]}'" if len(attrs) == 1 else "the intersection of " + " and ".join(f"'{a}'" for a in attrs)
    moments = "; ".join(
        f"{' + '.join(t['criteria'])} -> "
        + " and ".join(
            f"{m['moment']}"
            + (
                f" (each group within {fmt(m['difference_bound'])} of the overall rate)"
                if "difference_bound" in m
                else ""
            )
            for m in t["moments"]
        )
        for t in result.get("targets") or []
    )
    if result.get("constraint") == "policy":
        text = (
            f"What is mitigated follows the audit policy (mitigation.constraint: policy): {moments}; on {where}. "
            "The bounds are those that imply the policy's bound between any group and the reference group on the "
            "training rows; the test audit below, with its intervals, decides."
        )
    else:
        text = (
            f"Mitigation under the constraint {result['constraint']} set by hand (mitigation.constraint), on {where}."
        )
    if result.get("untargeted_criteria"):
        text += f" No fairlearn constraint serves {', '.join(result['untargeted_criteria'])}: no candidate targets it."
    return text


def _at_equality(c: dict) -> str:
    e = c.get("at_equality")
    if not e:
        return ""
    what = {"tpr": "people with the favourable outcome", "fpr": "people without it", "selection_rate": "people"}[
        e["rate"]
    ]
    verdict = "still could not pass" if e["status"] != "pass" else "could pass"
    return (
        f"; with a rate equal to the reference's ({fmt(e['reference_rate'])}) its interval would be "
        f"[{fmt(e['ci'][0])}, {fmt(e['ci'][1])}] from {e['n_group']} {what}: it {verdict}"
    )


def _obstacles(result: dict) -> list[str]:
    """Plain words: the closest candidate, what it fails, and which checks no model could pass on this split."""
    ob = result.get("obstacles")
    if not ob or not ob.get("closest"):
        return []
    out = []
    nobody = [check for check, passing in ob["checks"].items() if not passing]
    if nobody:
        out.append(f"No candidate passes {', '.join(nobody)}.")
    lines = []
    unattainable = set()
    for v in ob["not_passing"]:
        parts = []
        for c in v["comparisons"]:
            parts.append(f"'{c['group']}' vs '{v['reference']}' {_with_ci(c)} {c['status']}{_at_equality(c)}")
            if (c.get("at_equality") or {}).get("status") not in (None, "pass"):
                unattainable.add(v["check"])
        lines.append(
            f"{v['check']} (bound {_bound(v['bound'])}, pass-rule intervals at {fmt(v['ci_level'])}): "
            f"{v['status']} - " + "; ".join(parts)
        )
    out.append(f"Closest candidate: {ob['closest']}, not passing: " + " | ".join(lines) + ".")
    if unattainable:
        out.append(
            f"{', '.join(sorted(unattainable))}: on this test split no model can pass, mitigated or not - some "
            "groups have so few people that even a rate exactly equal to the reference group's gives an interval "
            "reaching beyond the bound, so the audit cannot show compliance there whatever the model. More labelled "
            "rows for those groups (or a policy decision on them, e.g. audit.policy.attributes) are needed; the "
            "policy is not loosened here."
        )
    out.extend(f"Blocking: {b}." for b in ob.get("blockers") or [])
    return out


def build(ctx: dict) -> Section:
    result = ctx.get("mitigation")
    if not result or not result.get("enabled") or not result.get("candidates"):
        return not_run("mitigation", "Mitigation candidates", "mitigate")
    best = result.get("best_passing")
    rows = result["candidates"]
    reductions = (
        ", ".join(m for m in result.get("methods", []) if m in ("exponentiated_gradient", "grid_search")) or "none run"
    )
    paragraphs = [
        _targets(result),
        "Each candidate is audited exactly like the network: the same metrics, intervals, policy and verdicts on the "
        "test split, on every sensitive attribute and their intersection; a candidate passes only when every gating "
        "check passes.",
        *([_audited_on(result)] if result.get("audited_on") else []),
        f"Reductions ({reductions}) retrain the network itself, with the project's training loop, on all training "
        f"rows with fairlearn's per-row weights ({result.get('weighting', 'loss')} weighting); {result['fits_used']} "
        f"network fits of a budget of {result['fit_budget']}. The threshold optimizer keeps the network and fits "
        "group-specific thresholds on the validation split (it takes one constraint, so one candidate per "
        "constraint). Randomised rules (a mixture, interpolated thresholds) decide each row by a seeded hash of the "
        "row, so the served model gives exactly the audited decisions.",
        (
            f"Best passing candidate: {best} (accuracy {_with_ci(rows[best]['accuracy'])}); the registry's 'audited' "
            "alias points to it."
            if best
            else "No candidate passes the audit policy: the registry's 'audited' alias is withheld from every version."
        ),
        *([] if best else _obstacles(result)),
    ]
    if any(r["method"] == "threshold_optimizer" for r in rows.values()):
        paragraphs.append(LEGAL_CAVEAT)
    for name, row in rows.items():
        if row.get("notes"):
            paragraphs.append(f"{name}: {'; '.join(row['notes'])}.")
    figure = _figure(result)
    return Section(
        "mitigation",
        "Mitigation candidates",
        paragraphs,
        [(f"Candidates ({_rows_audited(result)})", _table(result))],
        [("Accuracy/disparity trade-off with intervals (green: passes the policy)", figure)] if figure else [],
    )
