"""The audit policy and its decision rules: when one comparison passes, fails or cannot be decided.

Why a policy and not "every check must pass": when base rates differ between groups, demographic
parity, equal error rates and calibration cannot all hold at once (Kleinberg, Mullainathan &
Raghavan 2016; Chouldechova 2017), so a gate over all of them is unreachable by construction and
says nothing about the criterion that matters for the use. The user names the criteria that
gate; every other criterion is still computed and reported as information.

Each criterion compares every group with a reference group (never max-minus-min). A verdict is a
decision with two error rates, and the rule is built for both (:data:`RULE` says it in words):

* **pass** needs equivalence: the two-sided ``1 - 2 alpha`` interval lies inside the bound (two
  one-sided tests, Schuirmann 1987; the [0.8, 1.25] band is the bioequivalence band, decided by the
  90% interval). The gate passes only when every gating comparison passes, an intersection-union
  test (Berger 1982): each comparison at level alpha already bounds the false pass, so no
  multiplicity correction is applied to "pass" (one would only take power from a fair model).
* **fail** needs the family-controlled interval (Bonferroni over the ``m`` gating comparisons,
  level ``1 - alpha / m``) to lie wholly outside the bound, so "failed by luck" has probability at
  most alpha over the whole gate.
* otherwise the comparison is **inconclusive**; one that lacks the rows or events to be assessed
  (``min_group_size``, ``min_events``, a zero denominator) is **not assessable**, and never passes.

Rate limits are Clopper-Pearson (exact), combined by Newcombe's hybrid construction for
differences and MOVER-R for ratios: Wilson limits under-cover near rates of 0 and 1 in small
groups (Brown, Cai & DasGupta 2001), which let a gross violation pass there more often than alpha.
Measured error rates: ``benchmarks/VERDICTS.md`` (``make bench``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from pipeline.stats import intervals
from pipeline.tables.criteria import RATES, Criterion, cells_of

PASS, FAIL, INCONCLUSIVE, NOT_ASSESSABLE = "pass", "fail", "inconclusive", "not_assessable"
#: rate limits every gating interval is built from (see the module docstring)
LIMITS = "exact"
#: power at which :func:`needed_size` says a comparison would pass
TARGET_POWER = 0.8

RULE = (
    "A comparison passes when its {eq:.0%} interval (two one-sided tests at level {alpha:g}, Schuirmann 1987) lies "
    "inside the bound, fails when its family interval ({fam}) lies wholly outside it, and is inconclusive "
    "otherwise; the gate passes only when every gating comparison passes (an intersection-union test, Berger 1982), "
    "and a comparison lacking rows or events is not assessable and never passes. Rate limits are Clopper-Pearson, "
    "combined by Newcombe's method for differences and MOVER-R for ratios."
)

#: The documented default: the four-fifths rule (the regulator's adverse-impact test, US EEOC
#: Uniform Guidelines 1978) and equal opportunity (Hardt, Price & Srebro 2016). Both can hold
#: together whatever the base rates, unlike parity with calibration.
DEFAULT_CRITERIA = {"selection_rate_ratio": (0.8, 1.25), "equal_opportunity": 0.1}


@dataclass(frozen=True)
class Exemption:
    """A group the user accepts cannot be shown equivalent (too few people), with the reason.

    An exempt comparison that is inconclusive or not assessable no longer blocks its check; a
    *fail* is never exempted, so a gross violation in an exempt group still fails the gate.
    """

    attribute: str
    group: str
    reason: str
    criterion: str | None = None  # None: every gating criterion

    def covers(self, attribute: str, group: str, criterion: str) -> bool:
        return self.attribute == attribute and self.group == group and self.criterion in (None, criterion)


@dataclass(frozen=True)
class Policy:
    """Gating criteria with bounds, the attributes they apply to (None = every sensitive column)."""

    criteria: dict = field(default_factory=lambda: dict(DEFAULT_CRITERIA))
    attributes: tuple[str, ...] | None = None
    min_events: int = 10
    family: str = "bonferroni"
    exempt: tuple[Exemption, ...] = ()

    def gates(self, criterion: str, feature: str, sensitive: list[str]) -> bool:
        attributes = self.attributes if self.attributes is not None else tuple(sensitive)
        return criterion in self.criteria and feature in attributes

    def exemption(self, attribute: str, group: str, criterion: str) -> Exemption | None:
        return next((e for e in self.exempt if e.covers(attribute, group, criterion)), None)


@dataclass(frozen=True)
class Levels:
    """The two interval levels of a decision: equivalence (pass) and family (fail)."""

    alpha: float
    family_size: int
    family: str = "bonferroni"

    @property
    def equivalence(self) -> float:
        return 1 - 2 * self.alpha

    @property
    def fail(self) -> float:
        return 1 - self.alpha / (self.family_size if self.family == "bonferroni" else 1)

    def rule(self) -> str:
        fam = (
            f"level {self.fail:.4g}, Bonferroni over {self.family_size} comparisons"
            if self.family == "bonferroni"
            else f"level {self.fail:.4g}, no family control"
        )
        return RULE.format(eq=self.equivalence, alpha=self.alpha, fam=fam)


def normalise_bound(kind: str, bound):
    """A ratio bound as (low, high) (a single number ``b`` means (b, 1/b)); a difference as a float."""
    if kind == "ratio":
        if isinstance(bound, (int, float)):
            return (float(bound), 1 / float(bound))
        return (float(bound[0]), float(bound[1]))
    return float(bound)


def inside(kind: str, low, high, bound):
    """Whether an interval lies wholly inside the bound (vectorised)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    lo_b, hi_b = bound if kind == "ratio" else (-bound, bound)
    return (low >= lo_b) & (high <= hi_b)


def outside(kind: str, low, high, bound):
    """Whether an interval lies wholly outside the bound (vectorised)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    lo_b, hi_b = bound if kind == "ratio" else (-bound, bound)
    return (high < lo_b) | (low > hi_b)


def judge(kind: str, value: float, low: float, high: float, bound) -> str:  # noqa: ARG001 - value kept for callers
    """One interval against the bound: pass inside, fail wholly outside, else inconclusive."""
    if bool(inside(kind, low, high, bound)):
        return PASS
    return FAIL if bool(outside(kind, low, high, bound)) else INCONCLUSIVE


def rate_interval(kind: str, k1, n1, k2, n2, level: float, limits: str = LIMITS):
    """The interval of one group's rate against the reference's (ratio: MOVER-R; difference: Newcombe)."""
    if kind == "ratio":
        return intervals.mover_ratio(k1, n1, k2, n2, level, limits=limits)
    return intervals.newcombe_difference(k1, n1, k2, n2, level, limits=limits)


def decide(kind: str, k1, n1, k2, n2, bound, levels: Levels, limits: str = LIMITS) -> dict:
    """The rule on counts, vectorised: estimate, both intervals and pass / fail flags.

    The benchmark calls this on many simulated tables at once and the audit on one, so the error
    rates measured are those of the code that decides.
    """
    k1, n1, k2, n2 = (np.asarray(v, dtype=np.float64) for v in (k1, n1, k2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        value = p1 / p2 if kind == "ratio" else p1 - p2
        value = np.where(np.isfinite(value), value, np.nan)  # a ratio over a zero rate is undefined, not inf
    eq_low, eq_high = rate_interval(kind, k1, n1, k2, n2, levels.equivalence, limits)
    fam_low, fam_high = rate_interval(kind, k1, n1, k2, n2, levels.fail, limits)
    defined = np.isfinite(value) & np.isfinite(eq_low) & np.isfinite(eq_high)
    return {
        "value": value,
        "ci": (eq_low, eq_high),
        "ci_family": (fam_low, fam_high),
        "passes": defined & inside(kind, eq_low, eq_high, bound),
        "fails": defined & np.isfinite(fam_low) & outside(kind, fam_low, fam_high, bound),
    }


def severity(kind: str, value: float | None, bound) -> float:
    """How far the estimate is from acceptable, relative to the bound (for ordering headlines)."""
    if value is None:
        return 0.0
    if kind == "ratio":
        low, high = bound
        return float("inf") if value <= 0 else max(low / value, value / high)
    return abs(value) / bound


def counts(cells: dict, rate: str, g: int) -> tuple[float, float]:
    """(numerator, denominator) of a rate for group ``g``."""
    num, den = cells_of(rate)
    return float(sum(cells[c][g] for c in num)), float(sum(cells[c][g] for c in den))


def shortfall(cells, rate, g, names, min_events) -> str | None:
    """Why a rate of group ``g`` cannot be assessed, or None."""
    words = RATES[rate].population
    _, den = counts(cells, rate, g)
    if den == 0:
        return f"{rate} undefined for '{names[g]}': no {words}"
    if rate != "selection_rate" and den < min_events:
        return f"{rate} of '{names[g]}' rests on {int(den)} {words} (at least {min_events} needed)"
    return None


def compare_rates(criterion: Criterion, cells: dict, g: int, ref: int, names: list[str], bound, levels, min_events):
    """One group against the reference for a ratio or difference criterion (both rates for
    equalized odds, which passes only when both pass and fails when either fails)."""
    parts = []
    for rate in criterion.rates:
        reason = shortfall(cells, rate, g, names, min_events) or shortfall(cells, rate, ref, names, min_events)
        k1, n1 = counts(cells, rate, g)
        k2, n2 = counts(cells, rate, ref)
        if criterion.kind == "ratio" and reason is None and k2 == 0:
            reason = f"{rate} ratio undefined: the reference group '{names[ref]}' has rate 0"
        d = decide(criterion.kind, k1, n1, k2, n2, bound, levels)
        parts.append({"rate": rate, "reason": reason, "counts": [k1, n1, k2, n2], **d})
    if len(parts) == 1:
        return _one(parts[0])
    worst = max(parts, key=lambda p: abs(float(p["value"])) if np.isfinite(p["value"]) else np.inf)
    out = _one(worst)
    out["rate"] = ", ".join(p["rate"] for p in parts)
    out["reason"] = "; ".join(p["reason"] for p in parts if p["reason"]) or None
    out["passes"] = all(p["passes"] for p in parts)
    out["fails"] = any(p["fails"] for p in parts)
    out["parts"] = {p["rate"]: {"value": _num(p["value"]), "ci": [_num(v) for v in p["ci"]]} for p in parts}
    out["sizes"] = [p["counts"] for p in parts]
    return out


def _one(part: dict) -> dict:
    return {
        "rate": part["rate"],
        "value": float(part["value"]),
        "low": float(part["ci"][0]),
        "high": float(part["ci"][1]),
        "family_low": float(part["ci_family"][0]),
        "family_high": float(part["ci_family"][1]),
        "passes": bool(part["passes"]),
        "fails": bool(part["fails"]),
        "reason": part["reason"],
        "sizes": [part["counts"]],
    }


def calibration_gap(sums: dict, name: str, bound: float, levels: Levels, min_events: int) -> dict:
    """Calibration in the large of one group, from its sufficient statistics: observed favourable
    rate minus mean score, Student's t intervals at both levels."""
    n, events = sums["n"], sums["events"]
    reason = None
    if min(events, n - events) < min_events:
        reason = (
            f"calibration of '{name}' rests on {events} favourable and {n - events} unfavourable "
            f"outcomes (at least {min_events} of each needed)"
        )
    value = sums["sum"] / n if n else float("nan")
    low, high = intervals.mean_interval_from_sums(n, sums["sum"], sums["sumsq"], levels.equivalence)
    f_low, f_high = intervals.mean_interval_from_sums(n, sums["sum"], sums["sumsq"], levels.fail)
    defined = bool(np.isfinite(low) and np.isfinite(high))
    return {
        "rate": "observed - predicted",
        "value": value,
        "low": low,
        "high": high,
        "family_low": f_low,
        "family_high": f_high,
        "passes": defined and bool(inside("difference", low, high, bound)),
        "fails": defined and bool(outside("difference", f_low, f_high, bound)),
        "reason": reason,
        "sizes": [],
    }


def needed_size(kind: str, sizes: list, bound, alpha: float, power: float = TARGET_POWER) -> dict | None:
    """How many people in the group's denominator the comparison needs to pass with ``power``,
    if the truth equalled the observed rates and the reference stayed as it is.

    Normal approximation to the power of two one-sided tests (ratio on the log scale, delta
    method): an order of magnitude a data owner can act on, not a guarantee; the benchmark checks
    it against the exact rule. None when the rates are undefined.
    """
    best = None
    for k1, n1, k2, n2 in sizes:
        if not n1 or not n2:
            return None
        p1, p2 = k1 / n1, k2 / n2
        if kind == "ratio":
            if p1 <= 0 or p2 <= 0:
                return {"has": int(n1), "needs": None, "why": "a rate of 0: no sample size settles a ratio"}
            theta, lo, hi = np.log(p1 / p2), np.log(bound[0]), np.log(bound[1])
            v1, v2 = (1 - p1) / p1, (1 - p2) / p2
        else:
            theta, lo, hi = p1 - p2, -bound, bound
            v1, v2 = p1 * (1 - p1), p2 * (1 - p2)
        if not lo < theta < hi:
            return {"has": int(n1), "needs": None, "why": "the observed gap is outside the bound: no sample size helps"}
        n = _solve_power(theta, lo, hi, v1, v2 / n2, alpha, power)
        entry = {"has": int(n1), "needs": n}
        if n is None:  # the reference's own uncertainty binds: grow both groups by one factor
            factor = _solve_power(theta, lo, hi, v1 / n1 + v2 / n2, 0.0, alpha, power, scale=1000)
            if factor is None:
                return {"has": int(n1), "needs": None, "why": "the observed gap is at the bound: no sample size helps"}
            entry.update(
                needs=int(np.ceil(n1 * factor / 1000)),
                reference_has=int(n2),
                reference_needs=int(np.ceil(n2 * factor / 1000)),
            )
        if best is None or entry["needs"] > best["needs"]:
            best = entry
    return best


def _power(theta, lo, hi, se, z) -> float:
    phi, se = NormalDist().cdf, max(float(se), 1e-12)
    return max(0.0, phi((hi - theta) / se - z) + phi((theta - lo) / se - z) - 1)


def _solve_power(theta, lo, hi, v1, ref_var, alpha, power, scale: int = 1) -> int | None:
    """Smallest n with TOST power >= ``power`` when the variance is ``v1 * scale / n + ref_var``
    (None when ``ref_var`` alone prevents it)."""
    z = NormalDist().inv_cdf(1 - alpha)
    if _power(theta, lo, hi, np.sqrt(ref_var), z) < power:
        return None
    a, b = 1, 1
    while _power(theta, lo, hi, np.sqrt(v1 * scale / b + ref_var), z) < power:
        a, b = b, b * 2
    while a < b:
        mid = (a + b) // 2
        if _power(theta, lo, hi, np.sqrt(v1 * scale / mid + ref_var), z) >= power:
            b = mid
        else:
            a = mid + 1
    return int(b)


def _num(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value
