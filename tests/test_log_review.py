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
    note = run.data.tags["mlflow.note.content"]
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    from pipeline.report import findings

    assert findings.verdict(fairness).headline in note and "Gating criteria" in note
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
    assert f"#/experiments/{summary['experiment_id']}/runs?workflowType=machine_learning" in printed
