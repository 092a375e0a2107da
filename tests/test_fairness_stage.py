"""The fairness stage on a few hundred real Adult rows: outputs and the CI gate after the
evidence (the stage never fails on a violation; ``python -m pipeline gate`` exits 5)."""

import os
import subprocess
import sys

import yaml

from pipeline import io, paths
from tests.conftest import REPO


def _run_upstream(project):
    from pipeline import config
    from pipeline.stages import evaluate, prepare, train

    cfg = config.load(project / "params.yaml")
    for stage in (prepare, train, evaluate):
        stage.main(cfg)


def test_failing_policy_completes_the_stage_and_the_gate_exits_5(project):
    _run_upstream(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["audit"].update({"n_boot": 20, "policy": {"criteria": {"demographic_parity": 0.0001}, "family": "none"}})
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "fairness"], cwd=project, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    result = io.read_json(project / paths.FAIRNESS_METRICS)
    assert {"sex", "race", "sex x race"} <= set(result["features"])
    from tests.test_fairness_policy import assert_intervals_contain_estimates

    assert assert_intervals_contain_estimates(result) > 50
    gating = [v for v in result["verdicts"] if v["gating"]]
    assert {v["check"] for v in gating} == {"sex: demographic_parity", "race: demographic_parity"}
    assert (project / paths.GROUP_RATES).is_file()
    assert "mitigation" not in result  # its own stage now (tests/test_mitigate_stage.py)
    gate = subprocess.run(
        [sys.executable, "-m", "pipeline", "gate"], cwd=project, capture_output=True, text=True, env=env
    )
    assert gate.returncode == 5, gate.stderr
    assert "the audit policy does not pass" in gate.stderr and "sex: demographic_parity" in gate.stderr


def test_removed_fail_on_violation_says_what_replaces_it(tmp_path):
    from pipeline import config
    from pipeline.errors import ConfigError

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["audit"]["fail_on_violation"] = True
    try:
        config.from_dict(raw)
    except ConfigError as err:
        assert "python -m pipeline gate" in str(err)
    else:
        raise AssertionError("audit.fail_on_violation was accepted")
