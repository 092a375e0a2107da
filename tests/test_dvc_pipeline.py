"""The real ``dvc repro`` in a fresh copy of the project with a tiny config."""

import json

import pytest
import yaml

from pipeline import paths
from tests.conftest import REPO, copy_repo, run_dvc, tiny_params


def test_dvc_yaml_declares_every_artifact_path():
    """paths.py is the one table of artifact paths; dvc.yaml must agree with it."""
    declared = set()
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for stage in spec["stages"].values():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key, []):
                declared.add(next(iter(item)) if isinstance(item, dict) else item)
    expected = [
        paths.MODEL_WEIGHTS,
        paths.MODEL_SPEC,
        paths.PREDICTIONS,
        paths.REPORT_HTML,
        paths.MODEL_CARD,
        paths.EVALUATE_METRICS,
        paths.FAIRNESS_METRICS,
        paths.EXPLAIN_METRICS,
        paths.TRAIN_METRICS,
        paths.DATA_METRICS,
        paths.ROC_CURVE,
        paths.CALIBRATION_CURVE,
        paths.CONFUSION,
        paths.TRAIN_CURVES,
        paths.GROUP_RATES,
        paths.PREPARED_DIR,
        paths.MITIGATION_METRICS,
        paths.CANDIDATES_DIR,
        paths.CANDIDATE_DECISIONS,
    ]
    missing = [str(p) for p in expected if str(p) not in declared]
    assert not missing, f"not declared in dvc.yaml: {missing}"
    # A tracking server's run id and a fit's wall times differ on every machine: recorded in
    # dvc.lock they would make every clone's `make run` leave `git status` dirty.
    varying = {str(paths.MLFLOW_RUN), str(paths.TRAIN_COST)}
    assert not varying & declared, f"machine-specific files declared as outputs: {varying & declared}"
    log_deps = {str(d) for d in spec["stages"]["log"]["deps"]}
    assert str(paths.TRAIN_COST) not in log_deps


@pytest.mark.slow
def test_dvc_repro_end_to_end_then_noop(tmp_path):
    repo = copy_repo(tmp_path / "repo", tiny_params())
    first = run_dvc(["repro"], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    for path in (paths.REPORT_HTML, paths.MODEL_CARD, paths.MLFLOW_RUN):
        assert (repo / path).stat().st_size > 0
    for metrics_file in (repo / paths.METRICS_DIR).glob("*.json"):
        json.loads(metrics_file.read_text())
    assert json.loads((repo / paths.EVALUATE_METRICS).read_text())["accuracy"] > 0.6

    # Byte code another interpreter writes into a code folder is not a changed dependency.
    for package in ("data", "training", "stats", "audit", "report"):
        stray = repo / "pipeline" / package / "__pycache__" / "stray.cpython-399.pyc"
        stray.parent.mkdir(exist_ok=True)
        stray.write_bytes(b"not the code")
    status = run_dvc(["status"], repo)
    assert "up to date" in status.stdout, status.stdout
    second = run_dvc(["repro"], repo)
    assert second.returncode == 0 and "didn't change" in second.stdout + second.stderr

    shown = run_dvc(["metrics", "show", "--json"], repo)
    assert shown.returncode == 0 and '"accuracy"' in shown.stdout

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ethics-audit")
    assert len(client.search_runs([experiment.experiment_id])) == 1  # the no-op added no run

    # A second fit (new wall times) and a second log (a new run) leave dvc.lock byte-identical,
    # so `make run` in a fresh clone leaves `git status` clean.
    lock = (repo / "dvc.lock").read_bytes()
    for args in (
        ["repro", "--force", "--single-item", "train"],
        ["repro"],
        ["repro", "--force", "--single-item", "log"],
    ):
        again = run_dvc(args, repo)
        assert again.returncode == 0, again.stdout + again.stderr
    assert (repo / "dvc.lock").read_bytes() == lock
