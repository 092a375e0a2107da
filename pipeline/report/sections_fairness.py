"""Report section: the audit policy in words, base rates, gating and informational checks, group
tables with intervals, comparisons with the reference group, an existing system, mitigation."""

from __future__ import annotations

from pipeline.report import plots, policy_text
from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt

GROUP_COLUMNS = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "roc_auc", "ece")
REFERENCE_KEYS = (
    "selection_rate_ratio",
    "selection_rate_difference",
    "tpr_difference",
    "fpr_difference",
    "precision_difference",
)

IMPOSSIBILITY = (
    "Why not every criterion at once: when the share of people with the favourable outcome (the base rate) differs "
    "between groups, a model that is calibrated within each group cannot also give every group equal false positive "
    "and false negative rates, and equal selection rates then require unequal error rates (Kleinberg, Mullainathan & "
    "Raghavan 2016; Chouldechova 2017). So the audit policy names the criteria that matter for this use; the others "
    "are reported as information."
)


def _with_ci(value, ci) -> str:
    if value is None:
        return "undefined"
    if not ci or ci[0] is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _bound(v: dict) -> str:
    return policy_text.bound_text(v.get("bound"))


def _group_table(block: dict) -> Table:
    rows = []
    for name, g in block["groups"].items():
        label = f"{name} (reference)" if name == block["reference"] else name
        cells = [_with_ci(g.get(m), (g.get("ci") or {}).get(m)) for m in GROUP_COLUMNS]
        rows.append([label, str(g["count"]), *cells, "; ".join(g["flags"]) or "-"])
    return Table(["Group", "count", *GROUP_COLUMNS, "flags"], rows)


def _max_min_table(block: dict) -> Table:
    rows = [
        [name, fmt(d.get("value")) if d.get("value") is not None else "undefined"]
        for name, d in block.get("disparities", {}).items()
    ]
    return Table(["fairlearn-style max-min over eligible groups (information, no interval)", "value"], rows)


def _reference_table(block: dict) -> Table:
    rows = [
        [name, *(_with_ci(g["vs_reference"][k]["value"], g["vs_reference"][k]["ci"]) for k in REFERENCE_KEYS)]
        for name, g in block["groups"].items()
        if all(k in g.get("vs_reference", {}) for k in REFERENCE_KEYS)
    ]
    return Table([f"Group vs {block.get('reference')}", *REFERENCE_KEYS], rows)


def _checks_table(items: list[dict], gating: bool = True) -> Table:
    """Gating checks with the decisive group's 1 - 2 alpha interval and what an open check would take;
    informational checks with the worst group's unadjusted interval (chosen after the fact)."""
    level = next((v["ci_level"] for v in items if v.get("ci_level")), None)
    shown = f"{level:.0%} CI" if level else "CI"
    head = f"value [{shown}] (decisive group)" if gating else f"value [unadjusted worst-group {shown}]"
    rows = [
        [
            v["check"],
            v["status"].upper() if v.get("gating", True) else v["status"],
            _with_ci(v.get("value"), v.get("ci")),
            str(v.get("group") or "-"),
            str(v.get("reference") or "-"),
            _bound(v),
            "; ".join([v.get("reason") or "", *((v.get("needed") or []) if gating else [])]).strip("; "),
        ]
        for v in items
    ]
    return Table(["Check", "status", head, "group", "reference", "bound", "reason / what it would take"], rows)


def _policy_paragraphs(fair: dict) -> list[str]:
    p = fair.get("policy") or {}
    crit = "; ".join(
        f"{name} ({_bound({'bound': c['bound']})}): {c['meaning']}" for name, c in (p.get("criteria") or {}).items()
    )
    out = [
        f"Favourable outcome: '{fair['favourable_class']}'. Gating criteria (audit.policy), on "
        f"{', '.join(p.get('attributes') or [])}: {crit}. "
        "Only these decide the 'audited' alias and `python -m pipeline gate`; every other check below is information.",
        "Each group is compared with a reference group (not max-minus-min). "
        + policy_text.rule_sentence(fair)
        + (" " + policy_text.family_sentence(fair) if policy_text.family_sentence(fair) else ""),
        f"Groups with fewer than {p.get('min_group_size')} rows, or rates resting on fewer than "
        f"{p.get('min_events')} people, are not assessable (shown with the reason and what it would take): they "
        "never pass a gating check unless audit.policy.exempt names them, and a fail is never exempted.",
        *policy_text.exempt_sentences(fair),
        IMPOSSIBILITY,
    ]
    if set(p.get("criteria") or {}) == {"selection_rate_ratio", "equal_opportunity"}:
        out.insert(
            1,
            "This is the documented default policy: the four-fifths rule is the adverse-impact test regulators apply "
            "(US EEOC Uniform Guidelines, 1978), and equal opportunity asks that people who merit the favourable "
            "outcome get it at the same rate in every group (Hardt, Price & Srebro 2016); unlike parity with "
            "calibration, the two can hold together whatever the base rates. Choose other criteria in audit.policy "
            "when the use case calls for them.",
        )
    return out


def _base_rates(fair: dict) -> list[str]:
    lines = []
    for feature, block in fair["features"].items():
        rates = ", ".join(f"{g} {fmt(v.get('base_rate'))}" for g, v in block["groups"].items())
        lines.append(f"Base rates (share with the favourable outcome) by {feature}: {rates}.")
    return lines


def _external(system: str, audited: dict) -> tuple[list[str], list[tuple[str, Table]]]:
    d = audited.get("system") or {}
    paragraphs = [
        f"Existing system ({system}): column '{d.get('column')}', rule: {d.get('rule')}"
        + (f", direction {d.get('direction')}, threshold {fmt(d.get('threshold'))}" if system == "score" else "")
        + f"; audited on {d.get('rows')} rows ({'+'.join(d.get('splits') or [])} splits)"
        + (f", {d['rows_without_value']} rows without a value left out" if d.get("rows_without_value") else "")
        + ".",
        "Rates in words for this data: "
        + "; ".join(f"{k} = {v}" for k, v in (d.get("definitions") or {}).items())
        + ".",
    ]
    tables = [(f"Existing system's {system}: checks", _checks_table(audited["verdicts"]))]
    for feature, block in audited["features"].items():
        tables.append((f"Existing system's {system} by {feature}", _group_table(block)))
    return paragraphs, tables


def build(ctx: dict) -> Section:
    fair = ctx.get("fairness")
    if not fair or "verdicts" not in fair:
        return not_run("quantitative-analyses", "Quantitative analyses", "fairness")
    paragraphs = []
    if fair.get("blockers"):
        paragraphs.append("NO VERDICT CAN PASS: " + "; ".join(fair["blockers"]) + ".")
    paragraphs += _policy_paragraphs(fair) + _base_rates(fair)
    if fair.get("binary_note"):
        paragraphs.append(fair["binary_note"] + ".")
    gating = [v for v in fair["verdicts"] if v.get("gating", True)]
    info = [v for v in fair["verdicts"] if not v.get("gating", True)]
    tables = [
        ("Gating checks (audit policy)", _checks_table(gating)),
        ("Other checks (information)", _checks_table(info, gating=False)),
    ]
    figures = []
    for feature, block in fair["features"].items():
        tables += [
            (f"By {feature} ({(fair.get('settings') or {}).get('ci', 0.95):.0%} intervals)", _group_table(block)),
            (f"By {feature}, against the reference group", _reference_table(block)),
            (f"By {feature}, max-min", _max_min_table(block)),
        ]
        names = list(block["groups"])
        figures.append(
            (
                f"Selection rate by {feature}",
                plots.barh(
                    names,
                    [block["groups"][g]["selection_rate"] or 0.0 for g in names],
                    f"Selection rate by {feature}",
                    "share predicted favourable",
                ),
            )
        )
    for feature, per_group in (fair.get("accuracy_all_classes") or {}).items():
        tables.append(
            (
                f"Accuracy over all classes by {feature}",
                Table(["Group", "accuracy"], [[g, fmt(v)] for g, v in per_group.items()]),
            )
        )
    for system, audited in (fair.get("external") or {}).items():
        more_paragraphs, more_tables = _external(system, audited)
        paragraphs += more_paragraphs
        tables += more_tables
    return Section("quantitative-analyses", "Quantitative analyses", paragraphs, tables, figures)
