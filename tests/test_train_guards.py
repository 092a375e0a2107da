"""Nothing non-finite or oversized reaches a model file, and device settings the machine cannot
honour are refused with the setting named (issue 16: NaN weights, model.json trusted, exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from pipeline import config, io, paths
from pipeline.errors import EXIT_BAD_INPUT, BadInputError, ConfigError, IntegrityError
from pipeline.models.mlp import MAX_PARAMETERS, MlpSpec
from pipeline.training import checkpoint
from pipeline.training.fit import fit


def _settings(cfg, **changes):
    energy = cfg.train.energy.model_copy(update={"enabled": False})
    return cfg.train.model_copy(update={"accelerator": "cpu", "devices": 1, "energy": energy, **changes})


def test_diverging_training_is_refused_and_the_previous_model_is_kept(prepared):
    """``train.lr: 1e30``: the loss turns non-finite; the stage stops before anything is written."""
    from pipeline.stages import train

    cfg, _, _ = prepared
    train.main(cfg.model_copy(update={"train": _settings(cfg, epochs=2)}))
    before = {p: p.read_bytes() for p in (paths.MODEL_WEIGHTS, paths.MODEL_SPEC, paths.TRAIN_METRICS)}
    last = paths.CHECKPOINT_DIR / checkpoint.LAST_NAME
    with pytest.raises(BadInputError, match=r"training diverged in epoch 0: .*lower train.lr \(now 1e\+30\)"):
        train.main(cfg.model_copy(update={"train": _settings(cfg, epochs=2, lr=1e30)}))
    assert {p: p.read_bytes() for p in before} == before
    state = checkpoint.load(last)  # whatever the last checkpoint holds is finite
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_non_finite_features_are_refused_naming_the_file(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    bad = {**arrays, "val": {**arrays["val"], "X": arrays["val"]["X"].copy()}}
    bad["val"]["X"][3, 2] = np.inf
    with pytest.raises(BadInputError, match=r"data/prepared/val.npz: 1 non-finite feature value.*column\(s\) \[2\]"):
        fit(_settings(cfg), cfg.seed, bad, n_classes, checkpoint_dir=tmp_path)


def test_saving_non_finite_weights_is_refused(prepared):
    from pipeline.models.mlp import MLP
    from pipeline.stages.train import save_model

    cfg, arrays, n_classes = prepared
    model = MLP(MlpSpec(arrays["train"]["X"].shape[1], (4,), n_classes))
    with torch.no_grad():
        model.net[0].weight[0, 0] = float("nan")
    with pytest.raises(BadInputError, match=r"models/model.pt \(not written\): non-finite .* net.0.weight"):
        save_model(model)


def test_too_many_parameters_in_settings_is_refused_before_allocating(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    with pytest.raises(BadInputError, match=r"train.hidden \[60000, 60000\] .* more than the"):
        fit(_settings(cfg, hidden=[60000, 60000]), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"n_inputs": 101, "hidden": [200000, 200000], "n_classes": 2}, "more than the 100,000,000 allowed"),
        ({"n_inputs": 101, "hidden": [64, True], "n_classes": 2}, "positive integer"),
        ({"n_inputs": 101, "hidden": [64, "64"], "n_classes": 2}, "positive integer"),
        ({"n_inputs": 101, "hidden": [64, -1], "n_classes": 2}, "positive integer"),
        ({"n_inputs": 101, "hidden": [64] * 65, "n_classes": 2}, "1 to 64 layer widths"),
        ({"n_inputs": 101, "hidden": [64], "n_classes": 1}, "n_classes must be at least 2"),
        ({"n_inputs": 101, "hidden": [64]}, "expected the keys"),
        ([101, [64], 2], "expected the keys"),
    ],
)
def test_untrusted_model_json_is_checked_before_anything_is_allocated(tmp_path, spec, message):
    from pipeline.models.predict import load_trained

    (tmp_path / paths.MODEL_SPEC.name).write_text(json.dumps(spec))
    (tmp_path / paths.MODEL_WEIGHTS.name).write_bytes(b"never read")
    with pytest.raises(IntegrityError, match=message) as err:
        load_trained(tmp_path)
    assert paths.MODEL_SPEC.name in str(err.value)
    assert MAX_PARAMETERS == 100_000_000


def test_model_file_with_non_finite_weights_is_refused(tmp_path):
    from pipeline.models.mlp import MLP
    from pipeline.models.predict import load_trained

    spec = MlpSpec(3, (4,), 2)
    state = MLP(spec).state_dict()
    state["net.2.bias"][0] = float("inf")
    torch.save(state, tmp_path / paths.MODEL_WEIGHTS.name)
    io.write_json(tmp_path / paths.MODEL_SPEC.name, spec.to_dict())
    with pytest.raises(IntegrityError, match=r"non-finite weights .* net.2.bias"):
        load_trained(tmp_path)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("precision", "bogus", "train.precision"),
        ("precision", 33, "train.precision"),
        ("devices", 0, "devices must be >= 1"),
        ("devices", "two", "train.devices"),
        ("devices", [[0]], "device indices"),
        ("devices", [0, 0], "distinct"),
        ("devices", True, "train.devices"),
        ("accelerator", "quantum", "train.accelerator"),
        ("hidden", [64, 100000], "1 to 65536 units"),
    ],
)
def test_bad_device_settings_are_refused_by_the_config(tmp_path, setting, value, message):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"][setting] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=message):
        config.load(tmp_path / "params.yaml")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_accelerator_without_a_gpu_exits_2_naming_the_setting(prepared):
    """Through the real CLI: exit 2 (bad input) with the setting named, no traceback."""
    cfg, _, _ = prepared
    work = os.getcwd()
    params = yaml.safe_load(open("params.yaml").read())
    params["train"].update({"accelerator": "gpu", "devices": 1})
    with open("params.gpu.yaml", "w") as fh:
        yaml.safe_dump(params, fh)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "--params", "params.gpu.yaml", "train"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert "train.accelerator: gpu" in proc.stderr and "Traceback" not in proc.stderr
