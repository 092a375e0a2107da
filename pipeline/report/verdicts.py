"""The audit gate, shared by the report's summary, the registry gate and ``compare``.

One pure function decides whether an audit passed, so the headline a reviewer reads, the alias
the registry moves and the comparison of two runs can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PASS = "pass"
FAIL = "fail"


@dataclass(frozen=True)
class Gate:
    """Outcome of the fairness verdicts: ``passed`` only when at least one check ran and all passed."""

    available: bool
    passed: bool
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # every check whose status is not "pass"


def checks(fairness: dict | None) -> list[dict] | None:
    """The verdict list of ``fairness.json`` ({check, feature, metric, value, ci, bound, status}), or None."""
    if not fairness or not isinstance(fairness.get("verdicts"), list):
        return None
    return fairness["verdicts"]


def label(verdict: dict) -> str:
    """A readable name for one check, e.g. ``sex: demographic_parity_ratio``."""
    check, feature = str(verdict.get("check", "?")), verdict.get("feature")
    if feature is None or str(feature) in check:
        return check
    return f"{feature}: {check}"


def gate(fairness: dict | None) -> Gate:
    """Pass only when verdicts exist, are non-empty and every status is ``pass``: missing evidence fails."""
    items = checks(fairness)
    if not items:
        return Gate(available=False, passed=False, failed=["fairness verdicts unavailable"])
    counts: dict[str, int] = {}
    for item in items:
        status = str(item.get("status", "unknown"))
        counts[status] = counts.get(status, 0) + 1
    failed = [label(v) for v in items if v.get("status") != PASS]
    return Gate(available=True, passed=not failed, counts=dict(sorted(counts.items())), failed=failed)
