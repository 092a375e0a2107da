"""DP-SGD training with Opacus, in a plain PyTorch loop (not inside the Lightning Trainer).

Why not Lightning: Opacus 1.6 ships only ``opacus.lightning.DPLightningDataModule`` (Poisson
sampling of a DataLoader); the optimizer and per-sample-gradient wrapping are left to the user's
``LightningModule``, and Opacus's own Lightning example reaches them through
``trainer._data_connector._train_dataloader_source`` and ``pytorch_lightning.utilities.cli``,
both gone from pytorch-lightning 2.6. Wiring ``make_private`` through private Trainer internals
would break silently on the next Lightning release; ``PrivacyEngine.make_private`` on a plain
loop is Opacus's documented path, and its privacy accounting is the point of this mode.

The network is the same :class:`~pipeline.models.mlp.MLP`; the result is the same
:class:`~pipeline.training.fit.FitResult` with the same summary and measured-cost schema as the
Lightning fit (:func:`pipeline.training.cost.measured_cost`), plus the (ε, δ) spent in
``summary["cost"]["dp"]`` and ε per epoch in the history. The same divergence guard applies.
``train.min_steps`` does not raise the epochs here: ε depends on the number of steps, so DP
training runs exactly ``train.epochs``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from pipeline.config import TrainSettings
from pipeline.errors import BadInputError
from pipeline.training import cost
from pipeline.training.fit import FitResult, check_finite_features, check_finite_state


def _evaluate(model, x, y, loss_fn) -> dict[str, float]:
    import torch

    if len(y) == 0:
        return {}
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss, acc = float(loss_fn(logits, y)), float((logits.argmax(1) == y).float().mean())
    model.train()
    return {"val_loss": loss, "val_accuracy": acc}


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


def fit_dp(
    settings: TrainSettings, seed: int, arrays: dict[str, dict[str, np.ndarray]], n_classes: int, **_ignored
) -> FitResult:
    """Train with DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise, RDP accounting)."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from pipeline.models.mlp import MLP, MlpSpec

    if "sample_weight" in arrays["train"]:
        raise BadInputError(
            "sample_weight is not supported with train.dp.enabled: true (DP-SGD clips per-row gradients)"
        )
    check_finite_features(arrays)
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
        history.append({"epoch": epoch, **_train_epoch(private_model, optimizer, loader, loss_fn)})
        history[-1].update(_evaluate(model, x_val, y_val, loss_fn))
        history[-1]["epsilon"] = engine.get_epsilon(settings.dp.delta)
        _refuse_divergence(history[-1], model, settings.lr)
    wall = time.perf_counter() - start
    model = model.to("cpu").eval()
    check_finite_state(model.state_dict(), "DP-SGD model")
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
    n_train = len(y_train)
    summary = {
        "final": history[-1] if history else {},
        "best": None,
        "epochs_run": settings.epochs,
        "optimizer_steps": len(loader) * settings.epochs,  # Poisson batches: expected count, as the accountant uses
        "stopped_early": False,
        "restored_best_weights": False,
        "cost": {**cost.work_done(spec, samples_seen=n_train * settings.epochs, epochs_run=settings.epochs), "dp": dp},
    }
    measured = cost.measured_cost(
        torch.device("cpu"),
        threads=torch.get_num_threads(),
        world_size=1,
        precision="32-true",
        strategy="single process",
        epochs_this_run=settings.epochs,
        resumed_after_epoch=None,
        wall_s=wall,
        samples_this_run=n_train * settings.epochs,
        energy={"status": "unavailable", "reason": "not measured for DP-SGD training"},
    )
    return FitResult(
        model=model, history=history, summary=summary, cost=measured, notes=["DP-SGD: no checkpoint/resume"]
    )


def _train_epoch(private_model, optimizer, loader, loss_fn) -> dict[str, float]:
    """One epoch of DP-SGD steps; the mean loss and accuracy over the rows sampled."""
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
            total + float(loss.detach()) * len(yb),
            seen + len(yb),
            correct + int((logits.argmax(1) == yb).sum()),
        )
    return {"train_loss": total / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


def _refuse_divergence(row: dict, model, lr: float) -> None:
    """The same refusal as the Lightning loop's: no non-finite model leaves training."""
    import math

    if math.isfinite(row["train_loss"]):
        return
    check_finite_state(model.state_dict(), f"DP-SGD training, epoch {row['epoch']}")
    raise BadInputError(
        f"training diverged in epoch {row['epoch']}: training loss {row['train_loss']}. Nothing is saved; "
        f"lower train.lr (now {lr:g}) or check the prepared data for extreme values"
    )
