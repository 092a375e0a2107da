"""The report: model-card sections from real stage outputs, the verdict summary, 'not run' slots,
and inert output when the data's names carry markup."""

from __future__ import annotations

import copy
import re

import pytest

from pipeline.audit.gate import gate
from pipeline.report import render
from pipeline.report.context import collect
from tests._report_support import run_stages, with_verdicts

XSS = [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "\"quoted' & $5$ [a](javascript:alert(2))",
]
#: The readers' order (issue 17): findings (fairness, explanations, privacy, ethics, caveats), data, model,
#: training and cost, glossary, manifest; every section of Mitchell et al.'s model card is among them.
MODEL_CARD_TITLES = [
    "Quantitative analyses",
    "Mitigation candidates",
    "Interpretability",
    "Privacy",
    "Ethical considerations",
    "Caveats and recommendations",
    "Training data",
    "Evaluation data",
    "Factors",
    "Intended use",
    "Model details",
    "Metrics",
    "Training and compute cost",
    "Glossary",
    "Reproducibility manifest",
]


@pytest.fixture(scope="module")
def ctx(module_project):
    from pipeline import config, provenance

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg)
    return collect(cfg, provenance.record(cfg))


def _titles(html: str) -> list[str]:
    """Section titles; the training-data slot keeps 'Training data' first whatever its builder adds."""
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    return ["Training data" if t.startswith("Training data") else t for t in titles]


def test_every_model_card_section_in_order(ctx):
    html, markdown = render.render(ctx)
    assert _titles(html) == ["Summary", *MODEL_CARD_TITLES]
    for title in MODEL_CARD_TITLES:
        assert f"## {title}" in markdown
    assert html.count("<svg") >= 4  # ROC, calibration, selection rates, importance
    assert ctx["manifest"]["pipeline_state"] in html
    for name, sha in ctx["meta"]["provenance"].items():
        assert sha in html and sha in markdown, name


def test_missing_outputs_say_not_run_instead_of_vanishing(ctx):
    empty = copy.deepcopy(ctx)
    for key in ("fairness", "explain", "privacy", "evaluate", "roc", "calibration"):
        empty[key] = None
    html, markdown = render.render(empty)
    assert _titles(html) == ["Summary", *MODEL_CARD_TITLES]
    assert html.count('class="unavailable"') >= 4
    assert "AUDIT INCOMPLETE" in html and "AUDIT INCOMPLETE" in markdown
    assert "has not run" in markdown


def test_summary_counts_verdicts_and_names_failures(ctx, module_project):
    fairness = with_verdicts(
        {"sex/demographic_parity_ratio": "fail", "sex/equalized_odds_difference": "pass", "race/x": "inconclusive"}
    )
    failing = {**ctx, "fairness": fairness}
    built = render.sections(failing)
    summary = render.summary(failing, built)
    assert summary["status"] == "fail"
    assert "2 of 3" in summary["headline"]
    assert "Checks by status: fail 1, inconclusive 1, pass 1." in summary["lines"]
    passing = {**ctx, "fairness": with_verdicts({"sex/demographic_parity_ratio": "pass"})}
    assert render.summary(passing, render.sections(passing))["status"] == "pass"


def test_gate_treats_missing_or_empty_verdicts_as_not_passed():
    assert not gate(None).passed
    assert not gate({"verdicts": []}).passed
    assert gate({"verdicts": [{"check": "a", "status": "pass"}]}).passed
    g = gate({"verdicts": [{"check": "a", "feature": "sex", "status": "inconclusive"}]})
    assert (g.passed, g.failed) == (False, ["sex: a"])


def test_without_provenance_the_manifest_says_so_instead_of_inventing_it(ctx):
    """``collect`` alone (no :func:`pipeline.provenance.record`) renders, and the manifest admits the gap."""
    bare = copy.deepcopy(ctx)
    for key in ("git", "dvc_lock", "packages", "pipeline_state"):
        del bare["manifest"][key]
    html, markdown = render.render(bare)
    assert _titles(html) == ["Summary", *MODEL_CARD_TITLES]
    assert "was not recorded" in markdown and ctx["manifest"]["pipeline_state"] not in html
    assert "Reproducibility manifest" in render.summary(bare, render.sections(bare))["lines"][-1]


def _hostile(ctx: dict) -> dict:
    """The real context with markup in column names, category values and file names."""
    bad = copy.deepcopy(ctx)
    meta = bad["meta"]
    meta["source"] = XSS[0]
    meta["sensitive"] = [XSS[1], XSS[3]]
    meta["classes"] = [XSS[2], XSS[0]]
    meta["provenance"] = {XSS[1] + ".csv": "0" * 64, XSS[2]: "1" * 64}
    fairness = bad["fairness"]
    block = next(iter(fairness["features"].values()))
    block["groups"] = {x: next(iter(block["groups"].values())) for x in XSS}
    fairness["features"] = {XSS[1]: block}
    fairness["verdicts"] = [
        {"check": XSS[0], "feature": XSS[2], "metric": "m", "value": 1.0, "ci": None, "bound": 0.8, "status": "fail"}
    ]
    importance = (
        bad["explain"]["integrated_gradients"]["importance"] if "integrated_gradients" in bad["explain"] else None
    )
    if importance is not None:
        importance[XSS[3]] = 0.5
        importance[XSS[0]] = 0.4
    bad["data"]["splits"]["test"]["groups"] = {XSS[0]: {XSS[2]: 3}}
    return bad


def test_markup_from_the_data_is_inert_in_html_markdown_and_svg(ctx):
    html, markdown = render.render(_hostile(ctx))
    # HTML: no element or attribute formed from the data; the escaped text is present instead
    assert html.count("<script") == 0
    assert "<img" not in html and "&lt;img src=x onerror" in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert "Content-Security-Policy" in html  # second line of defence: no script may run at all
    # SVG labels (matplotlib text) are escaped too
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        assert "<script" not in svg and "<img" not in svg
    # Markdown: no raw HTML, no link or autolink syntax, no cell breaks from the data
    assert "<script" not in markdown and "<img" not in markdown
    assert not re.search(r"(?<!\\)\]\(javascript", markdown)  # link syntax cannot form: brackets are escaped
    assert "\\[a\\](javascript" in markdown
    for table in re.findall(r"(?:^\|.*\n)+", markdown, flags=re.M):  # every row keeps its header's cell count
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table


def test_svg_keeps_dollar_signs_literal_and_refuses_active_content():
    from pipeline.report import plots

    svg = plots.barh(["$5$ <b>", "a"], [1.0, 2.0], "t", "x")
    assert "$5$ &lt;b&gt;" in svg
    with pytest.raises(ValueError, match="refusing"):
        plots.inert('<svg><a href="javascript:alert(1)">x</a></svg>')
