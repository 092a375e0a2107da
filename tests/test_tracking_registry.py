"""The MLflow review on a real SQLite store: grouped metric names, datasets with file digests, a
loadable pt2 model with signature, one run per pipeline state, and the registry gate both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline import io, paths
from tests._report_support import run_stages, with_audit


@pytest.fixture(scope="module")
def cfg(module_project):
    from pipeline import config

    cfg = config.load(module_project / "params.yaml")
    run_stages(cfg, ("prepare", "train", "evaluate", "fairness"))
    return cfg


def _log(cfg) -> dict:
    from pipeline.stages import log, report

    report.main(cfg)
    log.main(cfg)
    return io.read_json(paths.MLFLOW_RUN)


def test_passing_audit_moves_alias_failing_one_does_not_and_weights_register_once(cfg):
    """Hand-worked registry policy: pass -> v1 with the alias; new weights failing -> v2, the alias stays
    on v1; the same weights under a new (failing) state -> still v2, no third version; every version's
    description opens with its verdict and no two versions hold the same decision fingerprint."""
    from mlflow import MlflowClient

    from pipeline import config
    from pipeline.stages import train

    name = cfg.tracking.model_name
    with_audit("pass")
    first = _log(cfg)
    client = MlflowClient()
    assert first["registry"] == {"name": name, "version": 1, "alias": "audited"}
    assert int(client.get_model_version_by_alias(name, "audited").version) == 1
    assert client.get_run(first["run_id"]).data.tags["audit_passed"] == "true"
    assert client.get_model_version(name, "1").description.splitlines()[0].startswith("AUDIT PASSED")

    original = Path("params.yaml").read_text()
    params = yaml.safe_load(original)
    params["train"]["epochs"] += 1  # other weights, recorded in params.yaml as the stages require
    Path("params.yaml").write_text(yaml.safe_dump(params))
    try:
        longer = config.load("params.yaml")
        train.main(longer)
        failing = with_audit("fail")
        second = _log(longer)
        _second_and_third(client, name, longer, first, second, failing)
    finally:  # the module's other tests run on the original settings and weights
        Path("params.yaml").write_text(original)
        train.main(cfg)


def _second_and_third(client, name, cfg, first, second, failing) -> None:
    from pipeline.mitigation import registry as log_registry
    from pipeline.report import findings

    assert second["run_id"] != first["run_id"]  # a new pipeline state is a new run
    assert second["registry"] == {"name": name, "version": 2, "alias": None}
    assert int(client.get_model_version_by_alias(name, "audited").version) == 1  # alias stays on the audited version
    tags = client.get_model_version(name, "2").tags
    label = findings.verdict_label(failing)
    assert label.startswith("FAIL ")
    assert tags["audit_passed"] == "false" and tags["audit_summary"] == label
    failed = [v["check"] for v in failing["verdicts"] if v["gating"] and v["status"] != "pass"]
    assert failed and tags["audit_failed_checks"] == ", ".join(failed)
    assert client.get_model_version(name, "2").description.splitlines()[0].startswith("AUDIT FAILED")
    run = client.get_run(second["run_id"])
    assert run.data.metrics["audit/passed"] == 0.0 and run.data.metrics["audit/checks_fail"] == len(failed)
    source = io.read_json(paths.PREPARED_META)["source"]
    assert run.info.run_name == f"{source} · {label}"
    assert run.data.tags["audit_summary"] == label

    again = with_audit("fail", variant=1)
    third = _log(cfg)  # same weights, new state: the version is reused and its description updated
    assert third["run_id"] != second["run_id"] and third["registry"]["version"] == 2
    assert third["registry_reused_version"] is True
    versions = client.search_model_versions(f"name = '{name}'")
    assert len(versions) == 2
    prints = [v.tags[log_registry.FINGERPRINT_TAG] for v in versions]
    assert len(set(prints)) == len(prints)
    assert client.get_model_version(name, "2").tags["audit_summary"] == findings.verdict_label(again)
    registered = client.get_registered_model(name)
    assert registered.tags["verdict"] == f"{findings.verdict_label(again)} (network v2)"
    assert int(registered.aliases["network-fails-audit"]) == 2


def test_review_contents_of_a_run(cfg):
    import mlflow
    import numpy as np
    import torch
    from mlflow import MlflowClient

    summary = _log(cfg)
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    metrics = run.data.metrics
    gating = [v for v in io.read_json(paths.FAIRNESS_METRICS)["verdicts"] if v["gating"]]
    assert gating and all(f"fairness/{v['feature']}/{v['metric']}" in metrics for v in gating)  # <area>/<feature>/...
    assert not any(k.startswith("fairness/features/") for k in metrics)
    assert metrics["evaluate/accuracy"] == pytest.approx(io.read_json(paths.EVALUATE_METRICS)["accuracy"])
    assert run.data.tags["pipeline_state"] == summary["pipeline_state"]
    assert run.data.tags["report_sha256"] == io.sha256_file(paths.REPORT_HTML)
    assert summary["pipeline_state"] in paths.REPORT_HTML.read_text()  # the report names the run's tag
    digests = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert digests["adult-train"] == io.sha256_file(paths.split_arrays("train"))[:32]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/audit_report.html", "report/model_card.md"} <= artifacts
    info = mlflow.models.get_model_info(summary["model_uri"])
    assert info.signature is not None and info.saved_input_example_info is not None
    linked = {m.key: m.value for m in client.get_logged_model(info.model_id).metrics}
    assert linked["evaluate/accuracy"] == metrics["evaluate/accuracy"]  # the model page shows the audit figures
    model = mlflow.pytorch.load_model(summary["model_uri"])
    x = io.read_npz(paths.split_arrays("test"))["X"][:7]
    from pipeline.models.predict import load_trained

    with torch.no_grad():
        np.testing.assert_allclose(
            model(torch.from_numpy(x)).numpy(), load_trained()(torch.from_numpy(x)).numpy(), rtol=1e-5
        )


def test_unchanged_state_reuses_the_run(cfg):
    from mlflow import MlflowClient

    first = _log(cfg)
    again = _log(cfg)
    assert again["run_id"] == first["run_id"] and again["reused"]
    client = MlflowClient()
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.pipeline_state = '{first['pipeline_state']}'"
    )
    assert len(runs) == 1


def test_tightened_thresholds_withhold_the_alias(cfg):
    """With the real fairness stage and impossible bounds, at least one check fails and no alias moves."""

    from pipeline import config
    from pipeline.stages import fairness

    tight = config.from_dict(
        {
            **cfg.model_dump(mode="json"),
            "audit": {
                **cfg.model_dump(mode="json")["audit"],
                "max_difference": 1e-9,
                "ratio_bounds": [0.999999, 1.000001],
            },
        }
    )
    fairness.main(tight)
    if "verdicts" not in io.read_json(paths.FAIRNESS_METRICS):
        pytest.skip(
            "the fairness stage does not write verdicts yet (fairness issue); the gate is tested with written "
            "verdicts above"
        )
    from pipeline import tracking

    before = tracking.alias_version(tight.tracking.model_name, "audited")
    summary = _log(tight)
    assert summary["registry"]["alias"] is None
    after = tracking.alias_version(tight.tracking.model_name, "audited")
    assert after != summary["registry"]["version"] and after in (before, None)  # never the failing version


def test_mlflow_pytorch_import_leaves_lightning_out_and_importable():
    """The log stage imports mlflow.pytorch without Lightning (5-7 s), and Lightning still imports after."""
    import subprocess
    import sys

    code = (
        "import sys; from pipeline import tracking; m = tracking.import_mlflow_pytorch(); assert hasattr(m, "
        "'log_model'); assert 'pytorch_lightning' not in sys.modules; import pytorch_lightning; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
