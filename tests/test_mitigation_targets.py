"""What the mitigate stage targets, derived from the audit policy: the fairlearn constraint of each
gating criterion, bounds that imply the policy's group-vs-reference bound, the joint groups of the
policy's attributes, and the stacked constraint fairlearn's reductions accept (checked against
fairlearn's own moments on small synthetic data; no network fits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import ConfigError
from pipeline.mitigation import targets as mt
from pipeline.stats.groups import joint_groups

DEFAULT = {"selection_rate_ratio": (0.8, 1.25), "equal_opportunity": 0.1}


def test_default_policy_maps_to_demographic_parity_and_tpr_parity_plus_a_combined_target():
    singles, combined, untargeted = mt.targets("policy", DEFAULT, base_rate=0.24)
    assert [t.constraint for t in singles] == ["demographic_parity", "true_positive_rate_parity"]
    assert [t.criteria for t in singles] == [("selection_rate_ratio",), ("equal_opportunity",)]
    assert [p.moment for p in combined.parts] == ["DemographicParity", "TruePositiveRateParity"]
    assert combined.constraint == "combined" and combined.label == "selection_rate_ratio + equal_opportunity"
    assert untargeted == []
    # |TPR_g - TPR_ref| <= 0.1 follows from both within 0.05 of the overall TPR
    assert singles[1].parts[0].bound == {"difference_bound": 0.05}


def test_selection_rate_band_becomes_a_difference_bound_that_implies_it():
    """Every group within d of the overall rate p keeps any two groups' ratio inside [0.8, 1.25]."""
    p = 0.24
    d = mt.moment_bound("selection_rate_ratio", (0.8, 1.25), p)["difference_bound"]
    assert d == pytest.approx(p / 9, abs=1e-6)
    assert (p - d) / (p + d) >= 0.8 - 1e-6 and (p + d) / (p - d) <= 1.25 + 1e-6
    # an asymmetric band: the tighter side decides
    d2 = mt.moment_bound("selection_rate_ratio", (0.9, 1.5), p)["difference_bound"]
    assert (p - d2) / (p + d2) >= 0.9 - 1e-6 and (p + d2) / (p - d2) <= 1.5


@pytest.mark.parametrize(
    ("criterion", "moment", "threshold_name"),
    [
        ("equalized_odds", "EqualizedOdds", "equalized_odds"),
        ("false_positive_rate_balance", "FalsePositiveRateParity", "false_positive_rate_parity"),
        ("demographic_parity", "DemographicParity", "demographic_parity"),
    ],
)
def test_each_criterion_has_its_constraint(criterion, moment, threshold_name):
    singles, combined, _ = mt.targets("policy", {criterion: 0.1}, base_rate=0.3)
    assert combined is None and len(singles) == 1
    assert singles[0].parts[0].moment == moment and singles[0].constraint == threshold_name
    assert singles[0].parts[0].bound == {"difference_bound": 0.05}


def test_two_criteria_on_one_moment_share_it_with_the_tighter_bound():
    singles, combined, _ = mt.targets("policy", {"selection_rate_ratio": (0.8, 1.25), "demographic_parity": 0.02}, 0.3)
    assert combined is None and len(singles) == 1
    assert singles[0].criteria == ("selection_rate_ratio", "demographic_parity")
    assert singles[0].parts[0].bound == {"difference_bound": 0.01}  # 0.02 / 2 < 0.3 / 9


def test_criteria_without_a_constraint_are_named_and_a_policy_of_only_those_gives_no_target():
    singles, _, untargeted = mt.targets("policy", {"equal_opportunity": 0.1, "predictive_parity": 0.1}, 0.3)
    assert [t.constraint for t in singles] == ["true_positive_rate_parity"] and untargeted == ["predictive_parity"]
    assert mt.targets("policy", {"calibration_within_groups": 0.05}, 0.3) == ([], None, ["calibration_within_groups"])
    with pytest.raises(ConfigError, match="base rate"):
        mt.targets("policy", {"equal_opportunity": 0.1}, 0.0)


def test_a_constraint_named_by_hand_keeps_its_name_and_fairlearns_default_bound():
    singles, combined, untargeted = mt.targets("equalized_odds", DEFAULT, 0.3)
    assert combined is None and untargeted == []
    assert singles[0].label == "equalized_odds" and singles[0].parts[0].bound == {}


def test_attributes_follow_the_policy_or_the_setting():
    sensitive = ["sex", "race"]
    assert mt.attributes("policy", None, sensitive) == ["sex", "race"]
    assert mt.attributes("policy", ["race"], sensitive) == ["race"]
    assert mt.attributes(None, None, sensitive) == ["sex"]
    assert mt.attributes(["race", "sex"], None, sensitive) == ["race", "sex"]
    with pytest.raises(ConfigError, match="'age'"):
        mt.attributes("age", None, sensitive)


def test_joint_groups_label_the_intersection():
    frame = pd.DataFrame({"sex": ["F", "M", "F"], "race": ["a", "a", "b"]})
    assert joint_groups(frame, ["sex", "race"]).tolist() == ["F,a", "M,a", "F,b"]
    assert joint_groups(frame, ["sex"]).tolist() == ["F", "M", "F"]


def test_stacked_constraint_equals_fairlearns_moments_part_by_part():
    """AllOf's violations, bounds and reweighting are its parts' own (fairlearn computes each)."""
    from fairlearn.reductions import DemographicParity, TruePositiveRateParity

    from pipeline.mitigation.moments import AllOf, build

    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"x": rng.normal(size=n)})
    y = pd.Series((rng.random(n) < 0.4).astype(int))
    groups = pd.Series(rng.choice(["a", "b", "c"], size=n))
    _, combined, _ = mt.targets("policy", DEFAULT, base_rate=0.4)
    stacked = build(combined)
    assert isinstance(stacked, AllOf)
    stacked.load_data(X, y, sensitive_features=groups)
    dp, tpr = DemographicParity(difference_bound=0.4 / 9), TruePositiveRateParity(difference_bound=0.05)
    for m in (dp, tpr):
        m.load_data(X, y, sensitive_features=groups)

    def predictor(frame):
        return (frame["x"] > 0).astype(float)

    gamma = stacked.gamma(predictor)
    pd.testing.assert_series_equal(gamma.loc["0:DemographicParity"], dp.gamma(predictor), check_names=False)
    pd.testing.assert_series_equal(gamma.loc["1:TruePositiveRateParity"], tpr.gamma(predictor), check_names=False)
    assert stacked.bound().loc["0:DemographicParity"].iloc[0] == pytest.approx(0.4 / 9, abs=1e-6)
    lam = pd.Series(rng.random(len(stacked.index)), index=stacked.index)
    expected = dp.signed_weights(lam.loc["0:DemographicParity"]) + tpr.signed_weights(
        lam.loc["1:TruePositiveRateParity"]
    )
    np.testing.assert_allclose(stacked.signed_weights(lam).to_numpy(), expected.to_numpy())
    # GridSearch's basis: block-diagonal, one column per part's own basis column
    assert stacked.pos_basis.shape == (len(stacked.index), len(dp.pos_basis.columns) + len(tpr.pos_basis.columns))


def test_at_equality_tells_a_check_no_model_can_pass_from_one_a_model_could():
    """The interval a comparison would have with the group's rate equal to the reference's: with 19
    people in the group it reaches beyond |d| <= 0.1 at the pass level (no model can show
    compliance), with 2,000 it does not. Recomputed here from the project's Newcombe interval with
    the exact (Clopper-Pearson) limits the gate uses."""
    from pipeline.mitigation.candidates import at_equality
    from pipeline.stats import intervals

    verdict = {"metric": "equal_opportunity", "feature": "race", "reference": "W", "bound": 0.1, "ci_level": 0.9}
    features = {"race": {"groups": {"W": {"tpr": 0.6}}}}
    small = {"race": {"W": {"tpr": 3500}, "O": {"tpr": 19}}}
    large = {"race": {"W": {"tpr": 3500}, "O": {"tpr": 2000}}}
    e = at_equality(verdict, {"group": "O"}, features, small)
    low, high = intervals.newcombe_difference(round(0.6 * 19), 19, 2100, 3500, 0.9, limits="exact")
    assert e["ci"] == pytest.approx([float(low), float(high)]) and e["status"] == "inconclusive" and e["n_group"] == 19
    assert at_equality(verdict, {"group": "O"}, features, large)["status"] == "pass"
    ratio = {**verdict, "metric": "selection_rate_ratio", "bound": [0.8, 1.25]}
    features["race"]["groups"]["W"]["selection_rate"] = 0.2
    rows = {"race": {"W": {"selection_rate": 14000}, "O": {"selection_rate": 135}}}
    assert at_equality(ratio, {"group": "O"}, features, rows)["status"] != "pass"
    assert (
        at_equality({**verdict, "feature": "sex x race"}, {"group": "O"}, features, small) is None
    )  # information only


def test_report_names_the_checks_no_model_can_pass_and_the_targets():
    """The mitigation section states what was targeted and, with no passing candidate, which
    checks cannot pass on this split, from the figures in mitigation.json (no figure typed here)."""
    from pipeline.report import sections_mitigation

    check = {
        "check": "race: equal_opportunity",
        "feature": "race",
        "metric": "equal_opportunity",
        "value": -0.2,
        "ci": [-0.4, 0.1],
        "bound": 0.1,
        "status": "inconclusive",
        "group": "O",
        "reference": "W",
    }
    row = {
        "method": "exponentiated_gradient",
        "constraint": "combined",
        "targets": ["selection_rate_ratio", "equal_opportunity"],
        "deployable": True,
        "fits": 3,
        "notes": [],
        "passed": False,
        "failed_checks": ["race: equal_opportunity"],
        "accuracy": {"value": 0.8, "ci": [0.79, 0.81]},
        "roc_auc": {"value": 0.85, "ci": [0.84, 0.86]},
        "trade_off": {"metric": "race: equal_opportunity", "value": -0.2, "ci": [-0.4, 0.1], "gating_checks": [check]},
    }
    at_eq = {
        "rate": "tpr",
        "reference_rate": 0.62,
        "n_group": 19,
        "n_reference": 3490,
        "ci": [-0.29, 0.23],
        "status": "inconclusive",
    }
    result = {
        "enabled": True,
        "attribute": "sex x race",
        "attributes": ["sex", "race"],
        "constraint": "policy",
        "methods": ["exponentiated_gradient"],
        "targets": [
            {
                "constraint": "combined",
                "criteria": ["selection_rate_ratio", "equal_opportunity"],
                "moments": [
                    {"moment": "DemographicParity", "difference_bound": 0.0267},
                    {"moment": "TruePositiveRateParity", "difference_bound": 0.05},
                ],
            }
        ],
        "untargeted_criteria": [],
        "fit_budget": 40,
        "fits_used": 3,
        "best_passing": None,
        "errors": {},
        "candidates": {"eg": row},
        "obstacles": {
            "checks": {"race: equal_opportunity": []},
            "closest": "eg",
            "blockers": [],
            "not_passing": [
                {
                    **check,
                    "ci_level": 0.995,
                    "comparisons": [
                        {"group": "O", "value": -0.2, "ci": [-0.4, 0.1], "status": "inconclusive", "at_equality": at_eq}
                    ],
                }
            ],
        },
    }
    text = " ".join(sections_mitigation.build({"mitigation": result}).paragraphs)
    assert "intersection of 'sex' and 'race'" in text and "TruePositiveRateParity" in text
    assert "No candidate passes race: equal_opportunity" in text
    assert "[-0.290, 0.230] from 19 people with the favourable outcome: it still could not pass" in text
    assert "race: equal_opportunity: on this test split no model can pass" in text


def test_denominators_count_people_by_truth_for_every_rate_the_truth_fixes():
    """By hand: group a has 2 rows (1 favourable), b has 3 (2 favourable); precision's denominator
    depends on the model's decisions, so it has none."""

    from pipeline.mitigation.build import denominators

    test = {"y01": np.array([1, 0, 0, 1, 1]), "groups": pd.DataFrame({"s": ["a", "a", "b", "b", "b"]})}
    counts = denominators(test, ["s"])["s"]
    assert counts["a"]["selection_rate"] == 2 and counts["a"]["tpr"] == 1 and counts["a"]["fpr"] == 1
    assert counts["b"]["selection_rate"] == 3 and counts["b"]["tpr"] == 2 and counts["b"]["fpr"] == 1
    assert counts["b"]["fnr"] == 2 and "precision" not in counts["b"]
