# ruff: noqa: F811 - pytest fixtures imported from tests._browser
"""``mlflow server`` on 127.0.0.1 with a store holding a real pipeline run (tiny config, real log
stage), opened in headless Debian chromium: the run page shows its description (verdict) and
metrics, clicking the experiment opens the runs table, the artifacts hold PNG figures and the report."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import io, paths
from tests._browser import ARTIFACTS, browser, page  # noqa: F401 - fixtures
from tests._report_support import run_stages

pytestmark = [pytest.mark.browser, pytest.mark.slow]


#: Whether ``text`` is drawn on screen: the centres of its first and last character belong to the
#: innermost element holding it (a column that clips it, or a dialog over it, fails this).
VISIBLE_TEXT = """(text) => {
  const holders = [...document.querySelectorAll('body *')].filter(e => e.textContent.includes(text));
  const el = holders.find(e => ![...e.children].some(c => c.textContent.includes(text)));
  if (!el) return false;
  const begin = el.textContent.indexOf(text);
  const charBox = (at) => {  // the box of the character at offset ``at`` of el's text
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let pos = 0;
    while (walker.nextNode()) {
      const node = walker.currentNode, len = node.textContent.length;
      if (at < pos + len) {
        const range = document.createRange();
        range.setStart(node, at - pos);
        range.setEnd(node, at - pos + 1);
        return range.getBoundingClientRect();
      }
      pos += len;
    }
    return null;
  };
  const seen = (box) => {
    if (!box || box.width <= 0) return false;
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return !!hit && el.contains(hit);
  };
  return seen(charBox(begin)) && seen(charBox(begin + text.length - 1));
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def logged_run(module_project):
    from pipeline import config
    from pipeline.stages import log, report

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg)
    report.main(cfg)
    log.main(cfg)
    return module_project, io.read_json(module_project / paths.MLFLOW_RUN)


@pytest.fixture(scope="module")
def server(logged_run):
    import requests

    root, _ = logged_run
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    cmd = [
        str(mlflow_bin),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
    ]
    log_file = open(root / "mlflow_server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(
                    f"mlflow server exited {proc.returncode}: {(root / 'mlflow_server.log').read_text()[-2000:]}"
                )
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log_file.close()


def _experiment_id(root: Path, run_id: str) -> str:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_run(run_id).info.experiment_id


def test_run_page_shows_metrics(server, logged_run, page):
    root, summary = logged_run
    run_id = summary["run_id"]
    page.page.goto(f"{server}/#/experiments/{_experiment_id(root, run_id)}/runs/{run_id}")
    page.page.get_by_text("evaluate/accuracy").first.wait_for(timeout=90_000)
    page.page.get_by_text("fairness/sex/selection_rate_ratio").first.wait_for(timeout=30_000)  # a default gating check
    page.screenshot("mlflow_run.png")
    assert not [e for e in page.errors if "pageerror" in e]


def test_run_page_shows_the_description_with_the_verdict(server, logged_run, page):
    from pipeline.report import findings

    root, summary = logged_run
    run_id = summary["run_id"]
    headline = findings.verdict(io.read_json(root / paths.FAIRNESS_METRICS)).headline
    page.page.goto(f"{server}/#/experiments/{_experiment_id(root, run_id)}/runs/{run_id}")
    page.page.get_by_text(headline.split(":")[0], exact=False).first.wait_for(timeout=90_000)  # "AUDIT FAILED"
    page.page.get_by_text("Gating criteria", exact=False).first.wait_for(timeout=30_000)
    page.screenshot("mlflow_run_description.png")
    assert not [e for e in page.errors if "pageerror" in e]


def test_clicking_the_experiment_opens_the_runs_table(server, logged_run, page):
    """MLflow 3.17's UI ignores the experiment-kind tag and follows its "GenAI / Model training" switch
    (remembered per browser, default GenAI): after choosing Model training once, as the README says,
    clicking the experiment lists its runs; the link the log stage prints opens the runs table directly."""
    root, summary = logged_run
    run_name = _run_name(root, summary["run_id"])
    from pipeline import config

    name = config.load(root / "params.yaml").tracking.experiment
    try:
        page.page.goto(f"{server}/#/experiments")
        page.page.get_by_text("Model training", exact=True).first.click(timeout=90_000)
        page.page.goto(f"{server}/#/experiments")
        page.page.get_by_role("link", name=name, exact=True).first.click(timeout=60_000)
        page.page.get_by_text(run_name).first.wait_for(timeout=60_000)  # a row of the runs table
        assert "/runs" in page.page.url
    finally:
        page.screenshot("mlflow_experiment.png")
    fresh = page.page.context.browser.new_context()  # a browser that never chose a view
    try:
        other = fresh.new_page()
        other.goto(f"{server}/#/experiments/{summary['experiment_id']}/runs?workflowType=machine_learning")
        other.get_by_text(run_name).first.wait_for(timeout=60_000)
    finally:
        fresh.close()
    assert not [e for e in page.errors if "pageerror" in e]


def test_runs_table_link_shows_the_verdict_in_the_first_columns(server, logged_run, browser):
    """A browser that never chose a view opens the link the log stage prints: the saved view 'Audit
    verdicts' shows the run name (data and verdict) whole in the first column, then the verdict tag
    (which the assistant panel MLflow opens on a first visit may cover at 1280 px)."""
    from pipeline.report import findings
    from pipeline.tracking import RUNS_VIEW

    root, summary = logged_run
    run_name = _run_name(root, summary["run_id"])
    label = findings.verdict_label(io.read_json(root / paths.FAIRNESS_METRICS))
    assert label in run_name
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = fresh.new_page()
        tab.goto(f"{server}/#/experiments/{summary['experiment_id']}/runs{RUNS_VIEW}")
        cell = tab.get_by_text(run_name, exact=True).first
        cell.wait_for(timeout=90_000)
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # the name is not cut off ...
        assert tab.evaluate(VISIBLE_TEXT, run_name)  # ... and drawn, first column, nothing over it
        tab.locator('[col-id="tags.`audit_summary`"]').first.wait_for(timeout=30_000)  # the view's verdict column
        tab.screenshot(path=str(ARTIFACTS / "mlflow_runs_verdict.png"))
    finally:
        fresh.close()


def test_registered_model_list_shows_the_verdict(server, logged_run, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from pipeline import config
    from pipeline.report import findings

    root, _ = logged_run
    name = config.load(root / "params.yaml").tracking.model_name
    label = findings.verdict_label(io.read_json(root / paths.FAIRNESS_METRICS))
    page.page.goto(f"{server}/#/models")
    page.page.get_by_text(name, exact=True).first.wait_for(timeout=90_000)
    page.page.get_by_text(label.split()[0], exact=False).first.wait_for(timeout=30_000)
    dialog = page.page.get_by_role("dialog")  # a first visit opens a "new Model Registry UI" announcement
    try:
        dialog.first.wait_for(timeout=5_000)
        dialog.get_by_role("button", name="Close").first.click()
        dialog.first.wait_for(state="hidden", timeout=10_000)
    except PlaywrightTimeout:  # no announcement this time
        pass
    page.screenshot("mlflow_registry_verdict.png")
    for text in (f"verdict: {label.split()[0]}", "network-fails-audit"):  # unclipped, on the first screen
        assert page.page.evaluate(VISIBLE_TEXT, text), text
    assert not [e for e in page.errors if "pageerror" in e]


def test_artifacts_hold_png_figures(server, logged_run, page):
    root, summary = logged_run
    run_id = summary["run_id"]
    page.page.goto(f"{server}/#/experiments/{_experiment_id(root, run_id)}/runs/{run_id}/artifacts/figures/roc.png")
    page.page.get_by_text("figures/roc.png").first.wait_for(timeout=90_000)
    image = page.page.locator("img[src^='blob:']").first  # the viewer shows the PNG from a blob URL
    image.wait_for(timeout=60_000)
    assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    for name in ("calibration.png", "selection_rate_by_sex.png", "importance.png"):
        assert page.page.get_by_text(name, exact=True).count() >= 1  # listed in the artifact tree
    page.screenshot("mlflow_figure.png")
    assert not [e for e in page.errors if "pageerror" in e]


def _run_name(root: Path, run_id: str) -> str:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_run(run_id).info.run_name


def test_report_artifact_opens_in_the_viewer(server, logged_run, page):
    root, summary = logged_run
    run_id = summary["run_id"]
    page.page.goto(
        f"{server}/#/experiments/{_experiment_id(root, run_id)}/runs/{run_id}/artifacts/report/audit_report.html"
    )
    deadline = time.monotonic() + 90
    shown = False
    while time.monotonic() < deadline and not shown:
        for frame in page.page.frames[1:]:
            try:
                shown = "Reproducibility manifest" in frame.inner_text("body", timeout=1000)
            except Exception:  # frame still loading or detached
                continue
            if shown:
                break
        page.page.wait_for_timeout(500)
    page.screenshot("mlflow_report_artifact.png")
    assert shown, "the report's text did not appear in the MLflow artifact viewer"
    assert not [e for e in page.errors if "pageerror" in e]
