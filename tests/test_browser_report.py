# ruff: noqa: F811 - pytest fixtures imported from tests._browser
"""The generated report opened in headless Debian chromium: sections and figures render, no script errors,
and markup smuggled in through the data's names does not run."""

from __future__ import annotations

import copy

import pytest

from pipeline import paths
from tests._browser import ARTIFACTS, browser, page  # noqa: F401 - fixtures
from tests._report_support import run_stages

pytestmark = pytest.mark.browser

OPEN_ALL = "document.querySelectorAll('details').forEach(d => d.open = true)"
#: The report's height at 1280 px with its detail collapsed: half the 25,283 px it had (issue 26).
MAX_HEIGHT_1280 = 12_600
#: Text cells whose letters-and-digits run is split over two lines (a break inside a word: "FAI/L").
BROKEN_CELLS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode, re = /[\\p{L}\\p{N}_]+/gu;
      let m;
      while ((m = re.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


@pytest.fixture(scope="module")
def report(module_project):
    from pipeline import config
    from pipeline.stages import report

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg)
    report.main(cfg)
    return module_project / paths.REPORT_HTML, cfg


def test_report_sections_and_figures_render_without_errors(report, page):
    path, _ = report
    page.page.goto(path.as_uri())
    page.page.evaluate(OPEN_ALL)  # the detail is collapsed; everything must still be reachable
    ids = page.page.eval_on_selector_all("section[id]", "els => els.map(e => e.id)")
    assert (
        ids[0] == "summary" and ids[-1] == "manifest" and len(ids) == 16
    )  # summary + 15 (model card, mitigation, training, glossary)
    assert page.page.locator("#summary .headline").inner_text().startswith("AUDIT")
    sizes = page.page.eval_on_selector_all(
        "figure svg", "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    assert len(sizes) >= 4 and all(w > 100 and h > 50 for w, h in sizes)
    assert page.page.locator("#manifest table").count() >= 2
    page.screenshot("report.png")
    assert page.errors == [] and page.dialogs == []


def test_report_fits_a_phone_and_every_svg_is_announced(report, browser):
    """At 390 px (a phone) nothing overflows the page sideways; every figure scales and has a title."""
    path, _ = report
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(path.as_uri())
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        svgs = phone.eval_on_selector_all(
            "svg",
            "els => els.map(e => [e.querySelector(':scope > title')?.textContent || '', "
            "e.getAttribute('aria-labelledby') || '', e.getBoundingClientRect().width])",
        )
        assert svgs and all(title and label and width <= 390 for title, label, width in svgs), svgs
        first_screen = phone.evaluate("document.querySelector('#summary .headline').getBoundingClientRect().top")
        assert first_screen < 844  # the verdict is on the first screen
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / "report_390.png"))
    finally:
        context.close()


def test_report_ends_each_section_opens_with_a_conclusion_and_tables_keep_words_whole(report, browser):
    """At 1280 px the page with its detail collapsed is at most 12,600 px; every section after the
    summary opens with a one-line conclusion above a collapsed <details>; the failing checks' decisive
    groups are named there. At 390 px with every detail open, no table cell breaks inside a word and
    the page never scrolls sideways (wide tables scroll in their own box)."""
    path, _ = report
    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        wide = desk.new_page()
        wide.goto(path.as_uri())
        height = wide.evaluate("document.documentElement.scrollHeight")
        assert height <= MAX_HEIGHT_1280, height
        sections = wide.eval_on_selector_all(
            "section[id]:not(#summary)",
            "els => els.map(e => [e.id, e.querySelector(':scope > p.conclusion')?.innerText || '', "
            "!!e.querySelector(':scope > details:not([open])')])",
        )
        assert sections and all(text.strip() and collapsed for _, text, collapsed in sections), sections
        ARTIFACTS.mkdir(exist_ok=True)
        wide.screenshot(path=str(ARTIFACTS / "report_1280_collapsed.png"), full_page=True)
        phone = phone_context.new_page()
        phone.goto(path.as_uri())
        phone.evaluate(OPEN_ALL)
        assert phone.eval_on_selector_all("table", "els => els.filter(e => e.offsetParent !== null).length") > 0
        assert phone.evaluate(BROKEN_CELLS) == []
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.screenshot(path=str(ARTIFACTS / "report_390_open.png"))
    finally:
        desk.close()
        phone_context.close()


def test_fairness_conclusion_names_each_failing_checks_groups(report):
    from pipeline import io
    from pipeline.report import findings

    path, _ = report
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    html = path.read_text()
    start = html.index('<section id="quantitative-analyses"')
    conclusion = html[start : html.index("</p>", start)]
    for v in findings.gating(fairness):
        if v.get("status") != "pass" and v.get("group"):
            assert f"({v['group']} vs {v['reference']})" in conclusion.replace("&amp;", "&")


def test_hostile_names_do_not_execute_in_the_browser(report, page, tmp_path):
    from pipeline.report import render
    from pipeline.report.context import collect

    _, cfg = report
    ctx = copy.deepcopy(collect(cfg))
    payload = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
    ctx["meta"]["source"] = payload
    ctx["meta"]["provenance"] = {payload + ".csv": "0" * 64}
    feature = next(iter(ctx["fairness"]["features"].values()))
    feature["groups"] = {payload + str(i): v for i, v in enumerate(feature["groups"].values())}
    html, _ = render.render(ctx)
    target = tmp_path / "hostile.html"
    target.write_text(html)
    page.page.goto(target.as_uri())
    assert page.page.title() != "pwned"
    assert page.page.evaluate("document.querySelectorAll('body script, body img').length") == 0
    assert payload in page.page.inner_text("h1")  # shown as text
    page.screenshot("report_hostile.png")
    assert page.dialogs == []
