"""The gate's message (issue 26), worked by hand: every gating check with its status, value,
interval and level, bound and decisive group, worst first; inconclusive checks are not called
failed; blockers; the rule in the report's words; the report's path last."""

from __future__ import annotations

from pipeline import paths
from pipeline.audit.gate import gate
from pipeline.report import gate_message, policy_text

POLICY = {
    "ci": 0.95,
    "family": "bonferroni",
    "family_size": 4,
    "gating_ci_level": 0.9875,
    "criteria": {"selection_rate_ratio": {"bound": [0.8, 1.25], "meaning": "four-fifths"}},
    "attributes": ["race"],
}


def _verdict(status: str, group: str, value: float, ci: list, **extra) -> dict:
    return {
        "check": "race: selection_rate_ratio" if group == "Black" else f"race ({group}): selection_rate_ratio",
        "feature": "race",
        "metric": "selection_rate_ratio",
        "value": value,
        "ci": ci,
        "ci_level": 0.9875,
        "bound": [0.8, 1.25],
        "status": status,
        "gating": True,
        "group": group,
        "reference": "White",
        **extra,
    }


def _fairness(*verdicts, blockers=()) -> dict:
    return {"policy": POLICY, "verdicts": list(verdicts), "blockers": list(blockers)}


def test_each_gating_check_names_status_value_interval_bound_and_group_then_the_report():
    fairness = _fairness(
        _verdict("inconclusive", "Asian", 0.85, [0.7, 1.01]),
        _verdict("fail", "Black", 0.4533, [0.3626, 0.5643], needed=["'Black': needs about 1,200 people, has 300"]),
        {**_verdict("pass", "Other", 0.95, [0.9, 1.1]), "gating": False},  # information: not listed
    )
    text = gate_message.message(fairness, gate(fairness))
    lines = text.splitlines()
    assert lines[0] == "gate: the audit policy does not pass (FAIL 1 · INCONCLUSIVE 1)"
    assert lines[1].split()[0] == "FAIL" and lines[2].split()[0] == "INCONCLUSIVE"  # worst first
    assert (
        "race: selection_rate_ratio = 0.453 [0.363, 0.564] at level 0.988, bound within [0.800, 1.250]; "
        "decided by 'Black' against 'White'; 'Black': needs about 1,200 people, has 300"
    ) in lines[1]
    assert "0.850 [0.700, 1.010]" in lines[2] and "'Asian'" in lines[2]
    assert "Other" not in text
    assert policy_text.rule_sentence(fairness) in text and "level 0.988" in text
    assert lines[-1].startswith(f"Report: {paths.REPORT_HTML}")


def test_not_assessable_blockers_and_a_pass():
    blocked = _fairness(
        _verdict("not_assessable", "Black", None, [None, None], reason="7 people with the outcome, 10 needed"),
        blockers=["degenerate model: one class for 99% of rows"],
    )
    text = gate_message.message(blocked, gate(blocked))
    assert "NOT ASSESSABLE" in text and "no interval" in text and "10 needed" in text
    assert "BLOCKED        degenerate model: one class for 99% of rows" in text
    assert text.splitlines()[0].endswith("(BLOCKED · NOT ASSESSABLE 1)")
    ok = _fairness(_verdict("pass", "Black", 0.95, [0.85, 1.1]))
    assert gate_message.message(ok, gate(ok)).splitlines()[0] == "gate: the audit policy passes (PASS 1)"


def test_no_verdicts_says_what_to_run():
    text = gate_message.message(None, gate(None))
    assert "run `dvc repro` first" in text and "BLOCKED" not in text
