"""The hand-derived training step (pipeline.models.backprop) against autograd, and the thread rule.

The gradients are compared with autograd's on random data and on a real fit: the Lightning
fit on the hand-gradient path and the same fit forced onto the autograd path must learn the
same thing, epoch by epoch.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from pipeline.models import lit
from pipeline.models.backprop import MlpGradients, batch_targets, flatten_parameters
from pipeline.models.mlp import MLP, MlpSpec
from pipeline.training.fit import fit
from pipeline.training.threads import SMALL_STEP_MACS, forward_macs, step_threads, thread_scope

SPEC = MlpSpec(n_inputs=7, hidden=(5, 4), n_classes=3)


def _model(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(SPEC)


def _autograd_grads(model: MLP, x, y, weight=None) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y, weight=weight).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 1.25]])
def test_gradients_and_logits_match_autograd(class_weight):
    weight = None if class_weight is None else torch.tensor(class_weight)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, SPEC.n_inputs, generator=generator), torch.randint(0, 3, (10,), generator=generator)
    expected = _autograd_grads(_model(), x, y, weight)
    model = _model()
    flatten_parameters(model)
    one_hot, share = batch_targets(y, SPEC.n_classes, len(y), weight)
    logits = MlpGradients(model).step(x, one_hot, share)
    assert torch.allclose(logits, model(x).detach(), atol=1e-6)
    for got, want in zip((p.grad for p in model.parameters()), expected):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)


def test_batch_targets_give_each_mini_batch_its_own_mean():
    """Rows share their own mini-batch's loss: a full batch of 4 splits 1/4 each, the last
    (2 rows) 1/2 each; with class weights, each row's weight over its batch's weight sum."""
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    one_hot, share = batch_targets(y, 2, 4, None)
    assert torch.equal(one_hot.argmax(1), y)
    assert torch.allclose(share.squeeze(1), torch.tensor([0.25] * 8 + [0.5] * 2))
    weight = torch.tensor([1.0, 3.0])
    _, weighted = batch_targets(y, 2, 4, weight)
    w = weight[y]
    expected = torch.cat([w[:4] / w[:4].sum(), w[4:8] / w[4:8].sum(), w[8:] / w[8:].sum()])
    assert torch.allclose(weighted.squeeze(1), expected)


def test_flat_parameters_are_the_module_parameters():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flat = flatten_parameters(model)
    assert flat.numel() == sum(p.numel() for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        flat.add_(1.0)
    assert all(torch.equal(before[k] + 1.0, v) for k, v in model.state_dict().items())
    model.net[0].weight.grad.fill_(2.0)
    assert flat.grad[: model.net[0].weight.numel()].eq(2.0).all()


def test_hand_gradients_refuse_a_module_without_grad_buffers():
    with pytest.raises(ValueError, match="flatten_parameters"):
        MlpGradients(_model())


def test_lightning_fit_on_hand_gradients_matches_the_autograd_fit(prepared, tmp_path, monkeypatch):
    """The stage's fit on the hand-gradient path learns what the autograd path learns, epoch by
    epoch (float rounding aside), and the loss goes down: the step really trains."""
    cfg, arrays, n_classes = prepared
    settings = cfg.train.model_copy(update={"accelerator": "cpu", "devices": 1, "epochs": 3, "batch_size": 32})
    hand = fit(settings, 0, arrays, n_classes, checkpoint_dir=tmp_path / "hand")
    monkeypatch.setattr(lit, "uses_hand_gradients", lambda trainer: False)
    auto = fit(settings, 0, arrays, n_classes, checkpoint_dir=tmp_path / "autograd")
    assert [row["epoch"] for row in hand.history] == [0, 1, 2]
    for got, want in zip(hand.history, auto.history):
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-4), key
    assert hand.history[-1]["train_loss"] < hand.history[0]["train_loss"]
    for name, value in hand.model.state_dict().items():
        assert torch.allclose(value, auto.model.state_dict()[name], atol=1e-4), name


def test_small_steps_run_on_one_thread_large_ones_on_the_default():
    adult = MlpSpec(101, (64, 64), 2)
    assert forward_macs(adult, 64) < SMALL_STEP_MACS
    assert step_threads(adult, 64, "cpu", None) == 1
    assert step_threads(MlpSpec(101, (1024, 1024), 2), 256, "cpu", None) is None
    assert step_threads(adult, 64, "cuda", None) is None
    assert step_threads(adult, 64, "cpu", 3) == 3


def test_thread_scope_restores_the_count():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1  # a count that differs from the current one, so both checks bite
    with thread_scope(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
