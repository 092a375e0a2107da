"""Plain-language definitions of every term and abbreviation the report uses.

The report is read by people who are not statisticians: each entry says what the figure means for
the people the model decides about. The report's glossary section lists the entries whose term
appears in the rendered text (a test checks that every abbreviation used is defined here).
"""

from __future__ import annotations

from pipeline.tables import criteria, explain_methods

#: Terms of the report's own; the criteria and explain methods bring theirs from their tables.
_TERMS: dict[str, str] = {
    "Accuracy": "Share of test rows whose prediction equals the true outcome.",
    "Balanced accuracy": "Mean of the share of each class predicted correctly; not inflated by a large class.",
    "Base rate": "Share of a group whose true outcome is the favourable class.",
    "Bootstrap interval": (
        "Range that holds the figure in 95% of resamples of the test rows: how much it could move with other data."
    ),
    "Calibration": (
        "Whether predicted probabilities match observed frequencies (of rows given 0.7, about 70% "
        "should be favourable)."
    ),
    "Convergence delta": (
        "How far Integrated Gradients' attributions miss the change in the model's output; small is reliable."
    ),
    "CPU": "Central processing unit: the processor the pipeline runs on by default.",
    "Cramér's V": (
        "Strength of association between two categorical columns, 0 (none) to 1 (one determines the other); "
        "bias-corrected (Bergsma 2013), so a column with a level per row (an id) scores 0, not 1."
    ),
    "CO2": (
        "Carbon dioxide emitted to produce the electricity used, estimated from energy and the grid's carbon intensity."
    ),
    "DP-SGD": (
        "Differentially private stochastic gradient descent: training that clips and adds noise to "
        "gradients to bound what the model can reveal about any one row."
    ),
    "DP": "Demographic parity (see that entry); in mitigation tables also the constraint a mitigation enforces.",
    "ECE": (
        "Expected calibration error: average gap between predicted probability and observed frequency, over "
        "probability bins."
    ),
    "EO": "Equalized odds (see that entry).",
    "Epsilon (ε), delta (δ)": (
        "Differential-privacy budget: smaller ε means less can be learnt about any one "
        "person; δ is the chance the bound fails."
    ),
    "FLOPs": "Floating-point operations: the amount of arithmetic, a hardware-independent measure of compute.",
    "FNR": "False negative rate: share of people with a favourable true outcome whom the model denies it.",
    "FPR": (
        "False positive rate: share of people with an unfavourable true outcome whom the model grants the "
        "favourable one."
    ),
    "GPU": "Graphics processing unit: an accelerator for the arithmetic of training.",
    "Gating check": "A fairness check whose failure fails the audit and withholds the 'audited' alias.",
    "Inconclusive": (
        "Neither pass nor fail: the 90% interval is not wholly inside the bound and the family interval is not "
        "wholly outside it. The report says how many people would settle it."
    ),
    "Not assessable": (
        "A comparison lacking the rows or people to be judged (fewer than min_group_size rows or min_events in a "
        "rate's denominator, or a zero denominator). It never passes a gating check; only a fail can be shown."
    ),
    "TOST": (
        "Two one-sided tests (Schuirmann 1987): equivalence is shown when the 1 - 2 alpha interval lies inside the "
        "bound; the gate passes a comparison only then."
    ),
    "Clopper-Pearson interval": (
        "The exact interval for a rate (Beta quantiles); it never covers less than its level, also in small groups "
        "and near rates of 0 or 1, so the gate's rate limits are built from it."
    ),
    "Exemption": (
        "A group named in audit.policy.exempt with a reason: its inconclusive or not-assessable comparisons do not "
        "block the gate; a fail is never exempted, and every exemption is printed with the verdict."
    ),
    "Intersection": "Groups formed by combining attributes (e.g. sex x race); small ones have wide intervals.",
    "k-anonymity": (
        "Every combination of quasi-identifying columns is shared by at least k rows, so no row stands out alone."
    ),
    "MOVER-R": (
        "Method of variance estimates recovery for a ratio (Donner & Zou): the interval of a ratio of "
        "two rates built from each rate's own interval (Clopper-Pearson in the gate)."
    ),
    "Wilson interval": (
        "An interval for a rate (a share of people) that stays honest for small groups and rates near 0 or 1."
    ),
    "Newcombe interval": (
        "An interval for the difference of two rates, built from each rate's own interval (Clopper-Pearson in the "
        "gate, Wilson elsewhere)."
    ),
    "Bonferroni": (
        "A correction that widens each gating comparison's fail interval (level 1 - alpha / m over m comparisons) "
        "so the chance that any of them fails by luck stays at most alpha."
    ),
    "Membership inference": (
        "An attack that guesses whether a person's row was in the training data; success means the model leaks it."
    ),
    "UI": "User interface (here MLflow's web interface).",
    "Mitigation": (
        "A fairness intervention (fairlearn ThresholdOptimizer or ExponentiatedGradient) compared with the plain model."
    ),
    "MLflow": "Experiment tracker holding each run's parameters, metrics, figures, report and model.",
    "MLP": "Multilayer perceptron: a neural network of fully connected layers.",
    "Mutual information": "How much knowing one column tells about another (normalised 0 to 1).",
    "PII": (
        "Personally identifiable information: names, e-mail addresses, phone numbers, ids, addresses, dates of birth."
    ),
    "Pipeline state": "sha256 over the parameters and every stage output: ties this report to its MLflow run.",
    "Precision": "Share of favourable predictions that are correct.",
    "Proxy": (
        "A column that stands in for a sensitive attribute (e.g. relationship for sex), so the model can "
        "discriminate without seeing it."
    ),
    "RAPL": "Running Average Power Limit: the CPU's own energy counters, read to measure training energy.",
    "Reference group": "The group others are compared with (by default the largest).",
    "ROC AUC": (
        "Area under the receiver operating characteristic curve: chance that a random favourable row "
        "scores above a random unfavourable one (0.5 = guessing)."
    ),
    "Selection rate": "Share of a group that receives the favourable prediction.",
    "TDP": "Thermal design power: a processor's rated power draw, used to estimate energy when no counter is readable.",
    "TPR": "True positive rate (recall): share of people with a favourable true outcome whom the model recognises.",
}


def terms() -> dict[str, str]:
    """Every term: the report's own and those of the criteria and explain-method tables."""
    return {**_TERMS, **criteria.glossary(), **explain_methods.glossary()}


def entries() -> list[tuple[str, str]]:
    """Every term, alphabetically (case-insensitive)."""
    return sorted(terms().items(), key=lambda kv: kv[0].lower())
