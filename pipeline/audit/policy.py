"""The audit policy: which fairness criteria gate the model, with which bound, on which attributes.

Why a policy and not "every check must pass": when base rates differ between groups, demographic
parity, equal error rates and calibration cannot all hold at once (Kleinberg, Mullainathan &
Raghavan 2016; Chouldechova 2017), so a gate over all of them is unreachable by construction and
says nothing about the criterion that matters for the use. The user names the criteria that
gate; every other criterion is still computed and reported as information.

Each criterion compares every group with a reference group (never max-minus-min, which is
biased upwards and has no interval that holds), using the closed-form intervals of
:mod:`pipeline.stats.intervals`. A comparison is *assessed* only when both groups have at least
``min_group_size`` rows and ``min_events`` people in the criterion's denominator; otherwise it
is "inconclusive" (too few) or "undefined" (zero denominator), with the reason, never a fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.stats import intervals
from pipeline.tables.criteria import RATES, Criterion, cells_of

PASS, FAIL, INCONCLUSIVE, UNDEFINED = "pass", "fail", "inconclusive", "undefined"


#: The documented default: the four-fifths rule (the regulator's adverse-impact test, US EEOC
#: Uniform Guidelines 1978) and equal opportunity (Hardt, Price & Srebro 2016). Both can hold
#: together whatever the base rates, unlike parity with calibration.
DEFAULT_CRITERIA = {"selection_rate_ratio": (0.8, 1.25), "equal_opportunity": 0.1}


@dataclass(frozen=True)
class Policy:
    """Gating criteria with bounds, the attributes they apply to (None = every sensitive column)."""

    criteria: dict = field(default_factory=lambda: dict(DEFAULT_CRITERIA))
    attributes: tuple[str, ...] | None = None
    min_events: int = 10
    require_all_groups: bool = False
    family: str = "bonferroni"

    def gates(self, criterion: str, feature: str, sensitive: list[str]) -> bool:
        attributes = self.attributes if self.attributes is not None else tuple(sensitive)
        return criterion in self.criteria and feature in attributes


def normalise_bound(kind: str, bound):
    """A ratio bound as (low, high) (a single number ``b`` means (b, 1/b)); a difference as a float."""
    if kind == "ratio":
        if isinstance(bound, (int, float)):
            return (float(bound), 1 / float(bound))
        return (float(bound[0]), float(bound[1]))
    return float(bound)


def judge(kind: str, value: float, low: float, high: float, bound) -> str:
    """pass when the whole interval meets the bound, fail when none of it does, else inconclusive."""
    if kind == "ratio":
        lo_b, hi_b = bound
        if low >= lo_b and high <= hi_b:
            return PASS
        return FAIL if high < lo_b or low > hi_b else INCONCLUSIVE
    a_low, a_high = intervals.absolute(low, high)
    return PASS if a_high <= bound else FAIL if a_low > bound else INCONCLUSIVE


def severity(kind: str, value: float | None, bound) -> float:
    """How far the estimate is from acceptable, relative to the bound (for ordering headlines)."""
    if value is None:
        return 0.0
    if kind == "ratio":
        low, high = bound
        return float("inf") if value <= 0 else max(low / value, value / high)
    return abs(value) / bound


def _counts(cells: dict, rate: str, g: int) -> tuple[float, float]:
    num, den = cells_of(rate)
    return float(sum(cells[c][g] for c in num)), float(sum(cells[c][g] for c in den))


def _shortfall(cells, rate, g, names, min_events) -> str | None:
    """Why a rate of group ``g`` cannot carry a verdict, or None."""
    words = RATES[rate].population
    _, den = _counts(cells, rate, g)
    if den == 0:
        return f"{rate} undefined for '{names[g]}': no {words}"
    if rate != "selection_rate" and den < min_events:
        return f"{rate} of '{names[g]}' rests on {int(den)} {words} (at least {min_events} needed)"
    return None


def compare_rates(
    criterion: Criterion, cells: dict, g: int, ref: int, names: list[str], level: float, min_events: int
) -> dict:
    """One group against the reference for a ratio or difference criterion."""
    parts = []
    for rate in criterion.rates:
        reason = _shortfall(cells, rate, g, names, min_events) or _shortfall(cells, rate, ref, names, min_events)
        k1, n1 = _counts(cells, rate, g)
        k2, n2 = _counts(cells, rate, ref)
        if criterion.kind == "ratio":
            if reason is None and k2 == 0:
                reason = f"{rate} ratio undefined: the reference group '{names[ref]}' has rate 0"
            value = k1 / n1 / (k2 / n2) if n1 and n2 and k2 else float("nan")
            low, high = intervals.mover_ratio(k1, n1, k2, n2, level)
        else:
            value = k1 / n1 - k2 / n2 if n1 and n2 else float("nan")
            low, high = intervals.newcombe_difference(k1, n1, k2, n2, level)
        parts.append((rate, value, float(low), float(high), reason))
    if len(parts) == 1:
        rate, value, low, high, reason = parts[0]
        return {"value": value, "low": low, "high": high, "reason": reason, "rate": rate}
    # equalized odds: the larger absolute gap, with the interval of the larger |gap|
    reasons = [p[4] for p in parts if p[4]]
    abs_parts = [(abs(v), *intervals.absolute(lo, hi)) for _, v, lo, hi, _ in parts]
    value = max(a for a, _, _ in abs_parts)
    low = max(float(lo) for _, lo, _ in abs_parts)
    high = max(float(hi) for _, _, hi in abs_parts)
    return {
        "value": value,
        "low": low,
        "high": high,
        "reason": "; ".join(reasons) or None,
        "rate": "tpr, fpr",
        "parts": {p[0]: {"value": _num(p[1]), "ci": [_num(p[2]), _num(p[3])]} for p in parts},
    }


def calibration_gap(
    y01: np.ndarray, score: np.ndarray, mask: np.ndarray, name: str, level: float, min_events: int
) -> dict:
    """Calibration in the large of one group: observed favourable rate minus mean score, t interval."""
    resid = y01[mask].astype(np.float64) - score[mask]
    events = int(y01[mask].sum())
    reason = None
    if min(events, int(mask.sum()) - events) < min_events:
        reason = (
            f"calibration of '{name}' rests on {events} favourable and {int(mask.sum()) - events} unfavourable "
            f"outcomes (at least {min_events} of each needed)"
        )
    low, high = intervals.mean_interval(resid, level)
    value = float(resid.mean()) if len(resid) else float("nan")
    return {"value": value, "low": low, "high": high, "reason": reason, "rate": "observed - predicted"}


def _num(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value
