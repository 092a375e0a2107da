"""The audit policy in words, built once from ``fairness.json``'s ``policy`` block.

The report's fairness section, the MLflow run description, the registered versions'
descriptions and the console summary all quote these sentences, so the interval method and level
a reviewer reads in one place are the ones every other place names (issue 26: the run
description once said "95% bootstrap interval" while the report said closed-form intervals at
0.995). The fairness stage's ``rule`` sentence (methods and levels) is quoted as written; files
from before it existed get the rule they were decided by, from their recorded levels.
"""

from __future__ import annotations

from pipeline.report.safe import fmt

#: Files written before the fairness stage recorded its ``rule``: the intervals it computed then.
LEGACY_INTERVALS = (
    "Wilson for each group's rates, Newcombe for differences, MOVER-R (Donner & Zou) for ratios, "
    "Student's t for calibration"
)
LEGACY_RULE = (
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


def rule_sentence(fairness: dict | None) -> str:
    """The decision rule with its interval methods and levels: the fairness stage's own ``rule``
    sentence; for an older file, the rule and intervals it used then, from its recorded levels."""
    p = policy(fairness)
    if p.get("rule"):
        return str(p["rule"])
    if not p:
        return "No audit policy was recorded, so no decision rule or interval level can be stated."
    family = (
        f"each gating interval is at level {fmt(p.get('gating_ci_level'))} (Bonferroni over "
        f"{p.get('family_size', '?')} comparisons), so all hold together with probability at least {fmt(p.get('ci'))}."
        if p.get("family") == "bonferroni"
        else f"each gating interval is at level {fmt(p.get('ci'))}, with no control over the family."
    )
    return f"{LEGACY_RULE} Intervals (closed-form): {LEGACY_INTERVALS}; {family}"


def family_sentence(fairness: dict | None) -> str | None:
    """How many comparisons the family holds and what the informational intervals are (new files only)."""
    p = policy(fairness)
    if not p.get("rule"):
        return None
    return (
        f"The family has {p.get('family_size', '?')} gating comparisons. Informational checks use the same rule "
        "without the family; the interval printed beside one is its worst group's, unadjusted."
    )


def criteria_sentence(fairness: dict | None) -> str:
    """``Gating criteria on sex, race: selection_rate_ratio (within [0.800, 1.250]); equal_opportunity (...)``."""
    p = policy(fairness)
    criteria = p.get("criteria") or {}
    if not criteria:
        return "No gating criteria were recorded."
    listed = "; ".join(f"{name} ({bound_text(c.get('bound'))})" for name, c in criteria.items())
    return f"Gating criteria on {', '.join(p.get('attributes') or []) or 'every sensitive attribute'}: {listed}."


def exempt_sentences(fairness: dict | None) -> list[str]:
    """One sentence per exemption of ``audit.policy.exempt``, with its reason."""
    return [
        f"Exempt (audit.policy.exempt): {e.get('attribute')} '{e.get('group')}'"
        f"{' for ' + e['criterion'] if e.get('criterion') else ''}: {e.get('reason')}."
        for e in policy(fairness).get("exempt") or []
    ]


def summary(fairness: dict | None) -> list[str]:
    """The policy in a few sentences, in the order a reviewer needs them."""
    family = family_sentence(fairness)
    return [
        criteria_sentence(fairness),
        rule_sentence(fairness),
        *([family] if family else []),
        *exempt_sentences(fairness),
    ]
