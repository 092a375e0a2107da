"""The attribution methods on tiny hand-built models whose answers are known in closed form."""

import numpy as np
import pytest
import torch

from pipeline.audit import explain
from pipeline.errors import BadInputError
from pipeline.models.mlp import MLP, MlpSpec


def linear_model(weights: np.ndarray, bias: float = 0.3) -> torch.nn.Module:
    """Two-class logits where class 1's logit is ``x @ weights + bias`` and class 0's is 0."""
    layer = torch.nn.Linear(len(weights), 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[1] = torch.from_numpy(weights.astype(np.float32))
        layer.bias.copy_(torch.tensor([0.0, bias]))
    return layer.eval()


def random_mlp(n_inputs: int, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(MlpSpec(n_inputs, (16, 8), 2)).eval()


def hand_written_ig(model, X: np.ndarray, target: int, n_steps: int) -> np.ndarray:
    """IG by the textbook formula with Gauss-Legendre nodes on [0, 1], no captum."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    x = torch.from_numpy(X)
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        point = (float(alpha) * x).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += float(weight) * grad
    return (total * x).numpy()


def test_ig_is_complete_and_exact_on_a_linear_model():
    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    attr, delta, summary = explain.integrated_gradients(
        linear_model(w), X, 1, n_steps=4, max_steps=8, delta_tol=1e-4, batch_size=16
    )
    np.testing.assert_allclose(attr, X * w, rtol=1e-5, atol=1e-5)  # IG of a linear map is weight x input
    np.testing.assert_allclose(attr.sum(axis=1), X @ w, rtol=1e-5, atol=1e-5)  # = f(x) - f(0): the bias cancels
    assert np.abs(delta).max() < 1e-4 and summary["converged"] and summary["rows_refined"] == 0


def test_fast_captum_ig_matches_hand_written_ig_on_an_mlp():
    X = np.random.default_rng(1).normal(size=(300, 10)).astype(np.float32)
    model = random_mlp(10)
    ours = explain._ig_pass(model, X, 1, 32, batch_size=128)
    np.testing.assert_allclose(ours, hand_written_ig(model, X, 1, 32), atol=1e-5)


def test_ig_refines_rows_until_the_delta_is_under_tolerance_or_reports_the_shortfall():
    X = np.random.default_rng(2).normal(size=(200, 10)).astype(np.float32) * 3
    model = random_mlp(10, seed=3)
    _, delta2, coarse = explain.integrated_gradients(model, X, 1, n_steps=2, max_steps=2, delta_tol=1e-6, batch_size=64)
    assert not coarse["converged"] and coarse["rows_over_tol"] == int((np.abs(delta2) > 1e-6).sum()) > 0
    _, delta, fine = explain.integrated_gradients(model, X, 1, n_steps=2, max_steps=256, delta_tol=1e-2, batch_size=64)
    assert fine["rows_refined"] > 0 and fine["n_steps_max_used"] > 2
    assert fine["convergence_delta_max_abs"] == pytest.approx(np.abs(delta).max())
    assert fine["converged"] == bool(np.abs(delta).max() <= 1e-2)


def test_deeplift_is_complete_on_an_mlp():
    X = np.random.default_rng(4).normal(size=(100, 10)).astype(np.float32)
    model = random_mlp(10, seed=5)
    attr = explain.deeplift(model, X, 1, batch_size=32)
    gap = explain.target_logit(model, X, 1) - explain.target_logit(model, np.zeros((1, 10), np.float32), 1)[0]
    np.testing.assert_allclose(attr.sum(axis=1), gap, atol=1e-4)


GROUPS = {"age": [0], "colour": [1, 2, 3], "size": [4, 5]}


def test_regroup_sums_one_hot_blocks_into_original_columns():
    attr = np.arange(12, dtype=float).reshape(2, 6)
    np.testing.assert_array_equal(explain.regroup(attr, GROUPS), [[0, 1 + 2 + 3, 4 + 5], [6, 7 + 8 + 9, 10 + 11]])


def test_feature_ablation_removes_a_one_hot_block_as_a_whole():
    rng = np.random.default_rng(6)
    X = np.zeros((50, 6), dtype=np.float32)
    X[:, 0] = rng.normal(size=50)
    X[np.arange(50), 1 + rng.integers(0, 3, 50)] = 1
    X[np.arange(50), 4 + rng.integers(0, 2, 50)] = 1
    model = random_mlp(6, seed=7)
    got = explain.feature_ablation(model, X, 1, GROUPS, batch_size=16)
    full = explain.target_logit(model, X, 1)
    for j, idx in enumerate(GROUPS.values()):
        ablated = X.copy()
        ablated[:, idx] = 0
        np.testing.assert_allclose(got[:, j], full - explain.target_logit(model, ablated, 1), atol=1e-5)


@pytest.mark.parametrize(
    ("groups", "message"),
    [({"a": [0, 1], "b": [1, 2]}, "overlaps"), ({"a": [0]}, "unassigned"), ({"a": [0, 1, 2, 7]}, "outside")],
)
def test_feature_mask_refuses_groups_that_do_not_partition_the_columns(groups, message):
    with pytest.raises(BadInputError, match=message):
        explain.feature_mask(groups, 3)


def test_bootstrap_interval_brackets_the_mean_and_agreement_of_identical_rankings_is_one():
    values = np.random.default_rng(8).normal(size=(500, 4)) * [1, 2, 3, 4]
    table = explain.importance_table(values, ["a", "b", "c", "d"], n_boot=100, ci=0.9, seed=0)
    assert list(table) == ["d", "c", "b", "a"]
    assert all(v["low"] <= v["mean_abs"] <= v["high"] for v in table.values())
    importance = {c: v["mean_abs"] for c, v in table.items()}
    pairs = explain.agreement({"m1": importance, "m2": dict(reversed(list(importance.items())))}, k=2)
    assert pairs == [{"methods": ["m1", "m2"], "spearman": pytest.approx(1.0), "top_k_overlap": 1.0}]


def test_group_difference_intervals_are_reproducible_and_ignore_other_groups():
    """Each group resamples from its own named stream (pipeline.stats.bootstrap): the same seed
    gives the same intervals, and removing a third group leaves the others' intervals alone."""
    import pandas as pd

    from pipeline.audit import explain_groups

    rng = np.random.default_rng(4)
    values = rng.normal(size=(300, 3))
    labels = pd.Series(["a"] * 150 + ["b"] * 100 + ["c"] * 50, name="sex")
    kwargs = dict(k=2, n_boot=80, ci=0.9, seed=7, min_group_size=30)
    full = explain_groups.by_group(values, ["x", "y", "z"], labels, **kwargs)
    again = explain_groups.by_group(values, ["x", "y", "z"], labels, **kwargs)
    without_c = explain_groups.by_group(values[:250], ["x", "y", "z"], labels[:250], **kwargs)
    assert full == again
    assert full["reference"] == without_c["reference"] == "a"
    assert full["groups"]["b"]["difference"] == without_c["groups"]["b"]["difference"]
    assert all(d["low"] <= d["value"] <= d["high"] for d in full["groups"]["c"]["difference"].values())
