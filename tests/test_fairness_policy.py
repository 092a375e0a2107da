"""The audit policy: only chosen criteria gate; undefined is not fail; too few events is
not assessable (never a pass); a degenerate model cannot pass; n_boot cannot move a verdict; the gate's blockers;
every interval in the audit contains its estimate."""

import numpy as np
import pandas as pd
import pytest

from pipeline.audit.fairness import FairnessSettings, audit_decisions, check_reference, sensitive_views
from pipeline.audit.gate import gate
from pipeline.audit.policy import Policy
from pipeline.errors import BadInputError
from pipeline.stats.intervals import contains
from tests.data_helpers import rows_with_cells


def _by_metric(result, feature="g"):
    return {v["metric"]: v for v in result["verdicts"] if v["feature"] == feature}


def test_only_policy_criteria_gate_and_gating_checks_come_first():
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (1900, 600, 600, 6900)})
    s = FairnessSettings(n_boot=0, policy=Policy(criteria={"equal_opportunity": 0.1}))
    result = audit_decisions(y, p, None, g, ["g"], s)
    gating = [v for v in result["verdicts"] if v["gating"]]
    assert [v["metric"] for v in gating] == ["equal_opportunity"]
    assert result["verdicts"][0]["gating"] and all(not v["gating"] for v in result["verdicts"][1:])
    assert {"selection_rate_ratio", "predictive_parity", "equalized_odds"} <= set(_by_metric(result))  # still computed


def test_policy_pass_and_fail_by_hand():
    # equal TPR (0.8 vs 0.8): equal opportunity passes; selection rates 0.25 vs 0.10: ratio 0.4 fails
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (400, 100, 100, 4400)})
    result = audit_decisions(y, p, None, g, ["g"], FairnessSettings(n_boot=0))
    m = _by_metric(result)
    assert m["equal_opportunity"]["status"] == "pass" and m["equal_opportunity"]["value"] == pytest.approx(0.0)
    assert m["selection_rate_ratio"]["status"] == "fail"
    assert m["selection_rate_ratio"]["value"] == pytest.approx(0.10 / 0.25)
    assert m["selection_rate_ratio"]["group"] == "b" and m["selection_rate_ratio"]["reference"] == "a"
    g_ = gate(result)
    assert not g_.passed and g_.failed == ["g: selection_rate_ratio"]
    assert result["verdicts"][0]["metric"] == "selection_rate_ratio"  # the gating failure is the first headline
    passing = audit_decisions(
        y, p, None, g, ["g"], FairnessSettings(n_boot=0, policy=Policy(criteria={"equal_opportunity": 0.1}))
    )
    assert gate(passing).passed


def test_zero_reference_rate_is_undefined_not_fail():
    # reference 'a' (largest) has no false positives: the FPR-based checks cannot be judged
    y, p, g = rows_with_cells({"a": (100, 0, 20, 300), "b": (40, 10, 10, 100)})
    s = FairnessSettings(
        n_boot=0, policy=Policy(criteria={"selection_rate_ratio": 0.8, "false_positive_rate_balance": 0.1})
    )
    result = audit_decisions(y, p, None, g, ["g"], s)
    fpr = _by_metric(result)["false_positive_rate_balance"]
    assert fpr["status"] in ("pass", "fail", "inconclusive")  # a difference is defined even at rate 0
    # selection rate 0 in the reference: the ratio is undefined with the reason, never "fail 0.000"
    y, p, g = rows_with_cells({"a": (0, 0, 100, 300), "b": (30, 10, 20, 100)})
    ratio = _by_metric(audit_decisions(y, p, None, g, ["g"], s))["selection_rate_ratio"]
    assert ratio["status"] == "not_assessable" and ratio["value"] is None
    assert "reference group 'a' has rate 0" in ratio["reason"]


def test_too_few_events_is_not_assessable_with_the_reason():
    # group b: 40 rows but only 5 people with the favourable truth -> its TPR carries no verdict
    y, p, g = rows_with_cells({"a": (200, 50, 50, 700), "b": (3, 5, 2, 30)})
    s = FairnessSettings(n_boot=0, policy=Policy(criteria={"equal_opportunity": 0.1}))
    result = audit_decisions(y, p, None, g, ["g"], s)
    eo = _by_metric(result)["equal_opportunity"]
    assert eo["status"] == "not_assessable"
    assert "rests on 5 people with the favourable outcome" in eo["comparisons"][0]["reason"]
    assert eo["comparisons"][0]["status"] == "not_assessable"
    assert not gate(result).passed


def test_degenerate_model_verdicts_are_inconclusive_and_blocked():
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (1900, 600, 600, 6900)})
    result = audit_decisions(
        y, p, None, g, ["g"], FairnessSettings(n_boot=0), inconclusive_reason="degenerate model: x"
    )
    assert all(v["status"] == "inconclusive" and v["reason"].startswith("degenerate model") for v in result["verdicts"])
    assert not gate(result).passed


def test_gate_blocks_on_leakage_and_degenerate_evaluation():
    y, p, g = rows_with_cells({"a": (2000, 500, 500, 7000), "b": (1900, 600, 600, 6900)})
    result = audit_decisions(y, p, None, g, ["g"], FairnessSettings(n_boot=0))
    assert gate(result).passed
    from pipeline.contracts import Degeneracy, Leakage, NearPerfect

    leak = gate(result, leakage=Leakage(suspected=[{"column": "outcome_copy"}]))
    assert not leak.passed and leak.failed == ["suspected target leakage: outcome_copy"]
    bad = gate(result, degenerate=Degeneracy(degenerate=True, reasons=["balanced accuracy 0.5"]))
    assert not bad.passed and "degenerate model: balanced accuracy 0.5" in bad.failed
    assert gate(result, leakage=Leakage(suspected=[])).passed
    near = NearPerfect(flagged=True, reason="validation ROC AUC 0.997 >= 0.98; leans on 'event'")
    at_model = gate(result, near_perfect=near)
    assert not at_model.passed and at_model.failed == [
        "suspected target leakage at the model: validation ROC AUC 0.997 >= 0.98; leans on 'event'"
    ]


def _synthetic(n=1200, seed=4):
    rng = np.random.default_rng(seed)
    group = rng.choice(["x", "y", "z", "w"], size=n, p=[0.6, 0.25, 0.1, 0.05])
    score = np.clip(rng.normal(0.45 + 0.1 * (group == "x"), 0.2), 0.001, 0.999)
    y = (rng.random(n) < score).astype(int)
    return y, (score >= 0.5).astype(int), score, pd.DataFrame({"s": group, "t": rng.choice(["u", "v"], size=n)})


def test_n_boot_cannot_move_a_verdict():
    """Verdicts rest on closed-form intervals: n_boot 0 and 300 give the same statuses (issue 16.2)."""
    y, p, score, groups = _synthetic()
    a = audit_decisions(y, p, score, groups, ["s", "t"], FairnessSettings(n_boot=0))
    b = audit_decisions(y, p, score, groups, ["s", "t"], FairnessSettings(n_boot=300))
    assert [(v["check"], v["status"], v["ci"]) for v in a["verdicts"]] == [
        (v["check"], v["status"], v["ci"]) for v in b["verdicts"]
    ]
    assert gate(a) == gate(b)
    assert a["features"]["s"]["groups"]["x"]["ci"]["roc_auc"] is None  # the only bootstrap interval is absent at 0


def walk_intervals(node, path=""):
    """Yield (path, value, ci) for every {value, ci} pair and every group's rate with its ci."""
    if isinstance(node, dict):
        if "ci" in node and "value" in node and not isinstance(node["ci"], dict):
            yield path, node["value"], node["ci"]
        if isinstance(node.get("ci"), dict):
            for metric, ci in node["ci"].items():
                yield f"{path}/{metric}", node.get(metric), ci
        for key, child in node.items():
            if key != "ci":
                yield from walk_intervals(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk_intervals(child, f"{path}[{i}]")


def assert_intervals_contain_estimates(result: dict) -> int:
    checked = 0
    for path, value, ci in walk_intervals(result):
        if ci is None or value is None:
            continue
        assert contains(value, ci[0], ci[1]), f"{path}: {value} outside {ci}"
        checked += 1
    return checked


def test_every_interval_contains_its_estimate_with_many_small_groups():
    rng = np.random.default_rng(9)
    n = 1500
    age = rng.integers(17, 75, n).astype(str)  # a numeric column as sensitive: 58 small groups
    score = rng.random(n)
    y = (rng.random(n) < score).astype(int)
    groups = pd.DataFrame({"age": age, "sex": rng.choice(["F", "M"], n)})
    result = audit_decisions(y, (score > 0.5).astype(int), score, groups, ["age", "sex"], FairnessSettings(n_boot=100))
    assert assert_intervals_contain_estimates(result) > 1000


def test_unknown_reference_names_the_groups_per_attribute():
    groups = pd.DataFrame({"sex": ["F", "M"], "race": ["A", "B"]})
    views = sensitive_views(groups, ["sex", "race"])
    with pytest.raises(BadInputError, match=r"'Martian' is not a group.*sex: 'F', 'M'; race: 'A', 'B'"):
        check_reference("Martian", views)
    with pytest.raises(BadInputError, match="not a group of 'race'"):
        check_reference({"race": "C"}, views)
    check_reference("M", views)  # exists for sex: used there, the largest group elsewhere


def test_degeneracy_names_chance_level_and_one_class_models():
    from pipeline.audit.performance import degeneracy

    y = np.array([0] * 30 + [1] * 70)
    everyone_good = degeneracy(y, np.ones(100, int), 2, 0.05, 0.98, ["bad", "good"])
    assert (
        everyone_good["degenerate"]
        and "balanced accuracy 0.500 is within 0.05 of chance" in everyone_good["reasons"][0]
    )
    assert "one class ('good') is predicted for 100.0%" in everyone_good["reasons"][1]
    learned = degeneracy(y, np.array([0] * 25 + [1] * 5 + [0] * 10 + [1] * 60), 2, 0.05, 0.98)
    assert not learned["degenerate"] and learned["balanced_accuracy"] == pytest.approx((25 / 30 + 60 / 70) / 2)


def test_settings_that_remove_uncertainty_are_refused():
    """A low confidence level would shrink every interval until verdicts pass on noise (issue 16.2)."""
    from pipeline import config
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="setting 'audit.ci'"):
        config.from_dict({"audit": {"ci": 0.5}})
    with pytest.raises(ConfigError, match="selection_rate_ratio: a ratio band"):
        config.from_dict({"audit": {"policy": {"criteria": {"selection_rate_ratio": [1.2, 1.5]}}}})
    with pytest.raises(ConfigError, match="name at least one gating criterion"):
        config.from_dict({"audit": {"policy": {"criteria": {}}}})
