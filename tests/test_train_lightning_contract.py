"""The training loop keeps Lightning's contract: ``global_step`` counts every optimiser step,
a step-based scheduler and step-based checkpointing behave as Lightning documents them, with
mini-batches grouped into Lightning batches or not."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from pipeline.models.mlp import MlpSpec
from pipeline.training.datamodule import TensorDataModule
from pipeline.training.fit import fit, steps_per_epoch
from pipeline.training.lit import LitClassifier

BATCH = 32
EPOCHS = 3


def _settings(cfg, **changes):
    energy = cfg.train.energy.model_copy(update={"enabled": False})
    base = {"accelerator": "cpu", "devices": 1, "epochs": EPOCHS, "batch_size": BATCH, "energy": energy}
    return cfg.train.model_copy(update={**base, **changes})


class StepLrClassifier(LitClassifier):
    """Our module with a step-interval scheduler, configured the way Lightning documents it."""

    def configure_optimizers(self):
        optimizer = super().configure_optimizers()
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class Steps(pl.Callback):
    """Records global_step after every Lightning batch and at the end of training."""

    def __init__(self):
        self.after_batch: list[int] = []
        self.final: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_batch.append(trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        self.final = trainer.global_step


def _trainer(callbacks, tmp_path) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=callbacks,
        enable_checkpointing=False,
    )


@pytest.mark.parametrize("group_steps", [True, False])
def test_global_step_counts_every_optimiser_step_and_drives_a_step_scheduler(prepared, tmp_path, group_steps):
    cfg, arrays, n_classes = prepared
    x, y = arrays["train"]["X"], arrays["train"]["y"]
    module = StepLrClassifier(MlpSpec(x.shape[1], (8,), n_classes), lr=0.01, batch_size=BATCH)
    data = TensorDataModule(
        x, y, arrays["val"]["X"], arrays["val"]["y"], batch_size=BATCH, seed=0, group_steps=group_steps
    )
    steps = Steps()
    trainer = _trainer([steps], tmp_path)
    trainer.fit(module, datamodule=data)

    expected = EPOCHS * steps_per_epoch(len(y), BATCH)
    assert trainer.global_step == steps.final == expected
    per_batch = len(steps.after_batch) // EPOCHS
    assert per_batch == (1 if group_steps else steps_per_epoch(len(y), BATCH))  # grouping is what differs
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == expected  # stepped once per optimiser step
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** (expected // 7))


# Lightning warns that under manual optimisation a step checkpoint holds the state after that
# step (documented behaviour, and what "checkpoint at step 5" means here).
@pytest.mark.filterwarnings("ignore:Using ModelCheckpoint with manual optimization")
def test_fit_reports_the_steps_lightning_counted_and_step_checkpoints_land_on_every_nth_step(prepared, tmp_path):
    """fit with a caller's callbacks: one mini-batch per Lightning batch, so Lightning's own
    ``ModelCheckpoint(every_n_train_steps=5)`` saves at steps 5, 10, 15, ... as documented."""
    cfg, arrays, n_classes = prepared
    steps = Steps()
    every = ModelCheckpoint(dirpath=tmp_path / "steps", filename="{step}", every_n_train_steps=5, save_top_k=-1)
    result = fit(_settings(cfg), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "ck", callbacks=[steps, every])

    expected = EPOCHS * steps_per_epoch(len(arrays["train"]["y"]), BATCH)
    assert steps.final == expected == result.summary["optimizer_steps"]
    assert steps.after_batch == list(range(1, expected + 1))
    saved = sorted(int(p.stem.split("=")[1]) for p in (tmp_path / "steps").glob("step=*.ckpt"))
    assert saved == list(range(5, expected + 1, 5))


def test_grouped_and_ungrouped_fits_give_identical_results(prepared, tmp_path):
    """Grouping mini-batches into Lightning batches saves Lightning's per-batch cost only: the
    same steps, history and weights (a callback turns grouping off)."""
    cfg, arrays, n_classes = prepared
    grouped = fit(_settings(cfg), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "g")
    single = fit(_settings(cfg), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "s", callbacks=[Steps()])
    assert grouped.history == single.history
    a, b = grouped.model.state_dict(), single.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


class HookCalls(pl.Callback):
    """Counts the per-step hooks and records the hook name Lightning set on the module."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        self.fx_names: set[str] = set()

    def _record(self, name, pl_module):
        self.calls[name] = self.calls.get(name, 0) + 1
        self.fx_names.add(pl_module._current_fx_name)

    def on_before_backward(self, trainer, pl_module, loss):
        self._record("on_before_backward", pl_module)

    def on_after_backward(self, trainer, pl_module):
        self._record("on_after_backward", pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self._record("on_before_optimizer_step", pl_module)


def test_every_per_step_hook_runs_once_per_optimiser_step_under_the_quiet_profiler(prepared, tmp_path):
    """The fit's Trainer uses NoProfiler and LitClassifier's attribute fast path: Lightning still
    calls each per-step hook once per optimiser step and names the running hook on the module."""
    from pipeline.training.profiler import NoProfiler

    cfg, arrays, n_classes = prepared
    hooks, seen = HookCalls(), []

    class Spy(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            seen.append(trainer.profiler)

    result = fit(_settings(cfg), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path, callbacks=[hooks, Spy()])
    steps = result.summary["optimizer_steps"]
    assert isinstance(seen[0], NoProfiler)
    assert hooks.calls == {"on_before_backward": steps, "on_after_backward": steps, "on_before_optimizer_step": steps}
    assert hooks.fx_names == set(hooks.calls)


def test_attribute_writes_on_the_module_behave_as_on_any_torch_module():
    """LitClassifier skips nn.Module's registration checks only where they cannot apply: the
    same writes register, replace and refuse parameters, buffers and modules as nn.Module."""

    def writes(module: torch.nn.Module) -> list:
        outcomes = []
        for name, value in [
            ("note", 1),
            ("note", "two"),  # a plain attribute written again: the fast path
            ("note", torch.nn.Parameter(torch.ones(2))),  # becomes a parameter
            ("note", None),  # None into a parameter slot is allowed
            ("note", 3),  # a non-parameter into a parameter slot is refused
            ("extra", torch.nn.Linear(1, 1)),
            ("extra", 4),  # a non-module into a module slot is refused
            ("class_weight", "five"),  # a non-tensor into a buffer slot is refused
            ("class_weight", torch.zeros(2)),
        ]:
            try:
                setattr(module, name, value)
                outcomes.append((name, "ok"))
            except TypeError as err:
                outcomes.append((name, type(err).__name__))
        return outcomes + [sorted(module.state_dict()), sorted(dict(module.named_parameters()))]

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Linear(3, 2)
            self.register_buffer("class_weight", None, persistent=False)

    ours = LitClassifier(MlpSpec(3, (), 2), lr=0.1, batch_size=4)
    ours.model = torch.nn.Linear(3, 2)  # the same children as the reference
    reference = Reference()
    assert writes(ours) == writes(reference)
    assert ours.__dict__.get("note") is None and ours._parameters["note"] is None
