"""The real ``dvc`` on fresh copies of the project: the repo lock, determinism, and the parallel queue.

One tiny ``dvc repro`` (repo A) is shared: a second ``dvc repro`` is started while it runs, a second
copy (repo B) is reproduced to compare outputs byte for byte, and two queued experiments run on A.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline import paths
from tests.conftest import copy_repo, run_dvc, tiny_params

#: Fixed commit dates so both copies get the same git SHA (the report and model card print it).
GIT_DATES = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
TINY_DVC = {"data": {"max_rows": 400}, "audit": {"n_boot": 20}, "explain": {"n_steps": 4}}

#: Files allowed to differ between two clean runs, and why; everything else must be byte-identical.
NOT_DETERMINISTIC = {
    "reports/metrics/train.json": (
        "its cost block holds wall-clock time and throughput (the training helper moves them out)"
    ),
    "reports/audit_report.html": "renders those timings and the dvc.lock hash of train.json",
    "reports/model_card.md": "renders those timings and the dvc.lock hash of train.json",
}
#: Lines or JSON keys holding measured time; masked before the excluded files are still compared.
TIMING_MARKERS = ("wall_time", "samples_per_s", "duration_s", "energy_kwh", "emissions", "reports/metrics/train.json")


def _without_timing(value):
    """A JSON value with every timing key removed (so the rest of train.json must still agree)."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if not any(m in k for m in TIMING_MARKERS)}
    return value


def _masked_lines(path: Path) -> list[str]:
    """Lines without any timing marker (Markdown escapes ``_`` as ``\\_``, so unescape before matching)."""
    lines = path.read_text().splitlines()
    return [line for line in lines if not any(m in line.replace("\\_", "_") for m in TIMING_MARKERS)]


def _repro_copy(root: Path, monkeypatch) -> Path:
    for key, value in GIT_DATES.items():
        monkeypatch.setenv(key, value)
    return copy_repo(root, tiny_params(TINY_DVC))


@pytest.fixture(scope="module")
def repo_a(tmp_path_factory):
    """Repo A reproduced once, with a second ``dvc repro`` attempted while the first holds the lock."""
    mp = pytest.MonkeyPatch()
    repo = _repro_copy(tmp_path_factory.mktemp("a") / "repo", mp)
    repo_b = _repro_copy(tmp_path_factory.mktemp("b") / "repo", mp)  # same snapshot, reproduced later
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"PATH": f"{bin_dir}:{env['PATH']}", "DVC_NO_ANALYTICS": "1"})
    first = subprocess.Popen(
        [str(bin_dir / "dvc"), "repro"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    while not (repo / paths.PREPARED_META).exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    second = run_dvc(["repro"], repo)
    first_out, _ = first.communicate(timeout=900)
    mp.undo()
    yield {"repo": repo, "repo_b": repo_b, "first_rc": first.returncode, "first_out": first_out, "second": second}


@pytest.mark.slow
def test_second_repro_while_one_runs_fails_with_the_lock_message_and_harms_nothing(repo_a):
    second = repo_a["second"]
    assert second.returncode != 0
    assert "is busy, it is being blocked by" in second.stdout + second.stderr, second.stdout + second.stderr
    assert repo_a["first_rc"] == 0, repo_a["first_out"][-3000:]
    status = run_dvc(["status"], repo_a["repo"])
    assert "up to date" in status.stdout, status.stdout


@pytest.mark.slow
def test_two_clean_runs_give_byte_identical_metrics_and_report(repo_a):
    """Two fresh copies, same params and data: metrics, plots, predictions and weights byte-identical;
    the report and model card identical once measured timings are masked."""
    repo, repo_b = repo_a["repo"], repo_a["repo_b"]
    done = run_dvc(["repro"], repo_b)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    compared = [paths.PREDICTIONS, paths.MODEL_WEIGHTS, paths.MODEL_SPEC]
    compared += sorted(p.relative_to(repo_b) for p in (repo_b / paths.METRICS_DIR).glob("*.json"))
    compared += sorted(p.relative_to(repo_b) for p in (repo_b / paths.PLOTS_DIR).glob("*.csv"))
    exact = [rel for rel in compared if str(rel) not in NOT_DETERMINISTIC]
    differ = [str(rel) for rel in exact if (repo / rel).read_bytes() != (repo_b / rel).read_bytes()]
    assert not differ, f"differ between two clean runs: {differ}"
    assert len(exact) >= 10, exact
    train_a, train_b = (json.loads((r / paths.TRAIN_METRICS).read_text()) for r in (repo, repo_b))
    assert _without_timing(train_a) == _without_timing(train_b)
    for rel in (paths.REPORT_HTML, paths.MODEL_CARD):
        assert _masked_lines(repo / rel) == _masked_lines(repo_b / rel), f"{rel} differs beyond timings"


@pytest.mark.slow
def test_parallel_queue_of_two_experiments_logs_two_complete_runs(repo_a):
    """``dvc exp run --queue`` twice, ``dvc queue start -j 2``: both succeed and log FINISHED runs into one store."""
    repo = repo_a["repo"]
    for lr in ("0.002", "0.003"):
        queued = run_dvc(["exp", "run", "--queue", "-S", f"train.lr={lr}"], repo)
        assert queued.returncode == 0, queued.stdout + queued.stderr
    started = run_dvc(["queue", "start", "-j", "2"], repo)
    assert started.returncode == 0, started.stdout + started.stderr
    deadline, status = time.monotonic() + 900, ""
    while time.monotonic() < deadline:
        status = run_dvc(["queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    run_dvc(["queue", "stop"], repo)
    assert status.count("Success") == 2, status + "\n" + run_dvc(["queue", "logs", "--help"], repo).stdout[:0]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ethics-audit").experiment_id])
    lrs = sorted(float(r.data.params.get("train.lr")) for r in runs)
    base = float(yaml.safe_load((repo / "params.yaml").read_text())["train"]["lr"])  # the workspace's own run
    assert lrs == sorted([base, 0.002, 0.003]), lrs
    assert {r.info.status for r in runs} == {"FINISHED"}
