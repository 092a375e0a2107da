"""The one table of fairness criteria and the rates they compare.

Why one table: a criterion is an extension point read by the policy (what gates), the audit
(which rates to compare and how), mitigation (which fairlearn constraint equalises it), the
report and the glossary (the words). Each of those reads this module; adding a criterion is a
row here: the config then accepts its name, the audit judges it, mitigation targets it where
fairlearn has a constraint for it, and the report and glossary use its words.

Every rate is defined once from the four confusion cells of a group (tp, fp, fn, tn), the way
fairlearn defines one function per rate. ``harm`` says how a person meets the rate when it is an
error, in the user's own words for the two outcomes, so a report can say "labelled high risk
though they did not reoffend" instead of "fnr".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A rate of a group, from its confusion cells: sum(numerator) / sum(denominator)."""

    name: str
    title: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    #: who is counted in the denominator, in words ("people with the favourable outcome in the truth")
    population: str
    #: for an error rate, how the affected person meets it; ``{fav}`` / ``{unfav}`` are the outcome names as
    #: written in the file and ``{target}`` the target column ("refused the favourable decision though their
    #: two_year_recid was '0'": labelled high risk though they did not reoffend)
    harm: str | None = None


RATES: dict[str, Rate] = {
    r.name: r
    for r in (
        Rate("base_rate", "base rate", ("tp", "fn"), ("tp", "fp", "fn", "tn"), "rows"),
        Rate("selection_rate", "selection rate", ("tp", "fp"), ("tp", "fp", "fn", "tn"), "rows"),
        Rate(
            "tpr",
            "true positive rate",
            ("tp",),
            ("tp", "fn"),
            "people with the favourable outcome in the truth",
        ),
        Rate(
            "fpr",
            "false positive rate",
            ("fp",),
            ("fp", "tn"),
            "people with the unfavourable outcome in the truth",
            harm="given the favourable decision though their {target} was '{unfav}'",
        ),
        Rate(
            "fnr",
            "false negative rate",
            ("fn",),
            ("tp", "fn"),
            "people with the favourable outcome in the truth",
            harm="refused the favourable decision though their {target} was '{fav}'",
        ),
        Rate("precision", "precision", ("tp",), ("tp", "fp"), "people given the favourable decision"),
        Rate("accuracy", "accuracy", ("tp", "tn"), ("tp", "fp", "fn", "tn"), "rows"),
    )
}


@dataclass(frozen=True)
class Criterion:
    """One fairness criterion: the rate(s) it compares with a reference group, and how.

    ``kind`` is "ratio" (of rates, against a [low, high] band), "difference" (|d| <= bound) or
    "calibration" (observed minus predicted within each group). ``moment`` and
    ``threshold_constraint`` name the fairlearn constraint that equalises the same rate
    (reductions and ThresholdOptimizer), or None where fairlearn has none.
    """

    name: str
    kind: str
    rates: tuple[str, ...]
    meaning: str
    #: the glossary's entry: the term as the report writes it, and its plain-language definition
    term: str
    definition: str
    moment: str | None = None
    threshold_constraint: str | None = None


CRITERIA: dict[str, Criterion] = {
    c.name: c
    for c in (
        Criterion(
            "selection_rate_ratio",
            "ratio",
            ("selection_rate",),
            "four-fifths rule: each group's rate of favourable decisions is within the band of the reference group's",
            term="Four-fifths rule",
            definition=(
                "A group's selection rate below 80% of another's is taken as evidence of adverse impact "
                "(US EEOC guideline)."
            ),
            moment="DemographicParity",
            threshold_constraint="demographic_parity",
        ),
        Criterion(
            "demographic_parity",
            "difference",
            ("selection_rate",),
            "the rate of favourable decisions differs from the reference group's by at most the bound",
            term="Demographic parity",
            definition=(
                "Groups receive the favourable prediction at the same rate; measured as a difference "
                "or a ratio of selection rates."
            ),
            moment="DemographicParity",
            threshold_constraint="demographic_parity",
        ),
        Criterion(
            "equal_opportunity",
            "difference",
            ("tpr",),
            "people who merit the favourable outcome get it at the same rate in every group (TPR)",
            term="Equal opportunity",
            definition=(
                "People whose true outcome is favourable are recognised at the same rate in every group (equal TPR)."
            ),
            moment="TruePositiveRateParity",
            threshold_constraint="true_positive_rate_parity",
        ),
        Criterion(
            "equalized_odds",
            "difference",
            ("tpr", "fpr"),
            "both the true positive and the false positive rates match the reference group's",
            term="Equalized odds",
            definition="Equal TPR and equal FPR across groups: the model errs at the same rates for everyone.",
            moment="EqualizedOdds",
            threshold_constraint="equalized_odds",
        ),
        Criterion(
            "false_positive_rate_balance",
            "difference",
            ("fpr",),
            "people who do not merit the favourable outcome get it at the same rate in every group (FPR)",
            term="False positive rate balance",
            definition=(
                "People whose true outcome is unfavourable are granted the favourable prediction at the same "
                "rate in every group (equal FPR)."
            ),
            moment="FalsePositiveRateParity",
            threshold_constraint="false_positive_rate_parity",
        ),
        Criterion(
            "predictive_parity",
            "difference",
            ("precision",),
            "a favourable decision is equally often right in every group (precision)",
            term="Predictive parity",
            definition="A favourable prediction is equally often right in every group (equal precision).",
        ),
        Criterion(
            "calibration_within_groups",
            "calibration",
            (),
            "within each group the mean score equals the observed rate of the favourable outcome",
            term="Calibration within groups",
            definition=(
                "Within each group, of the people given a probability of 0.7 about 70% have the favourable outcome."
            ),
        ),
    )
}


def threshold_constraints() -> tuple[str, ...]:
    """fairlearn ThresholdOptimizer constraints some criterion maps to, in table order, once each."""
    return tuple(dict.fromkeys(c.threshold_constraint for c in CRITERIA.values() if c.threshold_constraint))


def cells_of(rate: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(numerator cells, denominator cells) of a rate."""
    r = RATES[rate]
    return r.numerator, r.denominator


def glossary() -> dict[str, str]:
    """The glossary's entries for the criteria: term -> definition."""
    return {c.term: c.definition for c in CRITERIA.values()}
