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
from tests._browser import browser, page  # noqa: F401 - fixtures
from tests._report_support import run_stages

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
