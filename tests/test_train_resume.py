"""Kill the real ``python -m pipeline train`` process, resume it, and compare with a run that was
never interrupted. SIGKILL gives no chance to clean up: what is on disk must be a whole
checkpoint, and a temporary file the kill left behind is removed when training starts again. SIGTERM
is turned into an orderly stop (exit 130) that keeps the last checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_params

from pipeline import io, paths
from pipeline.training import checkpoint

pytestmark = pytest.mark.slow

#: Long enough that a kill right after the first checkpoint lands well before the end.
TRAIN = {"epochs": 40, "batch_size": 8, "resume": True, "accelerator": "cpu", "devices": 1, "num_threads": 1}


@pytest.fixture(scope="module")
def prepared_dir(module_project):
    """A project with prepared data and params for a resumable run."""
    from pipeline import config
    from pipeline.stages import prepare

    params = tiny_params({"train": TRAIN})
    (module_project / "params.yaml").write_text(yaml.safe_dump(params))
    prepare.main(config.load(module_project / "params.yaml"))
    return module_project


def _copy(src: Path, dest: Path, train: dict | None = None) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(src / "data" / "prepared", dest / "data" / "prepared")
    params = yaml.safe_load((src / "params.yaml").read_text())
    params["train"].update(train or {})
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return dest


def _start(cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "train"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(cwd: Path) -> subprocess.CompletedProcess:
    proc = _start(cwd)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _wait_for_checkpoint(proc: subprocess.Popen, path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"training exited ({proc.returncode}) before writing {path}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint at {path} after {timeout}s")
        time.sleep(0.005)


def test_sigkill_then_resume_completes_and_equals_an_uninterrupted_run(prepared_dir, tmp_path):
    killed = _copy(prepared_dir, tmp_path / "killed")
    last = killed / paths.CHECKPOINT_DIR / checkpoint.LAST_NAME
    proc = _start(killed)
    _wait_for_checkpoint(proc, last)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"

    kept = checkpoint.load(last)  # whole, loadable with weights_only=True, despite the kill
    assert not kept["finished"] and 0 <= kept["epoch"] < TRAIN["epochs"] - 1
    # A kill during a write leaves its temporary file (expected); make sure one is there, as a
    # kill mid-write would leave it, so the clean-up below is always exercised.
    (last.parent / f".{last.name}.k1ll3d.tmp").write_bytes(b"half a checkpoint")

    resumed = _run(killed)
    assert [p.name for p in last.parent.iterdir()] == [last.name], "stale temporary files not removed on start"
    assert f"resumed after epoch {kept['epoch']}" in resumed.stdout
    cost = io.read_json(killed / paths.TRAIN_COST)
    assert cost["resumed_after_epoch"] == kept["epoch"]
    assert cost["epochs_this_run"] == TRAIN["epochs"] - 1 - kept["epoch"]
    metrics = io.read_json(killed / paths.TRAIN_METRICS)
    assert metrics["epochs_run"] == TRAIN["epochs"] and metrics["final"]["epoch"] == TRAIN["epochs"] - 1

    whole = _copy(prepared_dir, tmp_path / "whole", {"resume": False})
    _run(whole)
    for rel in (paths.TRAIN_METRICS, paths.TRAIN_CURVES, paths.MODEL_WEIGHTS):
        assert (killed / rel).read_bytes() == (whole / rel).read_bytes(), (
            f"{rel}: resumed run differs from uninterrupted run"
        )


def test_sigterm_stops_with_exit_130_and_keeps_the_last_checkpoint(prepared_dir, tmp_path):
    work = _copy(prepared_dir, tmp_path / "term", {"epochs": 1000})
    last = work / paths.CHECKPOINT_DIR / checkpoint.LAST_NAME
    proc = _start(work)
    _wait_for_checkpoint(proc, last)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "train: interrupted" in err
    kept = checkpoint.load(last)
    assert not kept["finished"] and kept["epoch"] < 999
    assert [p.name for p in last.parent.iterdir()] == [last.name]
    assert not (work / paths.TRAIN_METRICS).exists()  # no outputs from an unfinished training
