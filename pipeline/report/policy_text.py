"""The audit policy in words, built once from ``fairness.json``'s ``policy`` block.

The report's fairness section, the MLflow run description, the registered versions'
descriptions and the console summary all quote these sentences, so the interval method and level
a reviewer reads in one place are the ones every other place names (issue 26: the run
description once said "95% bootstrap interval" while the report said closed-form intervals at
0.995). When the fairness stage writes a ``rule`` sentence into the policy block, it is quoted
as written.
"""

from __future__ import annotations

from pipeline.report.safe import fmt

#: The closed-form intervals the fairness audit computes (pipeline/stats/intervals.py), by what they bound.
INTERVAL_METHODS = (
    "Wilson for each group's rates, Newcombe for differences, MOVER-R (Donner & Zou) for ratios, "
    "Student's t for calibration"
)
DEFAULT_RULE = (
    "A gating check passes when its whole interval meets the bound, fails when none of it does, and is "
    "inconclusive otherwise."
)


def policy(fairness: dict | None) -> dict:
    return (fairness or {}).get("policy") or {}


def bound_text(bound) -> str:
    """``within [0.800, 1.250]`` for a band, ``|d| <= 0.100`` for a difference."""
    if isinstance(bound, (list, tuple)):
        return f"within [{fmt(bound[0])}, {fmt(bound[1])}]"
    return f"|d| <= {fmt(bound)}"


def interval_sentence(fairness: dict | None) -> str:
    """Which intervals, at which level, and how the family of gating comparisons is controlled."""
    p = policy(fairness)
    if not p:
        return "No audit policy was recorded, so no interval level can be stated."
    family = (
        f"The {p.get('family_size', '?')} gating comparisons are controlled as a family (Bonferroni): each "
        f"gating interval is at level {fmt(p.get('gating_ci_level'))}, so all hold together with probability "
        f"at least {fmt(p.get('ci'))}."
        if p.get("family") == "bonferroni"
        else f"Each gating interval is at level {fmt(p.get('ci'))}, with no control over the family: one may "
        "fail by luck."
    )
    return f"Intervals (closed-form): {INTERVAL_METHODS}. {family}"


def rule_sentence(fairness: dict | None) -> str:
    """The decision rule: the fairness stage's own sentence when it wrote one."""
    rule = policy(fairness).get("rule")
    return str(rule) if rule else DEFAULT_RULE


def criteria_sentence(fairness: dict | None) -> str:
    """``Gating criteria on sex, race: selection_rate_ratio (within [0.800, 1.250]); equal_opportunity (...)``."""
    p = policy(fairness)
    criteria = p.get("criteria") or {}
    if not criteria:
        return "No gating criteria were recorded."
    listed = "; ".join(f"{name} ({bound_text(c.get('bound'))})" for name, c in criteria.items())
    return f"Gating criteria on {', '.join(p.get('attributes') or []) or 'every sensitive attribute'}: {listed}."


def exempt_sentence(fairness: dict | None) -> str | None:
    """Groups the policy exempts, with the reason (the ``exempt`` list, when the fairness stage writes it)."""
    exempt = policy(fairness).get("exempt") or []
    if not exempt:
        return None
    items = "; ".join(
        f"{e.get('attribute')} '{e.get('group')}' from {e.get('criterion')} ({e.get('reason')})" for e in exempt
    )
    return f"Exempt: {items}."


def summary(fairness: dict | None) -> list[str]:
    """The policy in three or four sentences, in the order a reviewer needs them."""
    out = [criteria_sentence(fairness), rule_sentence(fairness), interval_sentence(fairness)]
    exempt = exempt_sentence(fairness)
    return out + ([exempt] if exempt else [])
