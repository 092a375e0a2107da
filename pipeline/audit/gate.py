"""The audit gate, shared by the report's summary, the registry gate, ``compare`` and
``python -m pipeline gate``.

One pure function decides whether an audit passed, so the headline a reviewer reads, the alias
the registry moves, the comparison of two runs and the CI exit code can never disagree. Before the
registry or CI acts on it, :mod:`pipeline.audit.recompute` recomputes every verdict from the
evidence in the file under the policy configured *now*, so a hand-edited status is named, not trusted. Only
the checks the audit policy marks ``gating`` count; the others are information. A degenerate
model or suspected leakage blocks the gate whatever the checks say. It is part of the audit, not
the report: stages, the registry and ``compare`` decide with it; the report only presents the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.contracts import DataMetrics, Degeneracy, EvaluateMetrics, Leakage, NearPerfect

PASS = "pass"
FAIL = "fail"
#: every status a gating check can have, in the order summaries list them (fixed metric columns)
STATUSES = ("fail", "not_assessable", "inconclusive", "pass")


@dataclass(frozen=True)
class Gate:
    """Outcome of the gating verdicts: ``passed`` only when at least one gating check ran, all
    passed, and nothing blocks (degenerate model, suspected leakage)."""

    available: bool
    passed: bool
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # every gating check not "pass", then each blocking reason


def checks(fairness: dict | None) -> list[dict] | None:
    """The verdict list of ``fairness.json`` ({check, feature, metric, value, ci, bound, status, gating}), or None."""
    if not fairness or not isinstance(fairness.get("verdicts"), list):
        return None
    return fairness["verdicts"]


def gating_checks(fairness: dict | None) -> list[dict] | None:
    """The checks that gate (files written before the policy existed: every check gates)."""
    items = checks(fairness)
    return None if items is None else [v for v in items if v.get("gating", True)]


def label(verdict: dict) -> str:
    """A readable name for one check, e.g. ``sex: demographic_parity_ratio``."""
    check, feature = str(verdict.get("check", "?")), verdict.get("feature")
    if feature is None or str(feature) in check:
        return check
    return f"{feature}: {check}"


def upstream(data: DataMetrics | None, evaluation: EvaluateMetrics | None) -> dict:
    """The blocks of the other stages' files that can block the gate, as :func:`blockers` takes them."""
    return {
        "leakage": data.leakage if data else None,
        "degenerate": evaluation.degenerate if evaluation else None,
        "near_perfect": evaluation.near_perfect if evaluation else None,
    }


def blockers(
    fairness: dict | None,
    *,
    leakage: Leakage | None = None,
    degenerate: Degeneracy | None = None,
    near_perfect: NearPerfect | None = None,
) -> list[str]:
    """Reasons no verdict can pass: a degenerate model, suspected leakage in the data or at the model (a
    near-perfect network on a social outcome), from any source given."""
    found = list((fairness or {}).get("blockers") or [])
    if degenerate is not None and degenerate.degenerate:
        found.append("degenerate model: " + "; ".join(degenerate.reasons))
    if near_perfect is not None and near_perfect.flagged:
        found.append(f"suspected target leakage at the model: {near_perfect.reason}")
    if leakage is not None and leakage.suspected:
        names = [str(x.get("column", x)) if isinstance(x, dict) else str(x) for x in leakage.suspected]
        found.append("suspected target leakage: " + ", ".join(names))
    return list(dict.fromkeys(found))


def gate(
    fairness: dict | None,
    *,
    leakage: Leakage | None = None,
    degenerate: Degeneracy | None = None,
    near_perfect: NearPerfect | None = None,
) -> Gate:
    """Pass only when gating verdicts exist, every one is ``pass`` and nothing blocks: missing evidence fails.

    The blocks are those of ``data.json`` (``leakage``) and ``evaluate.json`` (``degenerate``,
    ``near_perfect``), typically ``**upstream(data, evaluation)``; the fairness stage copies what
    they block into ``fairness["blockers"]``, so ``gate(fairness)`` alone already honours them.
    """
    items = gating_checks(fairness)
    blocked = blockers(fairness, leakage=leakage, degenerate=degenerate, near_perfect=near_perfect)
    if not items:
        return Gate(available=False, passed=False, failed=["fairness verdicts unavailable", *blocked])
    counts: dict[str, int] = {}
    for item in items:
        status = str(item.get("status", "unknown"))
        counts[status] = counts.get(status, 0) + 1
    failed = [label(v) for v in items if v.get("status") != PASS] + blocked
    return Gate(available=True, passed=not failed, counts=dict(sorted(counts.items())), failed=failed)
