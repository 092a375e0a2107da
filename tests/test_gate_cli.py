"""The gate and the registry act on recomputed verdicts, end to end (issue 23, items 2 and 4).

A tiny real run (prepare, train, evaluate, fairness on bundled Adult rows); then, as a user or an
attacker would: statuses flipped to "pass" in fairness.json, and verdicts computed under a looser
policy with params.yaml restored afterwards. ``python -m pipeline gate`` and ``log`` must exit 4
naming the check or setting, and no alias may move. An exemption written in params.yaml must reach
the headline, the report and the MLflow run.
"""

from __future__ import annotations

import pytest
import yaml

from pipeline import errors, io, paths
from tests._report_support import run_stages
from tests.reliability_helpers import run_stage


@pytest.fixture(scope="module")
def upstream(module_project):
    from pipeline import config

    run_stages(config.load(module_project / "params.yaml"), ("prepare", "train", "evaluate", "fairness"))
    return module_project


def _registered(root) -> list:
    from mlflow import MlflowClient

    if not (root / "mlflow.db").exists():
        return []
    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").search_registered_models()


def test_flipped_statuses_are_refused_by_gate_and_log(upstream):
    path = upstream / paths.FAIRNESS_METRICS
    original = path.read_bytes()
    fairness = io.read_json(path)
    flipped = [v["check"] for v in fairness["verdicts"] if v["gating"] and v["status"] != "pass"]
    assert flipped, "the tiny run should have gating checks that do not pass"
    for v in fairness["verdicts"]:
        v["status"] = "pass"
    io.write_json(path, fairness)
    try:
        done = run_stage("gate", upstream)
        assert done.returncode == errors.EXIT_INTEGRITY, done.stderr
        assert all(f"{check}: fairness.json says 'pass', its own evidence gives" in done.stderr for check in flipped)
        done = run_stage("log", upstream)
        assert done.returncode == errors.EXIT_INTEGRITY, done.stderr[-2000:]
        assert flipped[0] in done.stderr
        assert _registered(upstream) == []  # no version, so no alias
    finally:
        path.write_bytes(original)
    assert run_stage("gate", upstream).returncode == errors.EXIT_AUDIT_FAILED  # the real verdict again


def test_verdicts_from_a_looser_policy_are_refused(upstream):
    params_path = upstream / "params.yaml"
    original, fairness = params_path.read_text(), (upstream / paths.FAIRNESS_METRICS).read_bytes()
    lax = yaml.safe_load(original)
    lax["audit"]["policy"]["criteria"] = {"selection_rate_ratio": [0.1, 10.0]}
    try:
        assert run_stage("fairness", upstream, params=lax).returncode == 0
        params_path.write_text(original)  # the user restores params.yaml, keeping the lax verdicts
        done = run_stage("gate", upstream)
        assert done.returncode == errors.EXIT_INTEGRITY, done.stderr
        assert "policy 'criteria': the verdicts were computed under" in done.stderr
        assert "equal_opportunity: gates under params.yaml but is not a gating check in fairness.json" in done.stderr
    finally:
        params_path.write_text(original)
        (upstream / paths.FAIRNESS_METRICS).write_bytes(fairness)


def test_exemption_reaches_the_headline_report_and_run(upstream):
    from mlflow import MlflowClient

    fairness = io.read_json(upstream / paths.FAIRNESS_METRICS)
    open_ = [
        (v["feature"], c["group"])
        for v in fairness["verdicts"]
        if v["gating"]
        for c in v["comparisons"]
        if c["status"] in ("inconclusive", "not_assessable")
    ]
    assert open_, "the tiny run should have an open gating comparison to exempt"
    attribute, group = open_[0]
    params = yaml.safe_load((upstream / "params.yaml").read_text())
    params["audit"]["policy"]["exempt"] = [{"attribute": attribute, "group": group, "reason": "accepted in ticket 7"}]
    for stage in ("fairness", "report"):
        done = run_stage(stage, upstream, params=params)
        assert done.returncode == 0, done.stderr[-2000:]
    import html as html_lib

    exempted = io.read_json(upstream / paths.FAIRNESS_METRICS)
    assert any(e["group"] == group for v in exempted["verdicts"] for e in v.get("exempt") or [])
    html = html_lib.unescape((upstream / paths.REPORT_HTML).read_text())
    assert "EXEMPTED by audit.policy.exempt" in html and "accepted in ticket 7" in html and f"'{group}'" in html
    assert "accepted in ticket 7" in (upstream / paths.MODEL_CARD).read_text()
    done = run_stage("log", upstream)
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = io.read_json(upstream / paths.MLFLOW_RUN)["run_id"]
    run = MlflowClient(tracking_uri=f"sqlite:///{upstream / 'mlflow.db'}").get_run(run_id)
    assert "accepted in ticket 7" in run.data.tags["audit_exemptions"]
    assert "EXEMPTED by audit.policy.exempt" in run.data.tags["mlflow.note.content"]
