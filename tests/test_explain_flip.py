"""Counterfactual flips and proxies on hand-built models that do, or do not, use the sensitive input."""

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.audit import proxies
from pipeline.models.mlp import MLP, MlpSpec

# encoded columns: 0 = a numeric input, 1 = sex=Female, 2 = sex=Male
FEATURE_GROUPS = {"income": [0], "sex": [1, 2]}
LEVELS = ["Female", "Male"]


def model_reading(column: int) -> MLP:
    """Favourable exactly when encoded column ``column`` is 1 (logit 4x - 2 through one ReLU)."""
    model = MLP(MlpSpec(3, (1,), 2))
    first, last = model.net[0], model.net[2]
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        first.weight[0, column] = 1.0
        last.weight[1, 0] = 4.0
        last.bias[1] = -2.0
    return model.eval()


def data(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    male = rng.random(n) < 0.5
    X = np.zeros((n, 3), dtype=np.float32)
    X[:, 0] = rng.random(n).round()
    X[np.arange(n), np.where(male, 2, 1)] = 1
    return X, np.where(male, "Male", "Female")


def flip(model, X, labels):
    return proxies.flip_test(
        model,
        X,
        labels,
        column="sex",
        idx=FEATURE_GROUPS["sex"],
        levels=LEVELS,
        decoded=None,
        favourable_index=1,
        threshold=0.5,
    )


def test_flipping_sex_changes_every_decision_of_a_model_that_reads_it():
    X, labels = data()
    result = flip(model_reading(2), X, labels)
    assert result["changed_share_overall"] == 1.0
    assert result["groups"]["Male"]["to"]["Female"] == {
        "changed_share": 1.0,
        "to_favourable": 0,
        "to_unfavourable": int((labels == "Male").sum()),
    }
    assert result["groups"]["Female"]["to"]["Male"]["to_favourable"] == int((labels == "Female").sum())


def test_flipping_sex_changes_nothing_for_a_model_that_ignores_it():
    X, labels = data()
    result = flip(model_reading(0), X, labels)
    assert result["changed_share_overall"] == 0.0
    assert all(g["changed_share_any"] == 0.0 for g in result["groups"].values())


def test_proxy_flip_and_association_find_a_column_standing_in_for_sex():
    """Sex is not an input; 'role' (Husband/Wife) is, and the model reads it."""
    rng = np.random.default_rng(1)
    n = 300
    sex = np.where(rng.random(n) < 0.5, "Male", "Female")
    role_is_husband = (sex == "Male") ^ (rng.random(n) < 0.1)  # 90% aligned with sex
    X = np.zeros((n, 3), dtype=np.float32)
    X[:, 0] = rng.normal(size=n)
    X[np.arange(n), np.where(role_is_husband, 2, 1)] = 1
    groups = {"income": [0], "role": [1, 2]}
    categorical = {"role": ["Wife", "Husband"]}
    decoded = proxies.decode_columns(X, groups, categorical)
    assoc = proxies.associations(decoded, pd.DataFrame({"sex": sex}), ["sex"])["sex"]
    assert list(assoc) == ["role", "income"] and assoc["role"] > 0.7 > 0.3 > assoc["income"]
    assert assoc["role"] == pytest.approx(proxies.cramers_v(decoded["role"].to_numpy(), sex))
    result = proxies.flip_test(
        model_reading(2),
        X,
        sex,
        column="role",
        idx=groups["role"],
        levels=categorical["role"],
        decoded=decoded,
        favourable_index=1,
        threshold=0.5,
    )
    # women moved to the men's typical role become favourable unless they already were
    women = sex == "Female"
    assert result["groups"]["Female"]["changed_share_any"] == pytest.approx(1 - role_is_husband[women].mean())
    assert proxies.attribution_share({"role": 3.0, "income": 1.0}, ["role"]) == 0.75


@pytest.mark.parametrize(
    "data_metrics",
    [
        {"proxies": [{"sensitive": "sex", "column": "relationship", "cramers_v": 0.65}]},
        {"proxies": {"sex": {"relationship": 0.65}}},
        {"proxies": {"sex": [{"feature": "relationship", "association": 0.65}]}},
    ],
)
def test_data_audit_proxies_are_read_in_any_of_the_shapes_it_may_write(data_metrics):
    expected = {"sex": {"relationship": 0.65}, "race": {}}
    assert proxies.proxies_from_data_audit(data_metrics["proxies"], ["sex", "race"]) == expected


def test_no_proxy_list_means_we_compute_our_own():
    assert proxies.proxies_from_data_audit({}, ["sex"]) is None
    assert proxies.proxies_from_data_audit(None, ["sex"]) is None


@pytest.mark.slow
def test_adult_proxy_table_lists_relationship_for_sex_with_the_data_audits_value(project):
    """The explain section reads the data audit's proxy list: relationship and marital_status are
    proxies for sex with a non-zero attribution share, and every Cramér's V agrees with data.json."""
    from pipeline import config, io, paths
    from pipeline.stages import evaluate, explain, prepare, train

    cfg = config.load(project / "params.yaml")
    for stage in (prepare, train, evaluate, explain):
        stage.main(cfg)
    data, result = io.read_json(paths.DATA_METRICS), io.read_json(paths.EXPLAIN_METRICS)
    block = result["proxies"]["by_sensitive"]["sex"]
    assert {"relationship", "marital_status"} <= set(block["proxies"])
    assert all(share > 0 for share in block["attribution_share"].values())
    audit_v = {r["feature"]: r["cramers_v"] for r in data["audit"]["proxies"]["sex"]["associations"]}
    for column, value in result["proxies"]["associations"]["sex"].items():
        assert value == pytest.approx(audit_v[column]), column
    assert f"(bias-corrected Cramér's V {audit_v['relationship']:.3f})" in block["flip_on"]
