"""Training determinism, checkpoint resume after SIGKILL, fingerprint refusal, corrupt checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pipeline import io, paths
from pipeline.errors import IntegrityError


def _set_train(root, **train):
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"].update(train)
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def _cfg(root):
    from pipeline import config

    return config.load(root / "params.yaml")


@pytest.fixture
def prepared(project):
    from pipeline.stages import prepare

    prepare.main(_cfg(project))
    return project


def test_two_runs_give_identical_train_json(prepared):
    from pipeline.stages import train

    train.main(_cfg(prepared))
    first = paths.TRAIN_METRICS.read_bytes()
    first_weights = paths.MODEL_WEIGHTS.read_bytes()
    train.main(_cfg(prepared))
    assert paths.TRAIN_METRICS.read_bytes() == first
    assert paths.MODEL_WEIGHTS.read_bytes() == first_weights
    cost = io.read_json(paths.TRAIN_COST)
    assert cost["wall_time_s"] > 0 and cost["energy_status"] in {"measured", "unavailable"}
    assert "wall_time_s" not in io.read_json(paths.TRAIN_METRICS)["cost"]


def test_checkpoint_loads_weights_only_and_refuses_other_params(prepared):
    import torch

    from pipeline.stages import train

    train.main(_cfg(prepared))
    state = torch.load(paths.LAST_CHECKPOINT, weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    _set_train(prepared, resume=True, lr=0.01)
    with pytest.raises(IntegrityError, match="different train params"):
        train.main(_cfg(prepared))
    paths.LAST_CHECKPOINT.write_bytes(paths.LAST_CHECKPOINT.read_bytes()[:100])
    with pytest.raises(IntegrityError, match="corrupt or truncated"):
        train.main(_cfg(prepared))


@pytest.mark.slow
def test_killed_training_resumes_and_completes(prepared):
    epochs = 30
    _set_train(prepared, epochs=epochs, resume=True, batch_size=16)
    env = {**os.environ, "PYTHONPATH": str(paths.Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "train"], cwd=prepared, env=env)
    ckpt = prepared / paths.LAST_CHECKPOINT
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import torch

    killed_at = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= killed_at < epochs
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "train"], cwd=prepared, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    cost = io.read_json(prepared / paths.TRAIN_COST)
    assert cost["resumed_from_epoch"] >= killed_at
    metrics = io.read_json(prepared / paths.TRAIN_METRICS)
    assert metrics["cost"]["epochs_run"] == epochs and metrics["final"]["epoch"] == epochs - 1


def test_early_stopping_restores_best_weights(prepared):
    import torch

    from pipeline.stages import train

    _set_train(prepared, epochs=8, patience=1, lr=0.05)
    train.main(_cfg(prepared))
    summary = io.read_json(paths.TRAIN_METRICS)["cost"]
    history = io.read_json(paths.TRAIN_METRICS)["final"]
    assert summary["best_epoch"] is not None and summary["epochs_run"] >= 1
    assert history["epoch"] == summary["epochs_run"] - 1
    state = torch.load(paths.MODEL_WEIGHTS, weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values())
