"""What ``python -m pipeline gate`` prints: a message a CI log reader can act on (issue 26).

Each gating check gets one line with its status, value, interval (and level), bound and the group
that decides it against its reference group, worst first; then the blocking reasons, the
decision rule in the report's words (:mod:`pipeline.report.policy_text`) and the report's path.
Pure: it formats the outcome of :func:`pipeline.audit.gate.gate` and the verdict dicts of
``fairness.json``; the gate stage decides the exit code and prints the text.

Fields of newer fairness files (``needed``: what would settle an open check; ``exempt``: the
exemptions applied; status ``not_assessable``) are read with ``.get`` and shown when present.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import paths
from pipeline.audit.gate import Gate, gating_checks, label
from pipeline.report import findings, policy_text
from pipeline.report.safe import fmt

#: Statuses in the order a reader should meet them: what blocks first.
ORDER = {status: i for i, status in enumerate(findings.STATUS_ORDER)}


def _interval(v: dict) -> str:
    ci = v.get("ci") or [None, None]
    if ci[0] is None or ci[1] is None:
        return "no interval"
    level = v.get("ci_level")
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" + (f" at level {fmt(level)}" if level is not None else "")


def _needed(value) -> str:
    """``needed`` as the fairness stage writes it: sentences per open comparison ("'X': needs about
    213 people ..."), or a count / a mapping of group to count."""
    if not value:
        return ""
    if isinstance(value, list):
        return "; " + "; ".join(str(n) for n in value)
    if isinstance(value, dict):
        parts = ", ".join(f"{k} {int(n):,}" if isinstance(n, (int, float)) else f"{k} {n}" for k, n in value.items())
        return f"; would be settled with about {parts}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"; would be settled with about {int(value):,} people in the group"
    return f"; needed: {value}"


def _exempt(value) -> str:
    """Exemptions the policy applied to this check's groups (``audit.policy.exempt``)."""
    return "".join(f"; exempt '{e.get('group')}' ({e.get('status')}): {e.get('reason')}" for e in value or [])


def check_line(v: dict) -> str:
    """``FAIL  race: selection_rate_ratio = 0.453 [0.363, 0.564] at level 0.995, bound within [0.800,
    1.250]; decided by 'Black' against 'White'``."""
    status = str(v.get("status", "unknown"))
    group, reference = v.get("group"), v.get("reference")
    decided = f"; decided by '{group}' against '{reference}'" if group and reference else ""
    reason = f" ({v['reason']})" if v.get("reason") else ""
    return (
        f"{status.upper().replace('_', ' '):<14} {label(v)} = {fmt(v.get('value'))} {_interval(v)}, "
        f"bound {policy_text.bound_text(v.get('bound'))}{decided}{reason}{_needed(v.get('needed'))}"
        f"{_exempt(v.get('exempt'))}"
    )


def message(fairness: dict | None, outcome: Gate, report: Path = paths.REPORT_HTML) -> str:
    """The whole message: headline, one line per gating check (worst first), blockers, rule, report path."""
    word = "passes" if outcome.passed else "does not pass"
    lines = [f"gate: the audit policy {word} ({findings.verdict_label(fairness)})"]
    if not outcome.available:
        lines.append(f"  no gating verdicts: {paths.FAIRNESS_METRICS} is missing or has none; run `dvc repro` first")
    items = sorted(gating_checks(fairness) or [], key=lambda v: ORDER.get(str(v.get("status")), len(ORDER)))
    lines += [f"  {check_line(v)}" for v in items]
    checked = {label(v) for v in items}
    skipped = checked | {"fairness verdicts unavailable"}
    lines += [f"  BLOCKED        {reason}" for reason in outcome.failed if reason not in skipped]
    if items:
        lines.append(f"Rule: {policy_text.rule_sentence(fairness)}")
    lines.append(f"Report: {report} (plain findings first; every check under 'Quantitative analyses')")
    return "\n".join(lines)
