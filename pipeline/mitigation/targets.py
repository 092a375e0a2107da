"""What to mitigate, derived from the audit policy the user chose.

A candidate is useful only if it answers the policy that gates the ``audited`` alias, so by
default (``mitigation.constraint: policy``) each gating criterion is mapped to the fairlearn
constraint that equalises the same rate, and the sensitive features are every attribute the
policy gates, taken together (fairlearn then constrains their intersection; holding every
intersection group near the overall rate also holds every marginal group, a weighted mean of them).

fairlearn's constraints compare each group with the *overall* rate, the policy compares each
group with a *reference group*. A group within ``d`` of the overall rate and a reference within
``d`` of it are at most ``2 d`` apart, so a difference bound ``b`` becomes ``b / 2``. A ratio band
``[low, high]`` on selection rates becomes a difference bound too: with every group within ``d``
of an overall rate ``p``, any two groups' ratio lies in ``[(p - d) / (p + d), (p + d) / (p - d)]``,
inside the band when ``d <= p * min((1 - low) / (1 + low), (high - 1) / (high + 1))``; ``p`` is the
training rows' favourable base rate (a solution selecting fewer people needs a smaller ``d``).
fairlearn's own ratio form (``DemographicParity(ratio_bound=...)``) was tried first: its
multipliers are not projected, so at ExponentiatedGradient's start every row's reweighted label
became favourable and the solution was a constant "accept everyone" classifier (measured on Adult;
benchmarks/MITIGATION.md). These bounds imply the policy's on the training rows; the test
audit, with its intervals, still decides.

Criteria with no fairlearn constraint (predictive parity, calibration within groups) are
reported as not targeted. Pure functions: names and numbers, no fairlearn import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.errors import ConfigError
from pipeline.tables.criteria import CRITERIA

#: policy criterion -> (fairlearn reductions moment, ThresholdOptimizer constraint), from the criteria table
CONSTRAINT_OF = {c.name: (c.moment, c.threshold_constraint) for c in CRITERIA.values() if c.moment}
#: A constraint named by hand (``mitigation.constraint``) -> the moment and the criteria it serves.
BY_NAME = {
    "demographic_parity": ("DemographicParity", ("selection_rate_ratio", "demographic_parity")),
    "equalized_odds": ("EqualizedOdds", ("equalized_odds",)),
    "true_positive_rate_parity": ("TruePositiveRateParity", ("equal_opportunity",)),
    "false_positive_rate_parity": ("FalsePositiveRateParity", ("false_positive_rate_balance",)),
}
COMBINED = "combined"


@dataclass(frozen=True)
class Part:
    """One fairlearn moment with its bound (keyword arguments of the moment's constructor)."""

    moment: str
    bound: dict
    criteria: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """What one candidate is built against: fairlearn moment(s) and the policy criteria they serve.

    ``constraint`` is the ThresholdOptimizer name of a single constraint, or ``"combined"`` for
    several moments at once (reductions only: ThresholdOptimizer takes one constraint).
    """

    constraint: str
    parts: tuple[Part, ...]
    by_hand: bool = False  # named in mitigation.constraint, not derived from the policy

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(c for p in self.parts for c in p.criteria)

    @property
    def label(self) -> str:
        """Candidate-name suffix: the constraint named by hand, else the policy criteria it targets."""
        return self.constraint if self.by_hand else " + ".join(self.criteria)


def moment_bound(criterion: str, bound, base_rate: float) -> dict:
    """fairlearn's difference bound that implies the policy's group-vs-reference bound (module docstring)."""
    if criterion == "selection_rate_ratio":
        low, high = (bound, 1 / bound) if isinstance(bound, (int, float)) else bound
        share = min((1 - float(low)) / (1 + float(low)), (float(high) - 1) / (float(high) + 1))
        return {
            "difference_bound": math.floor(float(base_rate) * share * 1e6) / 1e6
        }  # rounded down: still implies the band
    return {"difference_bound": float(bound) / 2}


def from_policy(criteria: dict, base_rate: float) -> tuple[list[Target], list[str]]:
    """Single-constraint targets for the gating criteria (one per distinct fairlearn moment, the
    tighter bound kept when two criteria share one), and the criteria no constraint serves."""
    parts: dict[str, Part] = {}
    for criterion, bound in criteria.items():
        if criterion not in CONSTRAINT_OF:
            continue
        moment, _ = CONSTRAINT_OF[criterion]
        part = Part(moment, moment_bound(criterion, bound, base_rate), (criterion,))
        if moment in parts:
            part = _tighter(parts[moment], part)
        parts[moment] = part
    targets = [Target(_threshold_name(p.moment), (p,)) for p in parts.values()]
    return targets, [c for c in criteria if c not in CONSTRAINT_OF]


def _tighter(a: Part, b: Part) -> Part:
    """Two criteria on one moment (selection-rate ratio and parity difference): both names, the smaller bound."""
    keep = a if a.bound["difference_bound"] <= b.bound["difference_bound"] else b
    return Part(a.moment, keep.bound, a.criteria + b.criteria)


def _threshold_name(moment: str) -> str:
    return next(t for m, t in CONSTRAINT_OF.values() if m == moment)


def by_name(constraint: str) -> Target:
    """A constraint named by hand: fairlearn's own default bound, as before the policy existed."""
    moment, criteria = BY_NAME[constraint]
    return Target(constraint, (Part(moment, {}, criteria),), by_hand=True)


def targets(constraint: str, criteria: dict, base_rate: float) -> tuple[list[Target], Target | None, list[str]]:
    """The single-constraint targets, the combined one (several moments; None when one suffices)
    and the gating criteria no fairlearn constraint serves (none served: no targets, and the stage
    says so rather than failing the pipeline)."""
    if constraint != "policy":
        return [by_name(constraint)], None, []
    if not 0 < base_rate < 1:
        raise ConfigError(f"mitigation: the training rows' favourable base rate is {base_rate}; nothing to mitigate")
    singles, untargeted = from_policy(criteria, base_rate)
    combined = Target(COMBINED, tuple(p for t in singles for p in t.parts)) if len(singles) > 1 else None
    return singles, combined, untargeted


def attributes(setting, policy_attributes: list[str] | None, sensitive: list[str]) -> list[str]:
    """The sensitive columns to mitigate on: ``policy`` = the attributes the policy gates (all when
    it names none); ``None`` = the first sensitive column (the former default); else the name(s) given."""
    if setting == "policy":
        chosen = list(policy_attributes) if policy_attributes is not None else list(sensitive)
    elif setting is None:
        chosen = list(sensitive[:1])
    else:
        chosen = [setting] if isinstance(setting, str) else list(setting)
    unknown = [a for a in chosen if a not in sensitive]
    if unknown or not chosen:
        raise ConfigError(
            f"mitigation.attribute {setting!r}: {unknown or 'nothing'} is not an audited sensitive column ({sensitive})"
        )
    return chosen
