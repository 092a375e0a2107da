"""Mitigation candidates on small synthetic data: the network as a scikit-learn estimator under
fairlearn's reductions, and the saved decision rule checked against fairlearn's own.

Everything is real (Lightning fits, fairlearn's ExponentiatedGradient/GridSearch/ThresholdOptimizer);
the data are a few hundred rows with a group-dependent base rate, the fits 2 epochs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from pipeline.audit.fairness import FairnessSettings, audit_decisions
from pipeline.config import MitigationSettings, TrainSettings
from pipeline.errors import BadInputError
from pipeline.mitigation import candidates as mitigation
from pipeline.mitigation.estimator import FitBudget, FitBudgetExhausted, NetworkClassifier
from pipeline.mitigation.reductions import reductions
from pipeline.models.postprocessed import PostProcessedNetwork, row_uniforms

SETTINGS = TrainSettings(hidden=[8], epochs=2, batch_size=64, lr=0.01, accelerator="cpu")
NAMES = [f"f{i}" for i in range(4)]


def _data(n=400, seed=0):
    """Features, 0/1 labels with a base rate that depends on the group, and the group."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n, p=[0.6, 0.4])
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, 0] += (group == "a") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] + x[:, 1])))).astype(int)
    return x, y, group


@pytest.fixture(scope="module")
def data():
    return _data()


def test_estimator_is_seeded_and_sklearn_compatible(data, tmp_path):
    x, y, _ = data
    first = NetworkClassifier(SETTINGS, seed=3, workdir=str(tmp_path)).fit(x, y)
    second = clone(first).fit(x, y)
    assert first.classes_.tolist() == [0, 1]
    proba = first.predict_proba(x)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(proba, second.predict_proba(x))
    assert set(np.unique(first.predict(x))) <= {0, 1}
    assert not any(tmp_path.iterdir())  # each refit's checkpoint folder is removed


def test_sample_weight_reaches_the_loss(data):
    """Weight only on the unfavourable rows: the network learns to refuse nearly everyone."""
    x, y, _ = data
    plain = NetworkClassifier(SETTINGS, seed=0).fit(x, y).predict(x).mean()
    weighted = NetworkClassifier(SETTINGS, seed=0).fit(x, y, sample_weight=(y == 0) + 1e-3).predict(x).mean()
    assert weighted < 0.1 < plain


def test_resample_weighting_honours_weights_too(data):
    x, y, _ = data
    est = NetworkClassifier(SETTINGS, seed=0, weighting="resample").fit(x, y, sample_weight=(y == 0) * 1.0)
    assert est.predict(x).mean() < 0.1


def test_bad_labels_and_weights_are_refused(data):
    x, y, _ = data
    with pytest.raises(BadInputError, match="0/1 labels"):
        NetworkClassifier(SETTINGS).fit(x, y + 1)
    with pytest.raises(BadInputError, match="one finite, non-negative weight per row"):
        NetworkClassifier(SETTINGS).fit(x, y, sample_weight=-np.ones(len(y)))


def test_fit_budget_is_shared_by_clones_and_copies_and_stops_the_reduction(data):
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    x, y, group = data
    budget = FitBudget(2)
    reduction = ExponentiatedGradient(NetworkClassifier(SETTINGS, budget=budget), DemographicParity(), max_iter=5)
    with pytest.raises(FitBudgetExhausted, match="mitigation.max_fits = 2"):
        reduction.fit(x, y, sensitive_features=group)
    assert budget.used == 2 and len(budget.seconds) == 2


def test_a_repeated_refit_reuses_its_network_and_spends_no_budget(data):
    """The same rows, labels, weights, settings and seed give the same network: fitted once. Any
    difference in the input (one weight, the seed) is a new fit."""
    x, y, _ = data
    budget = FitBudget(3)
    w = np.linspace(0.5, 1.5, len(y))
    first = NetworkClassifier(SETTINGS, seed=0, budget=budget).fit(x, y, sample_weight=w)
    again = clone(NetworkClassifier(SETTINGS, seed=0, budget=budget)).fit(x, y, sample_weight=w)
    assert again.model_ is first.model_ and budget.used == 1 and budget.reused == 1 and len(budget.seconds) == 1
    fresh = NetworkClassifier(SETTINGS, seed=0).fit(x, y, sample_weight=w)  # no shared budget: trained anew
    np.testing.assert_array_equal(fresh.predict_proba(x), again.predict_proba(x))
    w2 = w.copy()
    w2[0] *= 2
    NetworkClassifier(SETTINGS, seed=0, budget=budget).fit(x, y, sample_weight=w2)
    NetworkClassifier(SETTINGS, seed=1, budget=budget).fit(x, y, sample_weight=w)
    assert budget.used == 3 and budget.reused == 1


def test_predictions_run_at_the_fits_thread_count_and_restore_the_callers(data, monkeypatch):
    """A small network predicts on one thread, as its fits step (train.num_threads overrides both);
    the caller's thread count is back afterwards."""
    import torch

    from pipeline.models import predict

    x, y, _ = data
    seen, real = [], predict.predict_proba
    monkeypatch.setattr(predict, "predict_proba", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est = NetworkClassifier(SETTINGS, seed=0).fit(x, y)
        est.predict_proba(x)
        assert torch.get_num_threads() == 2
        NetworkClassifier(SETTINGS.model_copy(update={"num_threads": 2}), seed=0).fit(x, y).predict_proba(x)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]


def test_exponentiated_gradient_candidate_equals_fairlearns_mixture(data, tmp_path):
    """The saved mixture gives fairlearn's pmf; its seeded decisions narrow the parity gap."""
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    x, y, group = data
    budget = FitBudget(40)
    candidate = reductions(
        "exponentiated_gradient",
        "demographic_parity",
        SETTINGS,
        x,
        y,
        group,
        NAMES,
        mitigation=MitigationSettings(max_iter=3, grid_size=2, eps=0.02),
        seed=0,
        budget=budget,
        weighting="loss",
    )
    assert candidate.fits == budget.used > 1
    again = ExponentiatedGradient(NetworkClassifier(SETTINGS, seed=0), DemographicParity(), eps=0.02, max_iter=3)
    again.fit(x, y, sensitive_features=group)
    np.testing.assert_allclose(candidate.model.favourable_probability(x), again._pmf_predict(x)[:, 1])
    candidate.model.save(tmp_path / "eg")
    loaded = PostProcessedNetwork.load(tmp_path / "eg")
    np.testing.assert_array_equal(loaded.decide(x), candidate.model.decide(x))
    candidate.model.save(tmp_path / "eg-again")  # byte-identical files: DVC hashes models/candidates
    for first in sorted((tmp_path / "eg").iterdir()):
        assert first.read_bytes() == (tmp_path / "eg-again" / first.name).read_bytes(), first.name

    def gap(decisions):
        rates = pd.Series(decisions).groupby(group).mean()
        return rates.max() - rates.min()

    base = NetworkClassifier(SETTINGS, seed=0).fit(x, y).predict(x)
    assert gap(candidate.model.decide(x)) < gap(base)


def test_grid_search_candidate_is_one_network(data):
    x, y, group = data
    budget = FitBudget(10)
    candidate = reductions(
        "grid_search",
        "equalized_odds",
        SETTINGS,
        x,
        y,
        group,
        NAMES,
        mitigation=MitigationSettings(max_iter=3, grid_size=3, eps=0.02),
        seed=0,
        budget=budget,
        weighting="loss",
    )
    assert budget.used == 3 and len(candidate.model.networks) == 1
    assert set(np.unique(candidate.model.favourable_probability(x))) <= {0.0, 1.0}


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_threshold_candidate_equals_fairlearns_thresholder(data, constraint, tmp_path):
    """The thresholds saved as plain numbers (infinite ones included) reproduce fairlearn's probabilities exactly."""
    from fairlearn.postprocessing import ThresholdOptimizer

    x, y, group = data
    network = NetworkClassifier(SETTINGS, seed=0).fit(x, y).model_
    candidate = mitigation.threshold_optimizer(constraint, network, 1, x, y, group, NAMES, "s", seed=0)
    score = candidate.model.network_scores(x)[0]
    reference = ThresholdOptimizer(
        estimator=mitigation.ScorePassthrough().fit(None),
        constraints=constraint,
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    reference.fit(score.reshape(-1, 1), y, sensitive_features=group)
    expected = reference._pmf_predict(score.reshape(-1, 1), sensitive_features=group)[:, 1]
    np.testing.assert_allclose(candidate.model.favourable_probability(x, group), expected)
    candidate.model.save(tmp_path / "to")
    np.testing.assert_allclose(PostProcessedNetwork.load(tmp_path / "to").favourable_probability(x, group), expected)


def test_decisions_depend_on_the_row_not_the_batch(data):
    x, y, group = data
    network = NetworkClassifier(SETTINGS, seed=0).fit(x, y).model_
    model = mitigation.threshold_optimizer("demographic_parity", network, 1, x, y, group, NAMES, "s", seed=0).model
    order = np.random.default_rng(1).permutation(len(y))
    np.testing.assert_array_equal(model.decide(x, group)[order], model.decide(x[order], group[order]))
    np.testing.assert_array_equal(model.decide(x[:7], group[:7]), model.decide(x, group)[:7])
    u = row_uniforms(np.random.default_rng(2).normal(size=(5000, 4)), None, seed=0)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02


def test_served_input_is_checked(data):
    x, y, group = data
    network = NetworkClassifier(SETTINGS, seed=0).fit(x, y).model_
    model = mitigation.threshold_optimizer("demographic_parity", network, 1, x, y, group, NAMES, "s", seed=0).model
    frame = pd.DataFrame(x, columns=NAMES)
    with pytest.raises(BadInputError, match="needs the sensitive column 's'"):
        model.predict(frame)
    with pytest.raises(BadInputError, match=r"value\(s\) \['c'\] were not seen"):
        model.predict(frame.assign(s="c"))
    with pytest.raises(BadInputError, match="lacks 1 feature column"):
        model.predict(frame.drop(columns="f3").assign(s=group))
    out = model.predict(frame.assign(s=group))
    np.testing.assert_array_equal(out["decision"].to_numpy(), model.decide(x, group))


def test_best_passing_never_picks_a_failing_or_undeployable_candidate():
    row = lambda acc, passed, deployable=True: {  # noqa: E731
        "accuracy": {"value": acc},
        "passed": passed,
        "deployable": deployable,
    }
    rows = {"a": row(0.9, False), "b": row(0.8, True), "c": row(0.8, True), "d": row(0.95, True, deployable=False)}
    assert mitigation.best_passing(rows) == "b"  # accuracy first, then name
    assert mitigation.best_passing({"a": row(0.9, False), "d": row(0.95, True, deployable=False)}) is None


def test_overall_performance_has_intervals_around_the_estimate(data):
    x, y, group = data
    score = 1 / (1 + np.exp(-x[:, 0]))
    decisions = (score >= 0.5).astype(int)
    perf = mitigation.overall_performance(y, decisions, score, FairnessSettings(n_boot=50, min_group_size=1))
    assert perf["accuracy"]["value"] == pytest.approx((decisions == y).mean())
    for key in ("accuracy", "roc_auc"):
        low, high = perf[key]["ci"]
        assert low <= perf[key]["value"] <= high
    audited = audit_decisions(y, decisions, score, pd.DataFrame({"s": group}), ["s"], FairnessSettings(n_boot=0))
    assert "s" in audited["features"]
