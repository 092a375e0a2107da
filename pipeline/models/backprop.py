"""Closed-form gradients of the MLP's cross-entropy loss: a training step without autograd.

Why this exists. A training step of the default MLP (64-64) on a mini-batch of 64 rows is
about twenty tiny kernels. On CPU each one costs 5-30 µs of dispatch, and autograd adds its
own bookkeeping per op (graph nodes, saved tensors, gradient accumulation); measured on 2 CPU
cores with one thread, a step with autograd took 600-740 µs, the same step with the gradients
written out here 470-600 µs. That difference is what decides whether training is faster than
scikit-learn's MLPClassifier, which also backpropagates by hand (in numpy). ``torch.compile``
was tried instead: 24 s to compile, no faster per step.

What it computes. For ``Linear -> ReLU -> ... -> Linear`` and the (class-weighted) mean
cross-entropy of one mini-batch, the gradient at the logits is ``(softmax - one_hot) * w_i /
sum(w)`` and it flows back through each layer with two matrix products and ReLU's mask, the
same kernels autograd would run (``tests/test_train_backprop.py`` checks the gradients against
autograd's). The gradients are written straight into the parameters' ``.grad`` tensors, so any
``torch.optim`` optimiser steps on them unchanged.

Where it is used: only where Lightning's backward and optimiser wrappers do nothing we need
(one device, ``32-true`` precision; see :func:`pipeline.models.lit.uses_hand_gradients`).
DDP, mixed precision and DP-SGD keep autograd.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.models.mlp import MLP

_relu_backward = torch.ops.aten.threshold_backward  # ReLU's own backward kernel: one op, not mask + multiply


def flatten_parameters(module: nn.Module) -> nn.Parameter:
    """Make every parameter (and its ``.grad``) of ``module`` a view into one flat tensor.

    Returns the flat parameter, whose ``.grad`` is the flat gradient; an optimiser given only
    it updates the whole module in one call. Why: ``torch.optim.Adam.step`` pays its Python
    cost (grouping, step counters) per parameter tensor; one tensor instead of six made a
    batch-64 step 3-10% faster (four runs, one thread, 2 CPU cores). Values are unchanged; the
    module still reports its parameters layer by layer (state_dict, captum, checkpoints).
    """
    params = list(module.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    flat_grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
        p.grad = flat_grad[offset : offset + n].view_as(p)
        offset += n
    flat_param = nn.Parameter(flat)
    flat_param.grad = flat_grad
    return flat_param


def batch_targets(
    y: torch.Tensor, n_classes: int, batch_size: int, class_weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot targets and each row's share of its mini-batch's loss, for all batches of an item.

    The share is ``w_i / sum(w over the row's mini-batch)`` (``1 / rows`` without class
    weights), which makes the summed gradient that of each mini-batch's mean loss. Computed
    once per item, so a step only slices it.
    """
    one_hot = F.one_hot(y, n_classes).to(torch.float32)
    weights = class_weight[y] if class_weight is not None else torch.ones(len(y), device=y.device)
    n_steps = -(-len(y) // batch_size)
    padded = F.pad(weights, (0, n_steps * batch_size - len(y)))
    batch_sums = padded.view(n_steps, batch_size).sum(1)
    share = weights / batch_sums.repeat_interleave(batch_size)[: len(y)]
    return one_hot, share.unsqueeze(1)


class MlpGradients:
    """Forward pass and closed-form loss gradients of one :class:`MLP`, written into ``.grad``.

    Every parameter must have a ``.grad`` tensor of its own shape when this is built
    (:func:`flatten_parameters` provides them: views of the flat gradient). Those tensors are
    kept and written by every step, even if something later resets ``.grad`` (Lightning calls
    ``zero_grad(set_to_none=True)`` on the module when a fit starts). Each step overwrites them
    entirely, so nothing needs zeroing.
    """

    def __init__(self, mlp: MLP):
        layers = list(mlp.net)
        if not all(isinstance(m, nn.Linear if i % 2 == 0 else nn.ReLU) for i, m in enumerate(layers)):
            raise TypeError("MlpGradients needs Linear -> ReLU -> ... -> Linear, got " + str(mlp.net))
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        if any(p.grad is None for m in linears for p in (m.weight, m.bias)):
            raise ValueError("every parameter needs a .grad tensor to write into; call flatten_parameters first")
        self.weights = [m.weight for m in linears]
        self.biases = [m.bias for m in linears]
        self.weight_grads = [m.weight.grad for m in linears]
        self.bias_grads = [m.bias.grad for m in linears]

    @torch.no_grad()
    def step(self, x: torch.Tensor, one_hot: torch.Tensor, share: torch.Tensor) -> torch.Tensor:
        """Write the loss gradients of this mini-batch into ``.grad``; return its logits."""
        activations = [x]
        out = x
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            out = torch.addmm(bias, out, weight.t())
            if i < last:
                out.relu_()
            activations.append(out)
        grad = torch.softmax(out, 1).sub_(one_hot).mul_(share)
        for i in range(last, -1, -1):
            torch.mm(grad.t(), activations[i], out=self.weight_grads[i])
            torch.sum(grad, 0, out=self.bias_grads[i])
            if i:
                grad = _relu_backward(torch.mm(grad, self.weights[i]), activations[i], 0.0)
        return out
