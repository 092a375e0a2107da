"""Each stage's core, run in order on a few hundred real Adult rows in a temporary directory."""

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths


@pytest.fixture(scope="module")
def ran_pipeline(module_project):
    """Run prepare..report through their ``main`` functions (the same code ``dvc repro`` runs)."""
    from pipeline import config
    from pipeline.stages import evaluate, explain, fairness, prepare, report, train

    cfg = config.load(module_project / "params.yaml")
    for stage in (prepare, train, evaluate, fairness, explain, report):
        stage.main(cfg)
    return cfg


def test_train_saves_state_dict_and_curves(ran_pipeline):
    import torch

    state = torch.load(paths.MODEL_WEIGHTS, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    curves = pd.read_csv(paths.TRAIN_CURVES)
    assert list(curves["epoch"]) == [0]
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy"} <= set(curves.columns)


def test_evaluate_metrics_agree_with_predictions(ran_pipeline):
    metrics = io.read_json(paths.EVALUATE_METRICS)
    predictions = pd.read_csv(paths.PREDICTIONS)
    assert metrics["accuracy"] == pytest.approx((predictions["y_true"] == predictions["y_pred"]).mean())
    assert np.allclose(predictions[["proba_0", "proba_1"]].sum(axis=1), 1.0)
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n_test"] == len(predictions)
    assert 0.5 <= metrics["roc_auc"] <= 1.0


def test_fairness_has_each_feature_and_the_intersection(ran_pipeline):
    fairness = io.read_json(paths.FAIRNESS_METRICS)["features"]
    assert {"sex", "race", "sex x race"} <= set(fairness)
    groups = pd.read_csv(paths.split_groups("test"), dtype=str, keep_default_na=False)
    counts = {g: v["count"] for g, v in fairness["sex"]["groups"].items()}
    assert counts == groups["sex"].value_counts().to_dict()


def test_explain_importance_is_per_original_column(ran_pipeline):
    meta = io.read_json(paths.PREPARED_META)
    explain = io.read_json(paths.EXPLAIN_METRICS)
    method = explain.get("integrated_gradients") or explain["methods"]["integrated_gradients"]
    assert set(method["importance"]) == set(meta["input_columns"])


def test_report_is_deterministic_and_complete(ran_pipeline):
    from pipeline.stages import report

    first = paths.REPORT_HTML.read_bytes()
    report.main(ran_pipeline)
    assert paths.REPORT_HTML.read_bytes() == first
    html = first.decode()
    for section in (
        "Model details",
        "Metrics",
        "Quantitative analyses",
        "Interpretability",
        "Reproducibility manifest",
    ):
        assert section in html
    assert "<svg" in html  # plots are embedded, the file is self-contained
    assert "Model details" in paths.MODEL_CARD.read_text()


def test_log_stage_round_trips_through_mlflow(ran_pipeline):
    import mlflow
    import torch
    from mlflow import MlflowClient

    from pipeline.stages import log

    log.main(ran_pipeline)
    summary = io.read_json(paths.MLFLOW_RUN)
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "1"
    assert run.data.metrics["evaluate/accuracy"] == pytest.approx(io.read_json(paths.EVALUATE_METRICS)["accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "train_curve/val_loss")) == 1
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert "report/audit_report.html" in artifacts
    assert {d.dataset.name for d in run.inputs.dataset_inputs} >= {"adult-train", "adult-test"}
    model = mlflow.pytorch.load_model(summary["model_uri"])
    test_x = io.read_npz(paths.split_arrays("test"))["X"][:4]
    with torch.no_grad():
        assert model(torch.from_numpy(test_x)).shape == (4, 2)
    # logging the same pipeline state again reuses the run instead of adding one
    log.main(ran_pipeline)
    assert io.read_json(paths.MLFLOW_RUN)["run_id"] == summary["run_id"]
    assert len(client.search_runs([run.info.experiment_id])) == 1
