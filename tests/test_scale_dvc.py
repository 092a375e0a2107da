"""``dvc repro`` with ``engine.kind: ray`` to the report, on a small file (issue 28, Done-when 2).

Real DVC, real local Ray clusters (one per Ray stage, 2 CPUs), inside a private network namespace
with only loopback up where the machine allows it (Ray binds every interface otherwise), under a
timeout. prepare and train run on Ray, evaluate and fairness score every test row of the shards in
a Ray actor and merge count tables; mitigate builds its candidates on the split files (the
hash-chosen sample, here larger than the file) and audits each on every test row of the shards in a
Ray actor; explain and privacy read the split files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

from pipeline import paths  # noqa: E402
from tests.conftest import copy_repo, run_dvc, tiny_params  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.scale]


def private_network() -> list[str]:
    """``unshare -n`` with loopback up, when this machine lets the test make one; else nothing."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True)
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] if probe.returncode == 0 else []


@pytest.mark.timeout(900)
def test_dvc_repro_with_the_ray_engine_reaches_the_report(tmp_path):
    params = tiny_params({"data": {"max_rows": 3000}, "engine": {"kind": "ray", "block_rows": 1000, "num_cpus": 2}})
    repo = copy_repo(tmp_path / "repo", params)
    wrapper = private_network()
    if wrapper:
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        command = [*wrapper, str(bin_dir / "dvc"), "repro"]
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=840)
    else:
        done = run_dvc(["repro"], repo)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "engine ray" in done.stdout and "Ray Train" in done.stdout
    assert "evaluate: engine ray" in done.stdout and "fairness: engine ray" in done.stdout
    shards = json.loads((repo / paths.SHARDS_MANIFEST).read_text())
    assert sum(shards["rows"].values()) == 3000
    evaluation = json.loads((repo / paths.EVALUATE_METRICS).read_text())
    assert evaluation["n_test"] == sum(map(sum, evaluation["confusion_matrix"])) == shards["rows"]["test"]
    fairness = json.loads((repo / paths.FAIRNESS_METRICS).read_text())
    assert fairness["verdicts"]
    for view in ("sex", "race"):  # every test row of the shards is counted once in each view
        cells = [g["cells"] for g in fairness["features"][view]["groups"].values()]
        assert sum(sum(c.values()) for c in cells) == shards["rows"]["test"]
    mitigation = json.loads((repo / paths.MITIGATION_METRICS).read_text())
    assert "mitigate: engine ray" in done.stdout
    assert mitigation["audited_on"]["test_rows"] == shards["rows"]["test"]
    deployable = {name: row for name, row in mitigation["candidates"].items() if row["deployable"]}
    assert len(deployable) >= 2  # the network and at least one mitigated candidate
    for name, row in deployable.items():  # each candidate counted every test row of the shards once per view
        for view in ("sex", "race"):
            cells = [g["cells"] for g in row["audit"]["features"][view]["groups"].values()]
            assert sum(sum(c.values()) for c in cells) == shards["rows"]["test"], (name, view)
        assert (repo / row["folder"] / "candidate.json").is_file()
    assert not (repo / "models" / "candidates.tmp").exists()  # the staged set was published whole
    assert "audited on every test row of the shards" in (repo / paths.REPORT_HTML).read_text()
    explained = json.loads((repo / paths.EXPLAIN_METRICS).read_text())
    assert "explain: engine ray" in done.stdout
    assert explained["n_rows"] == explained["scale"]["rows"] == shards["rows"]["test"]
    groups = explained["by_group"]["by_sensitive"]["sex"]["groups"].values()
    assert sum(g["count"] for g in groups) == shards["rows"]["test"]  # every test row explained once
    assert "Every test row (" in (repo / paths.REPORT_HTML).read_text()  # the explain section says so
    for path in (paths.REPORT_HTML, paths.MODEL_CARD, paths.MODEL_WEIGHTS):
        assert (repo / path).stat().st_size > 0
    assert "Engine: ray" in (repo / paths.MODEL_CARD).read_text()  # the reader learns what covered every row
    assert json.loads((repo / paths.EVALUATE_METRICS).read_text())["accuracy"] > 0.6
    assert "up to date" in run_dvc(["status"], repo).stdout
