"""The ``mitigate`` and ``log`` stages on a few hundred real Adult rows with a real SQLite MLflow
store: every candidate audited like the network, logged as its own model with its lineage,
registered, loadable with ``mlflow.pyfunc.load_model`` and reproducing the audited decisions;
the ``audited`` alias follows the best passing candidate and is removed when none passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import io, paths

pytestmark = pytest.mark.slow  # several network fits, four pyfunc models logged

# a constraint and attribute set by hand (the policy-derived defaults: tests/test_mitigate_policy.py)
MITIGATION = {
    "methods": ["threshold_optimizer", "exponentiated_gradient", "grid_search", "logistic_stand_in"],
    "max_iter": 2,
    "grid_size": 2,
    "max_fits": 20,
    "constraint": "demographic_parity",
    "attribute": None,
}


@pytest.fixture(scope="module")
def logged(module_project):
    from pipeline import config
    from pipeline.stages import evaluate, log, mitigate, prepare, train

    params = yaml.safe_load((module_project / "params.yaml").read_text())
    params["mitigation"].update(MITIGATION)
    (module_project / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = config.load(module_project / "params.yaml")
    for stage in (prepare, train, evaluate, mitigate, log):
        stage.main(cfg)
    return cfg, io.read_json(paths.MITIGATION_METRICS), io.read_json(paths.MLFLOW_RUN)


def test_every_candidate_is_audited_like_the_network(logged):
    cfg, result, _ = logged
    meta = io.read_json(paths.PREPARED_META)
    rows = result["candidates"]
    expected = {
        "network (unmitigated)",
        "threshold_optimizer (demographic_parity)",
        "grid_search (demographic_parity)",
        "exponentiated_gradient (demographic_parity)",
        "logistic regression stand-in (comparison only)",
    }
    assert set(rows) | set(result["errors"]) == expected
    assert "network (unmitigated)" in rows and result["attribute"] == "sex"
    assert 0 < result["fits_used"] <= MITIGATION["max_fits"]
    for name, row in rows.items():
        assert set(row["audit"]["features"]) == {"sex", "race", "sex x race"}, name
        assert row["audit"]["verdicts"], name
        for key in ("accuracy", "roc_auc"):
            low, high = row[key]["ci"]
            assert low <= row[key]["value"] <= high, (name, key)
        assert isinstance(row["passed"], bool) and row["trade_off"]["value"] is not None
    assert not rows["logistic regression stand-in (comparison only)"]["deployable"]
    for name in ("grid_search (demographic_parity)", "exponentiated_gradient (demographic_parity)"):
        if name in rows:  # the network itself, on every training row
            assert f"all {meta['rows']['train']} training rows" in " ".join(rows[name]["notes"])
            assert rows[name]["fits"] > 0
    assert "mitigation" not in (io.read_json(paths.FAIRNESS_METRICS) if paths.FAIRNESS_METRICS.is_file() else {})


def test_registered_candidates_carry_lineage_and_reproduce_the_audited_decisions(logged):
    import mlflow

    from pipeline.mitigation.registry import input_frame

    cfg, result, run = logged
    registry = run["candidates"]
    deployable = {n for n, r in result["candidates"].items() if r["deployable"]}
    assert set(registry["versions"]) == deployable
    client = mlflow.MlflowClient()
    frame = input_frame(io.read_json(paths.PREPARED_META))
    audited = pd.read_csv(paths.CANDIDATE_DECISIONS)
    for name, version in registry["versions"].items():
        tags = client.get_model_version(cfg.tracking.model_name, str(version)).tags
        row = result["candidates"][name]
        assert tags["method"] == row["method"] and tags["constraint"] == str(row["constraint"])
        assert tags["verdict"] == ("pass" if row["passed"] else "fail") and tags["parent_run"] == run["run_id"]
        model = mlflow.pyfunc.load_model(f"models:/{cfg.tracking.model_name}/{version}")
        served = model.predict(frame)
        np.testing.assert_array_equal(served["decision"].to_numpy(), audited[paths.candidate_slug(name)].to_numpy())
        accuracy = (served["decision"].to_numpy() == (io.read_npz(paths.split_arrays("test"))["y"] == 1)).mean()
        assert accuracy == pytest.approx(row["accuracy"]["value"])


def test_alias_follows_the_stage_choice(logged):
    import mlflow

    cfg, result, run = logged
    best = result["best_passing"]
    client = mlflow.MlflowClient()
    if best is None:
        with pytest.raises(mlflow.exceptions.MlflowException):
            client.get_model_version_by_alias(cfg.tracking.model_name, "audited")
    else:
        alias = client.get_model_version_by_alias(cfg.tracking.model_name, "audited")
        assert int(alias.version) == run["candidates"]["versions"][best]


def test_alias_moves_to_a_passing_candidate_and_to_none(logged):
    """Both ways on the real store: a passing candidate receives the alias; with none passing the
    alias is removed, so it can never point at a model that failed its audit."""
    import mlflow

    from pipeline import tracking

    cfg, result, run = logged
    uris = run["candidates"]["model_uris"]
    name = sorted(uris)[0]
    entries = [{"name": name, "model_uri": uris[name], "tags": {"verdict": "pass"}}]
    client = mlflow.MlflowClient()
    moved = tracking.register_candidates(entries, cfg.tracking.model_name, best=name)
    assert int(client.get_model_version_by_alias(cfg.tracking.model_name, "audited").version) == moved["versions"][name]
    cleared = tracking.register_candidates(entries, cfg.tracking.model_name, best=None)
    assert cleared["alias"] is None
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(cfg.tracking.model_name, "audited")
