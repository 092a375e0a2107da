"""Report sections 'Ethical considerations' and 'Caveats and recommendations', written from this
run's outputs: what the audit found, what it could not measure, and the fixed limits of the data."""

from __future__ import annotations

from pipeline.audit.gate import gate
from pipeline.report.model import Section, Table
from pipeline.report.safe import fmt


def ethics_section(ctx: dict) -> Section:
    """Bias, privacy, interpretability, compute and energy: one paragraph each, from this run's outputs."""
    g = gate(ctx["fairness"])
    meta = ctx["meta"] or {}
    if not ctx["fairness"]:
        bias = "Bias: the fairness stage has not run, so group disparities are unknown."
    elif not g.available:
        bias = "Bias: group metrics were computed but no pass/fail verdicts are available; see Quantitative analyses."
    else:
        bias = f"Bias: {g.counts.get('pass', 0)} of {sum(g.counts.values())} fairness checks pass on the test split" + (
            f"; {len(g.failed)} do not (listed under Quantitative analyses; the summary says what they mean for whom)."
            if g.failed
            else "."
        )
    privacy = "Privacy: the data holds personal attributes of real people; " + (
        "the privacy stage measured the model's membership-inference risk (see Privacy)."
        if ctx["privacy"]
        else "the privacy stage has not run, so the model's leakage of its training rows is unmeasured."
    )
    privacy += f" Sensitive attributes {'are' if meta.get('sensitive_as_features') else 'are not'} model inputs."
    interp = (
        "Interpretability: attributions per input column are reported under Interpretability; they explain the "
        "model, not the world, and correlated columns share credit."
        if ctx["explain"]
        else "Interpretability: the explain stage has not run."
    )
    tables = []
    cost = (ctx["train"] or {}).get("cost") or {}
    if cost:
        compute = "Compute and energy: the training cost below was measured on this run's hardware."
        tables.append(
            ("Compute and energy (training)", Table(["Item", "Value"], [[k, fmt(v)] for k, v in sorted(cost.items())]))
        )
    else:
        compute = "Compute and energy: the train stage has not run, so its cost is unknown."
    return Section("ethical-considerations", "Ethical considerations", [bias, privacy, interp, compute], tables)


def caveats_section(ctx: dict) -> Section:
    """Caveats derived from this run (small groups, missing stages, failed checks) plus fixed limits of the data."""
    items = []
    min_size = ctx["cfg"]["audit"]["min_group_size"]
    for feature, block in ((ctx["fairness"] or {}).get("features") or {}).items():
        small = [str(name) for name, v in (block.get("groups") or {}).items() if (v.get("count") or 0) < min_size]
        if small:
            items.append(
                f"Groups of {feature} with fewer than {min_size} test rows have wide uncertainty: {', '.join(small)}."
            )
    missing = [name for name in ("evaluate", "fairness", "explain", "privacy") if not ctx[name]]
    if missing:
        items.append(f"Stages without output in this run: {', '.join(missing)}; their sections say so.")
    g = gate(ctx["fairness"])
    if g.available and not g.passed:
        items.append(
            "Not every fairness check passed: do not deploy this version; the registry withholds the 'audited' alias."
        )
    source = (ctx["meta"] or {}).get("source")
    if source == "adult":
        items.append(
            "The Adult data comes from the 1994 US census: it does not describe today's population; re-audit "
            "on current data."
        )
    items.append(
        "Disparities are measured on one test split; they estimate, with the stated intervals, not guarantee, "
        "behaviour on new data."
    )
    return Section("caveats", "Caveats and recommendations", items)
