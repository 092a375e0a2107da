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
