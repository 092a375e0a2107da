"""The gate's decision rules, one hand-worked case each (issue 23), and the gate that recomputes
verdicts from evidence instead of reading a status.

Rules: pass = the 1 - 2 alpha interval inside the bound (TOST); fail = the family interval wholly
outside; a comparison lacking rows or events is not assessable and never passes; an exemption
covers inconclusive / not assessable comparisons but never a fail; "needs about N" from TOST power.
Their error rates are measured in benchmarks/VERDICTS.md (benchmarks/bench_verdicts.py).
"""

import copy

import numpy as np
import pytest
from scipy.stats import beta, binomtest, t

from pipeline.audit import policy as pol
from pipeline.audit.fairness import FairnessSettings, audit_decisions
from pipeline.audit.gate import gate
from pipeline.audit.recompute import discrepancies
from pipeline.stats import intervals
from tests.data_helpers import rows_with_cells


def _check(result, metric):
    return next(v for v in result["verdicts"] if v["metric"] == metric and v["feature"] == "g")


def test_clopper_pearson_matches_scipy_exact_interval():
    for k, n in ((0, 30), (1, 35), (34, 35), (35, 35), (120, 400)):
        low, high = intervals.clopper_pearson(k, n, 0.9)
        ref = binomtest(k, n).proportion_ci(0.9, method="exact")
        assert (float(low), float(high)) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_levels_by_hand():
    levels = pol.Levels(alpha=0.05, family_size=10)
    assert levels.equivalence == pytest.approx(0.90)  # TOST: two one-sided 5% tests
    assert levels.fail == pytest.approx(0.995)  # Bonferroni over 10 comparisons
    assert pol.Levels(0.05, 10, family="none").fail == pytest.approx(0.95)


def test_pass_rule_by_hand_difference():
    # 400/500 vs 800/1000 (both 0.8): Newcombe from Clopper-Pearson 90% limits, computed here by hand
    k1, n1, k2, n2 = 400, 500, 800, 1000
    l1, u1 = beta.ppf(0.05, k1, n1 - k1 + 1), beta.ppf(0.95, k1 + 1, n1 - k1)
    l2, u2 = beta.ppf(0.05, k2, n2 - k2 + 1), beta.ppf(0.95, k2 + 1, n2 - k2)
    low = 0.0 - np.sqrt((0.8 - l1) ** 2 + (u2 - 0.8) ** 2)
    high = 0.0 + np.sqrt((u1 - 0.8) ** 2 + (0.8 - l2) ** 2)
    d = pol.decide("difference", k1, n1, k2, n2, 0.1, pol.Levels(0.05, 1))
    assert (float(d["ci"][0]), float(d["ci"][1])) == pytest.approx((low, high))
    assert -0.1 < low and high < 0.1 and bool(d["passes"]) and not bool(d["fails"])


def test_fail_rule_uses_the_family_interval():
    # selection 100/1000 vs 250/1000: ratio 0.4, far outside [0.8, 1.25] even at level 0.995
    d = pol.decide("ratio", 100, 1000, 250, 1000, (0.8, 1.25), pol.Levels(0.05, 10))
    assert float(d["value"]) == pytest.approx(0.4)
    assert float(d["ci_family"][1]) < 0.8 and bool(d["fails"])
    # ratio 0.76 on 1000 vs 1000: the 90% interval reaches below 0.8 but the family interval reaches
    # above it -> neither pass nor fail (inconclusive)
    d = pol.decide("ratio", 190, 1000, 250, 1000, (0.8, 1.25), pol.Levels(0.05, 10))
    assert not bool(d["passes"]) and not bool(d["fails"])
    assert float(d["ci_family"][0]) < 0.8 < float(d["ci_family"][1])


def test_small_group_is_not_assessable_and_never_passes_but_can_fail():
    # 'b' has 25 rows (< min_group_size 30) with the same rates as 'a': not assessable, the gate blocks
    y, p, g = rows_with_cells({"a": (300, 200, 100, 1400), "b": (4, 2, 1, 18)})
    s = FairnessSettings(n_boot=0, policy=pol.Policy(criteria={"selection_rate_ratio": (0.8, 1.25)}))
    result = audit_decisions(y, p, None, g, ["g"], s)
    check = _check(result, "selection_rate_ratio")
    assert check["status"] == "not_assessable" and "fewer than 30 rows in 'b'" in check["reason"]
    assert not gate(result).passed
    # the same small group selected at a ratio of 0.04 to the reference: overwhelming evidence fails
    y, p, g = rows_with_cells({"a": (600, 400, 200, 800), "b": (0, 1, 5, 19)})
    result = audit_decisions(y, p, None, g, ["g"], s)
    assert _check(result, "selection_rate_ratio")["status"] == "fail"


def test_equalized_odds_passes_only_when_both_rates_pass():
    # TPR equal (0.8 vs 0.8), FPR 0.10 vs 0.30: the FPR part fails the whole comparison
    y, p, g = rows_with_cells({"a": (800, 100, 200, 900), "b": (800, 300, 200, 700)})
    s = FairnessSettings(n_boot=0, policy=pol.Policy(criteria={"equalized_odds": 0.1}))
    eo = _check(audit_decisions(y, p, None, g, ["g"], s), "equalized_odds")
    assert eo["status"] == "fail" and eo["value"] == pytest.approx(0.2)
    assert eo["comparisons"][0]["parts"]["tpr"]["value"] == pytest.approx(0.0)


def test_calibration_from_sums_equals_the_t_interval_on_rows():
    rng = np.random.default_rng(0)
    resid = rng.normal(0.02, 0.3, size=200)
    low, high = intervals.mean_interval_from_sums(200, resid.sum(), (resid**2).sum(), 0.9)
    half = t.ppf(0.95, 199) * resid.std(ddof=1) / np.sqrt(200)
    assert (low, high) == pytest.approx((resid.mean() - half, resid.mean() + half))


def test_needed_size_by_hand():
    # difference: group 0.55, reference 0.60 on 4000; TOST power 0.8 at alpha 0.05. By hand:
    # se(n) = sqrt(0.2475 / n + 0.24 / 4000); power = Phi((0.1 + 0.05)/se - z) + Phi((0.1 - 0.05)/se - z) - 1
    from statistics import NormalDist

    nd = NormalDist()
    z = nd.inv_cdf(0.95)

    def power(n):
        se = np.sqrt(0.55 * 0.45 / n + 0.6 * 0.4 / 4000)
        return nd.cdf(0.15 / se - z) + nd.cdf(0.05 / se - z) - 1

    need = pol.needed_size("difference", [[0.55 * 200, 200, 0.6 * 4000, 4000]], 0.1, 0.05)["needs"]
    assert power(need) >= 0.8 > power(need - 1)
    # an estimate outside the bound: no sample size helps
    out = pol.needed_size("difference", [[30, 100, 2400, 4000]], 0.1, 0.05)
    assert out["needs"] is None and "no sample size helps" in out["why"]


def test_inconclusive_comparison_states_what_it_would_take():
    y, p, g = rows_with_cells({"a": (1600, 400, 400, 7600), "b": (25, 5, 10, 60)})  # TPR 0.8 vs 0.714 on 35 positives
    s = FairnessSettings(n_boot=0, policy=pol.Policy(criteria={"equal_opportunity": 0.1}))
    eo = _check(audit_decisions(y, p, None, g, ["g"], s), "equal_opportunity")
    assert eo["status"] == "inconclusive"
    assert eo["needed"] and eo["needed"][0].startswith("'b': needs about ")
    assert "people with the favourable outcome in the truth, has 35, and the reference about" in eo["needed"][0]


def test_exemption_covers_inconclusive_but_never_a_fail():
    spec = {"a": (1600, 400, 400, 7600), "b": (1600, 400, 400, 7600), "c": (25, 5, 10, 60)}
    y, p, g = rows_with_cells(spec)
    exempt = (pol.Exemption("g", "c", "35 positives only; owner accepts (ticket 12)"),)
    s = FairnessSettings(n_boot=0, policy=pol.Policy(criteria={"equal_opportunity": 0.1}, exempt=exempt))
    result = audit_decisions(y, p, None, g, ["g"], s)
    eo = _check(result, "equal_opportunity")
    assert eo["status"] == "pass" and eo["exempt"] == [
        {"group": "c", "reason": "35 positives only; owner accepts (ticket 12)", "status": "inconclusive"}
    ]
    assert result["policy"]["exempt"][0]["group"] == "c"
    # a gross violation in the exempt group still fails
    spec["c"] = (5, 5, 30, 60)  # TPR 0.14 vs 0.8
    y, p, g = rows_with_cells(spec)
    assert _check(audit_decisions(y, p, None, g, ["g"], s), "equal_opportunity")["status"] == "fail"


def _audited():
    y, p, g = rows_with_cells({"a": (1600, 400, 400, 7600), "b": (1500, 500, 500, 7500)})
    s = FairnessSettings(n_boot=0)
    return audit_decisions(y, p, None, g, ["g"], s), s


def test_gate_recomputes_and_names_an_edited_status():
    result, s = _audited()
    assert discrepancies(result, s, ["g"]) == []
    edited = copy.deepcopy(result)
    target = next(v for v in edited["verdicts"] if v["gating"])
    was = target["status"]
    target["status"] = "fail" if was == "pass" else "pass"
    problems = discrepancies(edited, s, ["g"])
    assert problems == [f"{target['check']}: fairness.json says {target['status']!r}, its own evidence gives {was!r}"]


def test_gate_names_a_policy_that_differs_from_the_configured_one():
    result, s = _audited()
    lax = FairnessSettings(n_boot=0, policy=pol.Policy(criteria={"selection_rate_ratio": (0.5, 2.0)}))
    problems = discrepancies(result, lax, ["g"])
    assert any(p.startswith("policy 'criteria'") for p in problems)
    assert any("g: equal_opportunity: gating in fairness.json but not under params.yaml" == p for p in problems)


def test_gate_names_outputs_that_differ_from_dvc_lock():
    result, s = _audited()
    lock = {"fairness": {"reports/metrics/fairness.json": {"md5": "x", "on_disk": "differs"}}}
    assert discrepancies(result, s, ["g"], lock) == [
        "reports/metrics/fairness.json differs from the hash dvc.lock recorded for it (edited after `dvc repro`?)"
    ]


def test_a_hand_edited_candidate_cannot_take_the_alias():
    from pipeline import config, io
    from pipeline.contracts import MitigationMetrics
    from pipeline.errors import EvidenceMismatchError
    from pipeline.evidence import verify_candidates
    from tests.conftest import REPO

    cfg = config.load(REPO / "params.yaml")
    y, p, g = rows_with_cells({"a": (1600, 400, 400, 7600), "b": (800, 200, 1200, 7800)})  # TPR 0.8 vs 0.4: fails
    audit = audit_decisions(y, p, None, g, ["g"], FairnessSettings(n_boot=0))
    row = {
        "method": "none",
        "constraint": None,
        "deployable": True,
        "audit": io.to_plain(audit),
        "passed": False,
        "failed_checks": [],
        "accuracy": {"value": 0.8},
        "fits": 0,
        "degenerate": {"degenerate": False, "reasons": []},
    }

    def mitigation(candidate: dict, best: str | None) -> MitigationMetrics:
        head = {"enabled": True, "attribute": "g", "constraint": "policy", "methods": [], "errors": {}}
        return MitigationMetrics.model_validate({**head, "candidates": {"x": candidate}, "best_passing": best})

    verify_candidates(cfg, mitigation(row, None), ["g"])  # as written: fine
    forged = copy.deepcopy(row)
    forged["passed"] = True
    for v in forged["audit"]["verdicts"]:
        v["status"] = "pass"
    with pytest.raises(EvidenceMismatchError, match="candidate x: g: selection_rate_ratio: fairness.json says 'pass'"):
        verify_candidates(cfg, mitigation(forged, "x"), ["g"])
    with pytest.raises(EvidenceMismatchError, match="best_passing names 'x', which does not pass every gating check"):
        verify_candidates(cfg, mitigation(row, "x"), ["g"])
