"""The fairness stage on a few hundred real Adult rows: outputs and the CI gate."""

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


def test_fail_on_violation_exits_5_after_writing_everything(project):
    _run_upstream(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["audit"].update({"fail_on_violation": True, "max_difference": 0.0001, "ratio_bounds": [0.9999, 1.0001],
                            "n_boot": 20})  # fmt: skip
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "fairness"], cwd=project, capture_output=True, text=True, env=env)
    assert done.returncode == 5, done.stderr
    assert "fairness check(s) failed" in done.stderr and "sex: demographic_parity" in done.stderr
    result = io.read_json(project / paths.FAIRNESS_METRICS)
    assert {"sex", "race", "sex x race"} <= set(result["features"])
    assert any(v["status"] == "fail" for v in result["verdicts"])
    assert (project / paths.GROUP_RATES).is_file()
    assert "mitigation" not in result  # its own stage now (tests/test_mitigate_stage.py)
