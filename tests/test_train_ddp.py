"""Two-process DDP on CPU (gloo) through the real CLI: the model trains and its metrics are finite."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import yaml

from pipeline import io, paths


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains(project):
    from pipeline import config
    from pipeline.stages import prepare

    prepare.main(config.load(project / "params.yaml"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update({"accelerator": "cpu", "devices": 2, "strategy": "ddp", "epochs": 1})
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(paths.Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "pipeline", "train"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = io.read_json(project / paths.TRAIN_METRICS)
    assert metrics["cost"]["world_size"] == 2
    final = metrics["final"]
    assert all(math.isfinite(final[k]) for k in ("train_loss", "val_loss", "val_accuracy"))
    assert final["val_accuracy"] > 0.5
