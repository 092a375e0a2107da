"""DP-SGD with Opacus through the real train stage, and the privacy stage reporting (ε, δ)."""

import math

import pytest

from pipeline import io, paths
from tests.conftest import make_project


def test_dp_training_reports_epsilon_beside_accuracy_and_fairness(tmp_path, monkeypatch):
    from pipeline import config
    from pipeline.stages import evaluate, fairness, prepare, privacy, train

    root = make_project(
        tmp_path / "p", {"train": {"dp": {"enabled": True, "noise_multiplier": 1.0}}, "privacy": {"n_boot": 0}}
    )
    monkeypatch.chdir(root)
    cfg = config.load(root / "params.yaml")
    for stage in (prepare, train, evaluate, fairness, privacy):
        stage.main(cfg)
    dp = io.read_json(paths.TRAIN_METRICS)["cost"]["dp"]
    assert 0 < dp["epsilon"] < math.inf and dp["delta"] == cfg.train.dp.delta
    report = io.read_json(paths.PRIVACY_METRICS)
    assert report["dp"]["epsilon"] == dp["epsilon"]
    assert report["dp"]["accuracy"] == io.read_json(paths.EVALUATE_METRICS)["accuracy"]
    assert set(report["dp"]["demographic_parity_difference"]) >= {"sex", "race"}
    assert 0 <= report["membership_inference"]["auc"] <= 1


def test_target_epsilon_is_met(tmp_path):
    from pipeline import config
    from pipeline.training.dp import fit_dp
    from tests.test_privacy_attack import random_rows

    cfg = config.from_dict({"train": {"epochs": 2, "batch_size": 32, "dp": {"enabled": True, "target_epsilon": 3.0}}})
    (x, y), (xv, yv) = random_rows(320, 0), random_rows(64, 1)
    result = fit_dp(cfg.train, 0, {"train": {"X": x, "y": y}, "val": {"X": xv, "y": yv}}, n_classes=2)
    assert result.summary["cost"]["dp"]["epsilon"] == pytest.approx(3.0, rel=0.05)
    assert [row["epoch"] for row in result.history] == [0, 1]
    assert result.history[0]["epsilon"] < result.history[1]["epsilon"]
