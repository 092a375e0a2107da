"""DP-SGD training with Opacus, in a plain PyTorch loop (not inside the Lightning Trainer).

Why not Lightning: Opacus 1.6 ships only ``opacus.lightning.DPLightningDataModule`` (Poisson
sampling of a DataLoader); the optimizer and per-sample-gradient wrapping are left to the user's
``LightningModule``, and Opacus's own Lightning example reaches them through
``trainer._data_connector._train_dataloader_source`` and ``pytorch_lightning.utilities.cli``,
both gone from pytorch-lightning 2.6. Wiring ``make_private`` through private Trainer internals
would break silently on the next Lightning release; ``PrivacyEngine.make_private`` on a plain
loop is Opacus's documented path, and its privacy accounting is the point of this mode.

The network is the same :class:`~pipeline.models.mlp.MLP`; the result is the same
:class:`~pipeline.training.fit.FitResult`, with the (ε, δ) spent in ``cost["dp"]`` and ε per epoch
in the history.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from pipeline.config import TrainSettings
from pipeline.training.fit import FitResult


def _evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss, acc = float(loss_fn(logits, y)), float((logits.argmax(1) == y).float().mean())
    model.train()
    return loss, acc


def _make_private(engine, settings: TrainSettings, model, optimizer, loader, generator):
    """``make_private`` with the noise multiplier, or ``make_private_with_epsilon`` with a target ε."""
    dp = settings.dp
    common = dict(
        module=model, optimizer=optimizer, data_loader=loader, max_grad_norm=dp.max_grad_norm, noise_generator=generator
    )
    if dp.target_epsilon is not None:
        return engine.make_private_with_epsilon(
            **common, target_epsilon=dp.target_epsilon, target_delta=dp.delta, epochs=settings.epochs
        )
    return engine.make_private(**common, noise_multiplier=dp.noise_multiplier)


def fit_dp(settings: TrainSettings, seed: int, arrays: dict[str, dict[str, np.ndarray]], n_classes: int, **_ignored) -> FitResult:
    """Train with DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise, RDP accounting)."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from pipeline.errors import BadInputError
    from pipeline.models.mlp import MLP, MlpSpec, count_parameters, flops_per_sample

    if "sample_weight" in arrays["train"]:
        raise BadInputError("sample_weight is not supported with train.dp.enabled: true (DP-SGD clips per-row gradients)")
    torch.manual_seed(seed)
    x_train, y_train = torch.from_numpy(arrays["train"]["X"]), torch.from_numpy(arrays["train"]["y"])
    x_val, y_val = torch.from_numpy(arrays["val"]["X"]), torch.from_numpy(arrays["val"]["y"])
    spec = MlpSpec(x_train.shape[1], tuple(settings.hidden), n_classes)
    model = MLP(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        TensorDataset(x_train, y_train), batch_size=min(settings.batch_size, len(y_train)), generator=generator
    )
    engine = PrivacyEngine(accountant="rdp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message=".*full_backward_hook.*")
        private_model, optimizer, loader = _make_private(engine, settings, model, optimizer, loader, generator)
    loss_fn = torch.nn.CrossEntropyLoss()
    history = []
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        total, seen, correct = 0.0, 0, 0
        for xb, yb in loader:
            if len(yb) == 0:  # Poisson sampling can draw an empty batch; nothing to learn from it
                continue
            optimizer.zero_grad()
            logits = private_model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            total, seen, correct = (
                total + float(loss) * len(yb),
                seen + len(yb),
                correct + int((logits.argmax(1) == yb).sum()),
            )
        val_loss, val_acc = _evaluate(model, x_val, y_val, loss_fn)
        history.append({"epoch": epoch, "train_loss": total / max(seen, 1), "train_accuracy": correct / max(seen, 1),
                        "val_loss": val_loss, "val_accuracy": val_acc, "epsilon": engine.get_epsilon(settings.dp.delta)})  # fmt: skip
    wall = time.perf_counter() - start
    model = model.to("cpu").eval()
    dp = {
        "epsilon": engine.get_epsilon(settings.dp.delta),
        "delta": settings.dp.delta,
        "noise_multiplier": float(optimizer.noise_multiplier),
        "max_grad_norm": settings.dp.max_grad_norm,
        "target_epsilon": settings.dp.target_epsilon,
        "accountant": "rdp",
        "sample_rate": 1 / len(loader),
        "steps": len(loader) * settings.epochs,
        "trainer": "plain PyTorch loop with opacus.PrivacyEngine (not Lightning: see pipeline/training/dp.py)",
    }
    summary = {
        "final": history[-1] if history else {},
        "epochs_run": settings.epochs,
        "stopped_early": False,
        "cost": {"parameters": count_parameters(model), "flops_per_sample_forward": flops_per_sample(spec), "dp": dp},
    }
    cost = {
        "fit_wall_time_s": wall,
        "epochs_this_run": settings.epochs,
        "wall_time_per_epoch_s": wall / settings.epochs,
        "samples_per_s": len(y_train) * settings.epochs / wall if wall > 0 else None,
        "device": "cpu",
    }
    return FitResult(model=model, history=history, summary=summary, cost=cost, notes=["DP-SGD: no checkpoint/resume"])
