"""Per-row sample weights in training (``arrays["train"]["sample_weight"]``).

What a reweighting method such as fairlearn's ExponentiatedGradient relies on: weights are
checked, enter the loss as a weighted mean (integer weights act as repeated rows), and one fit
can be called many times in one process without writing to the console.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pipeline.errors import BadInputError
from pipeline.training.fit import fit


def _settings(cfg, **changes):
    energy = cfg.train.energy.model_copy(update={"enabled": False})
    base = {"accelerator": "cpu", "devices": 1, "epochs": 2, "energy": energy}
    return cfg.train.model_copy(update={**base, **changes})


def _with_weights(arrays, weight):
    return {**arrays, "train": {**arrays["train"], "sample_weight": weight}}


def _state(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.state_dict().values()])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n: np.ones(n - 1), r"one weight per training row \(shape \(\d+,\)\), got shape"),
        (lambda n: np.ones((n, 1)), "one weight per training row"),
        (lambda n: np.r_[np.ones(n - 1), np.nan], r"1 non-finite weight\(s\)"),
        (lambda n: np.r_[np.ones(n - 1), np.inf], "non-finite"),
        (lambda n: np.r_[-1.0, np.ones(n - 1)], "weights must be >= 0, row 0"),
        (lambda n: np.zeros(n), "every weight is 0"),
        (lambda n: np.array(["1"] * n), "expected real numbers"),
    ],
)
def test_bad_sample_weights_are_refused_naming_them(prepared, tmp_path, make, message):
    cfg, arrays, n_classes = prepared
    weight = make(len(arrays["train"]["y"]))
    with pytest.raises(BadInputError, match=message) as err:
        fit(_settings(cfg), cfg.seed, _with_weights(arrays, weight), n_classes, checkpoint_dir=tmp_path)
    assert 'arrays["train"]["sample_weight"]' in str(err.value)


def test_integer_weights_train_like_repeated_rows(prepared, tmp_path):
    """Full-batch steps: weights 0/1/2 give the model trained on rows repeated 0/1/2 times."""
    cfg, arrays, n_classes = prepared
    train = arrays["train"]
    n = len(train["y"])
    weight = np.random.default_rng(0).integers(0, 3, n).astype(np.float64)
    repeat = np.repeat(np.arange(n), weight.astype(int))
    repeated = {**arrays, "train": {"X": train["X"][repeat], "y": train["y"][repeat]}}
    settings = _settings(cfg, batch_size=4 * n)  # one step per epoch over the whole split

    weighted = fit(settings, cfg.seed, _with_weights(arrays, weight), n_classes, checkpoint_dir=tmp_path / "w")
    plain = fit(settings, cfg.seed, repeated, n_classes, checkpoint_dir=tmp_path / "r")
    assert torch.allclose(_state(weighted.model), _state(plain.model), atol=1e-5)
    assert weighted.history[-1]["train_loss"] == pytest.approx(plain.history[-1]["train_loss"], rel=1e-5)
    unweighted = fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "u")
    assert not torch.allclose(_state(weighted.model), _state(unweighted.model), atol=1e-4)


def test_weighted_loss_matches_a_plain_torch_step_with_class_weights(prepared, tmp_path):
    """Sample and class weights multiply; the step is Adam on mean(w * cross-entropy)."""
    import pytorch_lightning as pl

    from pipeline.models.mlp import MLP, MlpSpec
    from pipeline.training.fit import class_weights

    cfg, arrays, n_classes = prepared
    x, y = torch.from_numpy(arrays["train"]["X"]), torch.from_numpy(arrays["train"]["y"])
    weight = np.random.default_rng(1).uniform(0, 3, len(y))
    settings = _settings(cfg, batch_size=4 * len(y), epochs=3, class_weights=True)
    result = fit(settings, cfg.seed, _with_weights(arrays, weight), n_classes, checkpoint_dir=tmp_path)

    combined = weight * np.asarray(class_weights(arrays["train"]["y"], n_classes))[arrays["train"]["y"]]
    w = torch.from_numpy(combined / combined.mean()).float()
    pl.seed_everything(cfg.seed, verbose=False)
    model = MLP(MlpSpec(x.shape[1], tuple(settings.hidden), n_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    for _ in range(settings.epochs):
        optimizer.zero_grad()
        (F.cross_entropy(model(x), y, reduction="none") * w).mean().backward()
        optimizer.step()
    assert torch.allclose(_state(result.model), _state(model), atol=1e-5)


def test_repeated_in_process_fits_are_silent(prepared, tmp_path, capfd):
    cfg, arrays, n_classes = prepared
    weight = np.ones(len(arrays["train"]["y"]))
    for i in range(3):
        fit(
            _settings(cfg, epochs=1),
            cfg.seed,
            _with_weights(arrays, weight),
            n_classes,
            checkpoint_dir=tmp_path / str(i),
        )
    out, err = capfd.readouterr()
    assert out == "" and err == ""
