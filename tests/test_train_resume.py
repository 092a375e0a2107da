"""Training: byte-identical metrics, resume after SIGKILL, refused checkpoints, early stopping, DDP."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pipeline import io, paths
from pipeline.errors import IntegrityError
from tests.conftest import REPO


def _set_train(project, **values):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    from pipeline import config

    return config.load(project / "params.yaml")


@pytest.fixture
def prepared(project):
    from pipeline.stages import prepare

    cfg = _set_train(project)
    prepare.main(cfg)
    return project


def test_two_runs_give_identical_metrics_files(prepared):
    from pipeline.stages import train

    cfg = _set_train(prepared, epochs=2)
    train.main(cfg)
    first = (paths.TRAIN_METRICS.read_bytes(), paths.TRAIN_CURVES.read_bytes(), paths.MODEL_WEIGHTS.read_bytes())
    paths.LAST_CHECKPOINT.unlink()
    train.main(cfg)
    assert (paths.TRAIN_METRICS.read_bytes(), paths.TRAIN_CURVES.read_bytes(), paths.MODEL_WEIGHTS.read_bytes()) == first
    cost = io.read_json(paths.TRAIN_COST)
    assert cost["wall_time_s"] > 0 and cost["peak_rss_mib"] > 0 and cost["device_name"]
    assert "energy_kwh" in cost or cost["energy"] == "unavailable"


def test_checkpoint_from_other_params_is_refused(prepared):
    from pipeline.stages import train

    train.main(_set_train(prepared, epochs=1))
    with pytest.raises(IntegrityError, match="different train params or data"):
        train.main(_set_train(prepared, epochs=1, lr=0.01, resume=True))


@pytest.mark.parametrize("payload", [b"", b"PK\x03\x04truncated", b"cos\nsystem\n(S'echo owned'\ntR."])
def test_corrupt_truncated_or_pickled_checkpoint_is_refused(prepared, payload):
    from pipeline.stages import train

    paths.LAST_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    paths.LAST_CHECKPOINT.write_bytes(payload)
    with pytest.raises(IntegrityError, match="weights-only checkpoint"):
        train.main(_set_train(prepared, epochs=1, resume=True))


def test_early_stopping_restores_best_weights(prepared):
    from pipeline.stages import train

    train.main(_set_train(prepared, epochs=30, patience=1, lr=0.05))
    metrics = io.read_json(paths.TRAIN_METRICS)
    assert metrics["stopped_early"] and metrics["epochs_run"] < 30
    import pandas as pd

    losses = pd.read_csv(paths.TRAIN_CURVES)["val_loss"].tolist()
    assert metrics["best_val_loss"] == pytest.approx(min(losses), rel=1e-5)


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_completes(prepared):
    _set_train(prepared, epochs=25, batch_size=8, resume=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "train"], cwd=prepared, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 300
    while not paths.LAST_CHECKPOINT.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from pipeline.training import checkpoint

    import torch

    done_at_kill = torch.load(paths.LAST_CHECKPOINT, weights_only=True)["epochs_done"]
    assert 1 <= done_at_kill < 25, "the kill must land mid-run"
    assert not paths.TRAIN_METRICS.exists()  # nothing half-written
    rerun = subprocess.run([sys.executable, "-m", "pipeline", "train"], cwd=prepared, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    metrics = io.read_json(paths.TRAIN_METRICS)
    assert metrics["resumed_from_epoch"] == done_at_kill
    assert metrics["epochs_run"] == 25 and metrics["final"]["epoch"] == 24
    assert checkpoint.FORMAT == 1


@pytest.mark.slow
def test_two_process_ddp_on_cpu(prepared):
    """Real 2-process DDP (gloo) through the stage command, as a user would run it; a subprocess
    because Lightning relaunches the command for rank 1 (under pytest it would relaunch pytest)."""
    _set_train(prepared, epochs=1, accelerator="cpu", devices=2, strategy="ddp")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "train"], cwd=prepared, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world_size: 2" in done.stderr or "distributed_backend=gloo" in done.stderr + done.stdout
    metrics = io.read_json(paths.TRAIN_METRICS)
    assert metrics["epochs_run"] == 1
    assert 0 < metrics["final"]["train_loss"] < 10 and 0 <= metrics["final"]["val_accuracy"] <= 1
    assert paths.MODEL_WEIGHTS.is_file()
