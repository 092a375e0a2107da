"""The first screen of the report: a verdict and plain sentences whose numbers are recomputed here from
the run's own fairness.json; a glossary defining every abbreviation used; accessible, scalable SVGs."""

from __future__ import annotations

import re

import pytest

from pipeline.report import findings, glossary, plots, render
from pipeline.report.context import collect
from tests._report_support import run_stages


@pytest.fixture(scope="module")
def ctx(module_project):
    from pipeline import config

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg)
    return collect(cfg)


def _fairness(groups: dict, verdicts: list[dict]) -> dict:
    return {
        "favourable_class": ">50K",
        "features": {"sex": {"groups": groups, "reference": "Male"}},
        "verdicts": verdicts,
        "settings": {"ci": 0.95},
    }


def _group(rate, tpr, ci=None):
    return {"selection_rate": rate, "tpr": tpr, "count": 500, "flags": [], "ci": ci or {}}


def test_finding_names_the_group_the_failing_check_is_decided_by():
    """Hand-worked: the lowest rate is 'Asian' but the failing check compares 'Black' with 'White';
    the sentence must name Black and White (the decisive pair), not the extremes."""
    fairness = {
        "favourable_class": ">50K",
        "settings": {"ci": 0.95},
        "features": {
            "race": {
                "reference": "White",
                "groups": {"Asian": _group(0.05, 0.5), "Black": _group(0.097, 0.5), "White": _group(0.213, 0.6)},
            }
        },
        "verdicts": [
            {
                "check": "race: selection_rate_ratio",
                "feature": "race",
                "metric": "selection_rate_ratio",
                "value": 0.455,
                "ci": [0.36, 0.56],
                "bound": [0.8, 1.25],
                "status": "fail",
                "group": "Black",
                "reference": "White",
            }
        ],
    }
    line = findings.findings({"fairness": fairness})[0]
    assert line == "'>50K' is predicted for 9.7% of Black and 21.3% of White test rows (by race)."


def test_selection_sentence_states_each_groups_rate_from_the_figures():
    fairness = _fairness(
        {
            "Female": _group(0.0844, 0.56, {"selection_rate": [0.077, 0.092]}),
            "Male": _group(0.2593, 0.63, {"selection_rate": [0.251, 0.268]}),
        },
        [
            {
                "check": "demographic_parity_difference",
                "feature": "sex",
                "metric": "demographic_parity_difference",
                "value": 0.175,
                "ci": [0.16, 0.19],
                "bound": 0.1,
                "status": "fail",
            }
        ],
    )
    lines = findings.findings({"fairness": fairness})
    assert lines[0] == (
        "'>50K' is predicted for 8.4% of Female and 25.9% of Male test rows "
        "(by sex; 95% intervals 7.7%-9.2% and 25.1%-26.8%)."
    )
    v = findings.verdict(fairness)
    assert v.status == "fail" and v.headline.startswith("AUDIT FAILED: 1 of 1")
    assert v.gating_failures == ["sex: demographic parity difference 0.175 [0.160, 0.190], bound 0.1 (fail)"]


def test_non_gating_failures_do_not_make_findings_and_missing_keys_are_tolerated():
    fairness = _fairness(
        {"Female": _group(0.1, 0.5), "Male": _group(0.3, 0.9)},
        [
            {
                "check": "x",
                "feature": "sex",
                "metric": "equal_opportunity_difference",
                "status": "fail",
                "gating": False,
            },
            {
                "check": "y",
                "feature": "sex",
                "metric": "demographic_parity_ratio",
                "status": "fail",
                "gating": True,
                "reason": "interval below the bound",
            },
        ],
    )
    lines = findings.findings({"fairness": fairness})
    assert lines[0].startswith("'>50K' is predicted for 10.0% of Female and 30.0% of Male")
    assert not any("recognises" in line for line in lines)  # the error-rate check is not gating
    assert findings.verdict(fairness).gating_failures[0].endswith("(fail; interval below the bound)")
    assert findings.findings({"fairness": None}) == []
    assert findings.verdict(None).status == "inconclusive"


def test_flagged_small_groups_are_not_quoted_as_extremes():
    small = {**_group(0.0, 0.0), "flags": ["fewer than 30 rows"]}
    fairness = _fairness(
        {"Female": _group(0.2, 0.5), "Male": _group(0.3, 0.6), "Tiny": small},
        [{"check": "dp", "feature": "sex", "metric": "demographic_parity_difference", "status": "fail"}],
    )
    assert "Tiny" not in findings.findings({"fairness": fairness})[0]


def test_first_screen_has_the_verdict_and_three_sentences_from_this_runs_figures(ctx):
    html, markdown = render.render(ctx)
    summary = html[html.index('id="summary"') : html.index("<nav>")]
    assert "AUDIT" in summary
    rates = [
        findings.pct(g["selection_rate"])
        for block in ctx["fairness"]["features"].values()
        for g in findings._eligible(block).values()
    ]
    assert any(r in summary for r in rates), summary  # a figure recomputed from fairness.json is in the sentence
    assert len(re.findall(r"<li>[A-Z'&][^<]*\.</li>", summary)) >= 3
    assert "FAIL sex:" not in summary  # plain words, not code names


def test_glossary_defines_every_abbreviation_the_report_uses(ctx):
    html, _ = render.render(ctx)
    body = re.sub(r"<[^>]+>", " ", html[html.index("<body>") :])
    defined = {term.split(" ")[0] for term, _ in glossary.entries()}
    used = {w.rstrip("-") for w in re.findall(r"\b[A-Z][A-Z0-9-]{1,}\b", body)} - {
        "AUDIT",
        "FAILED",
        "PASSED",
        "INCOMPLETE",
        "CI",
        "UCI",
        "US",
        "EEOC",
        "PASS",
        "FAIL",
        "INCONCLUSIVE",  # status labels, defined by their lower-case entries
        "UNDEFINED",
        "NOT",  # "NOT ASSESSABLE": the not_assessable status in a verdict label
        "ASSESSABLE",
    }
    missing = {w for w in used if w not in defined and not any(w in t for t, _ in glossary.entries())}
    assert not missing, f"abbreviations without a glossary entry: {sorted(missing)}"
    assert 'id="glossary"' in html and "Cramér&#39;s V" in html


def test_every_svg_has_a_title_and_description_and_scales():
    svg = plots.barh(["a", "b"], [0.1, 0.3], "Selection rate by sex", "share", intervals=[(0.05, 0.15), (0.2, 0.4)])
    assert re.match(r'<svg[^>]*role="img"[^>]*aria-labelledby="(fig-\w+)-t \1-d"', svg)
    assert "<title id=" in svg and "Selection rate by sex</title>" in svg and "x axis: share" in svg
    opening = re.match(r"<svg[^>]*>", svg).group(0)
    assert "viewBox" in opening and ' width="' not in opening and ' height="' not in opening


def test_report_html_is_phone_ready(ctx):
    html, _ = render.render(ctx)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert svgs and all("<title" in s and "aria-labelledby" in s for s in svgs)
    assert "e+" not in re.sub(r"<svg\b.*?</svg>", "", html, flags=re.S)  # no scientific notation in text


def test_a_blocker_heads_the_verdict_even_when_every_check_passes():
    """Suspected leakage (or a degenerate model) fails the audit although every gating check passes;
    the headline must say why instead of '0 of N checks do not pass'."""
    passing = {
        "check": "sex: selection_rate_ratio",
        "feature": "sex",
        "metric": "selection_rate_ratio",
        "value": 0.95,
        "ci": [0.9, 1.0],
        "bound": [0.8, 1.25],
        "status": "pass",
        "gating": True,
    }
    fairness = _fairness({"Female": _group(0.2, 0.6), "Male": _group(0.21, 0.6)}, [passing])
    fairness["blockers"] = ["suspected target leakage: PF_0, later_event"]
    v = findings.verdict(fairness)
    assert v.status == "fail"
    assert v.headline.startswith(
        "AUDIT FAILED: suspected target leakage: PF_0, later_event; all 1 fairness checks pass"
    )
    assert v.gating_failures[0] == "suspected target leakage: PF_0, later_event"
    del fairness["blockers"]
    assert findings.verdict(fairness).status == "pass"
