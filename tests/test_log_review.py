"""What a reviewer meets in MLflow (issue 17), on a real SQLite store after the real log stage: the
experiment opens on its runs, the run's description holds the verdict and plain findings, headline
metrics only, full detail and PNG figures as artifacts, readable class labels, a described version;
and the stage's last printed lines are the verdict and the report's path."""

from __future__ import annotations

import pytest

from pipeline import io, paths
from pipeline.stages import log
from tests._report_support import run_stages


@pytest.fixture(scope="module")
def logged(module_project):
    import contextlib
    import io as _io

    from pipeline import config
    from pipeline.stages import report

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg, ("prepare", "train", "evaluate", "fairness", "explain", "privacy"))
    report.main(cfg)
    out = _io.StringIO()
    with contextlib.redirect_stdout(out):
        log.main(cfg)
    return cfg, io.read_json(paths.MLFLOW_RUN), out.getvalue()


def test_class_labels_stay_readable_and_distinct_in_metric_names():
    assert log._metric_key("data/class_counts/>50K") == "data/class_counts/gt 50K"
    assert log._metric_key("data/class_counts/<=50K") == "data/class_counts/le 50K"
    assert log._metric_key("fairness/sex x race/Female & White") == "fairness/sex x race/Female and White"


def test_run_has_description_headline_metrics_figures_and_detail(logged):
    from mlflow import MlflowClient

    cfg, summary, _ = logged
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    import json

    view = json.loads(experiment.tags["mlflow.sharedViewState.audit-verdicts"])  # the runs-table view the link opens
    assert view["name"] == "Audit verdicts" and isinstance(view["createdAt"], int)
    state = json.loads(view["state"])
    assert state["columnOrder"][:2] == ["attributes.`Run Name`", "tags.`audit_summary`"]
    assert set(state["selectedColumns"]) <= set(state["columnOrder"])
    note = run.data.tags["mlflow.note.content"]
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    from pipeline.report import findings

    assert findings.verdict(fairness).headline in note and "Gating criteria" in note
    assert run.info.run_name == f"{io.read_json(paths.PREPARED_META)['source']} · {findings.verdict_label(fairness)}"
    assert run.data.tags["audit_summary"] == findings.verdict_label(fairness)
    assert "1. " in note and "3. " in note and "audit_report.html" in note
    metrics = run.data.metrics
    assert len(metrics) <= log.MAX_METRICS
    assert metrics["evaluate/accuracy"] == pytest.approx(io.read_json(paths.EVALUATE_METRICS)["accuracy"])
    assert "privacy/mia_auc" in metrics
    assert {f"audit/checks_{k}" for k in ("fail", "not_assessable", "inconclusive", "pass")} <= set(metrics)
    for v in [v for v in findings.gating(fairness) if v.get("value") is not None]:  # undefined values are not logged
        key = f"fairness/{v['feature']}/{v['metric']}"
        assert metrics[key] == pytest.approx(v["value"])
    assert not any("_50K" in k for k in metrics)
    files = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {
        "figures/roc.png",
        "figures/calibration.png",
        "figures/selection_rate_by_sex.png",
        "figures/importance.png",
    } <= files
    detail = {a.path for a in client.list_artifacts(run.info.run_id, "detail")}
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "detail/all_metrics.json" in detail and "tables/fairness_groups.json" in tables
    tags = run.data.tags
    assert tags["audit_verdict"] in ("pass", "fail", "inconclusive") and all(
        len(v) < 300 for v in tags.values() if v != note
    )
    version = client.get_model_version(cfg.tracking.model_name, str(summary["registry"]["version"]))
    assert findings.verdict(fairness).headline in version.description
    assert version.tags["audit_verdict"] == tags["audit_verdict"]


def test_console_ends_with_the_verdict_and_the_report(logged):
    _, summary, printed = logged
    from pipeline.report import findings

    last = printed.strip().splitlines()[-12:]
    assert findings.verdict(io.read_json(paths.FAIRNESS_METRICS)).headline in last
    assert any(str(paths.REPORT_HTML) in line for line in last)
    assert summary["run_id"] in printed.strip().splitlines()[-2]
    assert f"#/experiments/{summary['experiment_id']}/runs?viewStateShareKey=audit-verdicts" in printed


def test_run_and_version_descriptions_name_the_reports_interval_method_and_level(logged):
    """One source: the interval sentence (method, level, family) of the run description and of the
    registered version's description is the report's own, and names the level fairness.json records."""
    import html
    import re

    from mlflow import MlflowClient

    from pipeline.report import policy_text

    cfg, summary, printed = logged
    client = MlflowClient()
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    sentence = policy_text.rule_sentence(fairness)
    level = fairness["policy"]["gating_ci_level"]
    assert any(f"level {f}" in sentence for f in (f"{level:.4g}", f"{level:.3f}")), sentence
    report_text = html.unescape(re.sub(r"<[^>]+>", "", paths.REPORT_HTML.read_text()))
    note = client.get_run(summary["run_id"]).data.tags["mlflow.note.content"]
    version = client.get_model_version(cfg.tracking.model_name, str(summary["registry"]["version"]))
    for text in (report_text, note, version.description):
        assert sentence in text and policy_text.criteria_sentence(fairness) in version.description + note
    assert "bootstrap" not in note.split("**Findings:**")[0]  # the gating intervals are closed-form
