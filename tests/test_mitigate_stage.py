"""The ``mitigate`` and ``log`` stages on a few hundred real Adult rows with a real SQLite MLflow
store: every candidate audited like the network, logged as its own model with its lineage and its
own metrics, loadable with ``mlflow.pyfunc.load_model`` and reproducing the audited decisions;
only passing candidates are registered (issue 26); the ``audited`` alias follows the best passing
candidate and is removed when none passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import contracts, io, paths

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
    from pipeline.stages import evaluate, fairness, log, mitigate, prepare, train

    params = yaml.safe_load((module_project / "params.yaml").read_text())
    params["mitigation"].update(MITIGATION)
    (module_project / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = config.load(module_project / "params.yaml")
    for stage in (prepare, train, evaluate, fairness, mitigate, log):  # log verifies fairness.json first
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
    assert "mitigation" not in io.read_json(paths.FAIRNESS_METRICS)


def test_candidates_are_logged_models_with_lineage_and_only_passing_ones_registered(logged):
    import mlflow

    from pipeline.mitigation.registry import FINGERPRINT_TAG, input_frame

    cfg, result, run = logged
    registry = run["candidates"]
    deployable = {n for n, r in result["candidates"].items() if r["deployable"]}
    passing = {n for n in deployable if result["candidates"][n]["passed"]}
    assert set(registry["model_uris"]) == deployable and set(registry["versions"]) == passing
    client = mlflow.MlflowClient()
    frame = input_frame(contracts.read(paths.PREPARED_META))
    audited = pd.read_csv(paths.CANDIDATE_DECISIONS)
    for name, uri in registry["model_uris"].items():
        row = result["candidates"][name]
        info = mlflow.models.get_model_info(uri)
        logged_model = client.get_logged_model(info.model_id)
        assert logged_model.tags["method"] == row["method"] and logged_model.tags["parent_run"] == run["run_id"]
        linked = {m.key for m in logged_model.metrics}
        slug = paths.candidate_slug(name)
        assert linked and all(k.startswith(f"candidate/{slug}/") for k in linked), linked  # its own, not the network's
        served = mlflow.pyfunc.load_model(uri).predict(frame)
        np.testing.assert_array_equal(served["decision"].to_numpy(), audited[slug].to_numpy())
        accuracy = (served["decision"].to_numpy() == (io.read_npz(paths.split_arrays("test"))["y"] == 1)).mean()
        assert accuracy == pytest.approx(row["accuracy"]["value"])
    network = client.get_logged_model(mlflow.models.get_model_info(run["model_uri"]).model_id)
    assert "evaluate/accuracy" in {m.key for m in network.metrics}  # the run's figures belong to the network
    versions = client.search_model_versions(f"name = '{cfg.tracking.model_name}'")
    prints = [v.tags[FINGERPRINT_TAG] for v in versions]
    assert len(prints) == len(set(prints))  # the unmitigated "candidate" is never the network's twin version
    for v in versions:
        assert v.description.splitlines()[0].startswith("AUDIT "), v.description


def test_unmitigated_candidate_has_the_network_fingerprint_and_a_rule_changes_it(logged):
    """Same weights and rule -> the same fingerprint (never registered twice); a threshold rule on the
    same network -> a different one."""
    from pipeline.mitigation.fingerprint import candidate_fingerprint, network_fingerprint
    from pipeline.models.postprocessed import PostProcessedNetwork
    from pipeline.models.predict import load_trained

    _, result, _ = logged
    meta = io.read_json(paths.PREPARED_META)
    own = network_fingerprint(load_trained(), meta["favourable_index"])
    plain = PostProcessedNetwork.load(paths.candidate_dir("network (unmitigated)"))
    assert candidate_fingerprint(plain) == own
    tho = "threshold_optimizer (demographic_parity)"
    if tho in result["candidates"]:
        assert candidate_fingerprint(PostProcessedNetwork.load(paths.candidate_dir(tho))) != own


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


def test_alias_target_by_hand():
    """Each branch of the alias rule, worked by hand: network version 3, candidate 'tho' at version 4."""
    from pipeline.mitigation.registry import alias_target

    assert alias_target(3, False, [{}], "tho", {"tho": 4}, current=1) == 4  # best passing candidate
    assert alias_target(3, True, [{}], None, {}, current=1) == 3  # the network passes
    assert alias_target(3, False, [{}], None, {}, current=1) is None  # mitigation ran, nothing passes
    assert alias_target(3, False, None, None, {}, current=1) == 1  # no mitigation: earlier audited version kept
    assert alias_target(3, False, None, None, {}, current=3) is None  # ... unless it is this failing network


def test_alias_moves_to_a_version_and_to_none(logged):
    """Both ways on the real store: the alias moves to a version, and ``None`` removes it, so it can
    never point at a model that failed its audit."""
    import mlflow

    from pipeline import tracking

    cfg, _, run = logged
    name = cfg.tracking.model_name
    client = mlflow.MlflowClient()
    tracking.point_alias(name, "audited", run["registry"]["version"])
    assert int(client.get_model_version_by_alias(name, "audited").version) == run["registry"]["version"]
    tracking.point_alias(name, "audited", None)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(name, "audited")
