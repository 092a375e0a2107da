"""Fit the MLP with a Lightning Trainer: resumable, early-stopping, cost-accounted, guarded.

Importing this module is cheap (numpy and the config only); torch and Lightning are imported
when :func:`fit` runs, so ``python -m pipeline --help`` does not pay for them.

Guards: non-finite features or sample weights are refused before training; a training loss or
weights that stop being finite end the fit with :class:`BadInputError` before the epoch's
checkpoint is written, so no non-finite weights ever reach a file. Settings the machine
cannot honour (``accelerator: gpu`` without a GPU, a precision Lightning rejects) are refused
with the setting named.

The ``last`` checkpoint (see :mod:`pipeline.training.checkpoint`) is the single source of truth
for the outcome of a fit: after ``trainer.fit`` returns, the weights, history and early-stopping
state are read back from it. That is the same in one process, under ``ddp`` and under
``ddp_spawn`` (where training happens in child processes whose Python objects never come back).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import TrainSettings
from pipeline.errors import BadInputError


@dataclass
class FitResult:
    model: object  # pipeline.models.mlp.MLP on the CPU, eval mode
    history: list[dict]
    summary: dict  # deterministic: goes into the metrics file
    cost: dict  # measured on this run: goes into the compute-cost file
    notes: list[str] = field(default_factory=list)


def class_weights(y: np.ndarray, n_classes: int) -> list[float]:
    """Inverse-frequency weights ('balanced' in scikit-learn's sense)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return (len(y) / (n_classes * np.maximum(counts, 1))).tolist()


def seed_everything(seed: int) -> None:
    import pytorch_lightning as pl

    pl.seed_everything(seed, workers=True, verbose=False)


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners and known-harmless warnings out of the stage output."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*torch.use_deterministic_algorithms.*")


@contextmanager
def torch_determinism_scope():
    """Keep the global torch flags that ``Trainer(deterministic=True)`` sets from outliving the fit.

    Inside, the deterministic algorithms stay on but the NaN fill of every fresh allocation
    (``torch.utils.deterministic.fill_uninitialized_memory``) is off. The fill is a debugging
    aid that makes reads of uninitialised memory visible; torch's own kernels write every
    element they return, and no code of ours allocates without writing. It costs a noticeable
    share of a small MLP's training time on CPU, and the determinism test (two runs,
    byte-identical metrics) holds without it.
    """
    import torch
    from torch.utils import deterministic

    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        deterministic.fill_uninitialized_memory,
    )
    deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        deterministic.fill_uninitialized_memory = saved[2]


def device_settings_error(settings: TrainSettings, err: Exception) -> BadInputError:
    """The refusal of device settings Lightning or this machine cannot honour."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return BadInputError(
        f"train.accelerator: {settings.accelerator}, train.devices: {settings.devices}, "
        f"train.precision: {settings.precision}, train.strategy: {settings.strategy}, "
        f"train.num_nodes: {settings.num_nodes} cannot be used on this machine: {first}. "
        "Set train.accelerator: auto (or cpu) and train.devices: auto to train where it runs"
    )


def build_trainer(settings: TrainSettings, max_epochs: int, callbacks: list, *, validate: bool, root_dir: Path):
    """A Trainer with every per-step extra off (logger, progress bar, model summary, sanity
    validation, Lightning's ModelCheckpoint): on a small MLP each costs as much as a step.

    ``callbacks`` must include an :class:`EpochEnd`; as a ``Checkpoint`` subclass it stands in
    for Lightning's ModelCheckpoint (the atomic, weights-only ``last`` checkpoint).
    """
    import pytorch_lightning as pl
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    quiet_lightning()
    try:
        return _trainer(pl, settings, max_epochs, callbacks, validate=validate, root_dir=root_dir)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as err:
        raise device_settings_error(settings, err) from err


def _trainer(pl, settings: TrainSettings, max_epochs: int, callbacks: list, *, validate: bool, root_dir: Path):
    from pipeline.training.profiler import NoProfiler

    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        precision=settings.precision,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        deterministic=settings.deterministic,
        logger=False,
        enable_checkpointing=True,  # satisfied by our EpochEnd (a Checkpoint): Lightning adds no ModelCheckpoint
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if validate else 0,
        use_distributed_sampler=False,
        default_root_dir=str(root_dir),
        callbacks=callbacks,
        profiler=NoProfiler(),
    )


def check_finite_features(arrays: dict[str, dict[str, np.ndarray]]) -> None:
    """Refuse NaN or infinite features: one of them turns the loss and then every weight NaN."""
    for split in ("train", "val"):
        X = arrays[split]["X"]
        bad = ~np.isfinite(X)
        if bad.any():
            columns = np.flatnonzero(bad.any(axis=0))
            raise BadInputError(
                f"data/prepared/{split}.npz: {int(bad.sum())} non-finite feature value(s) (NaN or inf) in encoded "
                f"column(s) {columns[:5].tolist()}; an overflowing or missing number reached the features. "
                "Fix the source column and rerun prepare"
            )


def check_inputs(settings: TrainSettings, arrays: dict[str, dict[str, np.ndarray]], n_classes: int) -> None:
    """Refuse inputs the fit cannot use, naming the setting or file to change."""
    n_train, n_val = len(arrays["train"]["y"]), len(arrays["val"]["y"])
    if n_train == 0:
        raise BadInputError("data/prepared/train.npz: the training split has 0 rows; nothing to train on")
    if settings.patience > 0 and n_val == 0:
        raise BadInputError(
            f"train.patience is {settings.patience} (early stopping on validation loss) "
            "but the validation split has 0 rows; "
            "set data.val_size > 0 or train.patience: 0"
        )
    found = int(arrays["train"]["y"].max())
    if found >= n_classes:
        raise BadInputError(f"data/prepared/train.npz: label {found} found, but meta.json lists {n_classes} classes")
    if "sample_weight" in arrays["train"]:
        check_sample_weight(arrays["train"]["sample_weight"], n_train)
    check_finite_features(arrays)


def steps_per_epoch(n_train: int, batch_size: int, world_size: int = 1) -> int:
    """Optimiser steps one process takes per epoch (DDP pads every shard to equal length)."""
    rows = -(-n_train // world_size)
    return -(-rows // batch_size)


def planned_epochs(settings: TrainSettings, n_train: int) -> int:
    """``train.epochs``, raised until one process takes at least ``train.min_steps`` steps.

    Why: on a small data set a fixed epoch count means few optimiser steps (a 600-row split
    at batch 256 takes 3 per epoch), too few for the network to move away from predicting the
    majority class. Counting steps, not epochs, gives small and large data sets the same
    chance to learn; a data set already above the minimum trains exactly ``train.epochs``.
    """
    per_epoch = steps_per_epoch(n_train, settings.batch_size)
    return max(settings.epochs, -(-settings.min_steps // per_epoch))


def check_sample_weight(weight, n_rows: int) -> None:
    """Refuse per-row weights that would make the weighted loss undefined or silently wrong."""
    where = 'arrays["train"]["sample_weight"]'
    array = np.asarray(weight)
    if array.ndim != 1 or len(array) != n_rows:
        raise BadInputError(
            f"{where}: expected one weight per training row (shape ({n_rows},)), got shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise BadInputError(f"{where}: expected real numbers, got dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise BadInputError(
            f"{where}: {int(bad.sum())} non-finite weight(s) (NaN or inf), first at row {int(np.argmax(bad))}"
        )
    if (array < 0).any():
        first = int(np.argmax(array < 0))
        raise BadInputError(f"{where}: weights must be >= 0, row {first} has {array[first]!r}")
    if not array.sum() > 0:
        raise BadInputError(f"{where}: every weight is 0; at least one row must carry weight")


def row_weights(settings: TrainSettings, arrays, n_classes: int) -> np.ndarray | None:
    """Per-row loss weights for training when sample weights are given (None otherwise).

    The weight of row i is ``sample_weight[i] * class_weight[y[i]]`` (class factor 1 when class
    weights are off), scaled to mean 1 over the training split. A mini-batch's loss is then the
    mean of ``weight * cross_entropy`` over its rows: in expectation the sample-weighted mean
    loss of the whole split, and exactly it when the batch is the whole split. Normalising per
    mini-batch instead (torch's ``weight=`` semantics) would inflate batches whose rows carry
    little weight and is undefined for a batch of zero-weight rows, which reweighting schemes
    such as fairlearn's ExponentiatedGradient produce.
    """
    train = arrays["train"]
    if "sample_weight" not in train:
        return None
    weight = np.asarray(train["sample_weight"], dtype=np.float64)
    if settings.class_weights:
        weight = weight * np.asarray(class_weights(train["y"], n_classes))[train["y"]]
    return (weight / weight.mean()).astype(np.float32)


def rows_per_epoch(n_train: int, world_size: int) -> int:
    """Rows processed per epoch over all processes (DDP pads each shard to equal length)."""
    return n_train if world_size == 1 else -(-n_train // world_size) * world_size


def run_trainer(trainer, module, datamodule) -> None:
    """``trainer.fit`` with Lightning's Ctrl-C/SIGTERM handling mapped back to KeyboardInterrupt.

    Lightning catches KeyboardInterrupt, runs the callbacks' ``on_exception`` and calls
    ``sys.exit(1)``; the CLI should report exit 130. The last completed epoch's checkpoint is
    already on disk: it is written in the training thread at the end of each epoch.
    """
    try:
        trainer.fit(module, datamodule=datamodule)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt("training interrupted; the last completed epoch's checkpoint is kept") from None
        raise


@dataclass
class _Run:
    """What one invocation of the Trainer did (nothing when the checkpoint was already finished)."""

    wall_s: float = 0.0
    world_size: int = 1
    root_device: object = None  # torch.device; None until a Trainer ran
    energy: dict | None = None
    torch_threads: int | None = None  # intra-op threads the steps ran with


def _build_module(settings: TrainSettings, spec, arrays, n_classes: int, resumed: dict | None, start_epoch: int):
    """The LightningModule, carrying a resumed run's weights, optimiser state and history."""
    from pipeline.training.lit import LitClassifier

    weights = class_weights(arrays["train"]["y"], n_classes) if settings.class_weights else None
    module = LitClassifier(
        spec,
        settings.lr,
        settings.batch_size,
        settings.weight_decay,
        weights,
        epoch_offset=start_epoch,
        row_weights="sample_weight" in arrays["train"],
    )
    if resumed:
        module.model.load_state_dict(resumed["model"])
        module.optimizer_state = resumed["optimizer"]
        module.history = list(resumed["history"])
    return module


def _train(
    settings: TrainSettings, seed: int, arrays, module, epochs: int, epoch_end, checkpoint_dir: Path, callbacks
) -> _Run:
    """Run the Trainer for ``epochs`` epochs, timing it and measuring energy where possible.

    Mini-batches are grouped into fewer Lightning batches only when no extra callback is
    given: a caller's callback may watch single batches or count steps per batch
    (``ModelCheckpoint(every_n_train_steps=...)``, ``val_check_interval``), and then each
    Lightning batch is one mini-batch, so those features behave as Lightning documents them.
    The mini-batch sequence and the results are the same either way.
    """
    import torch

    from pipeline.training import cost
    from pipeline.training.datamodule import TensorDataModule
    from pipeline.training.threads import step_threads, thread_scope

    datamodule = TensorDataModule(
        arrays["train"]["X"],
        arrays["train"]["y"],
        arrays["val"]["X"],
        arrays["val"]["y"],
        batch_size=settings.batch_size,
        seed=seed,
        w_train=row_weights(settings, arrays, module.model.spec.n_classes),
        group_steps=not callbacks,
    )
    with torch_determinism_scope():
        trainer = build_trainer(
            settings,
            epochs,
            [epoch_end, *(callbacks or [])],
            validate=len(arrays["val"]["y"]) > 0,
            root_dir=checkpoint_dir,
        )
        run = _Run(world_size=trainer.world_size, root_device=trainer.strategy.root_device)
        threads = step_threads(module.model.spec, settings.batch_size, run.root_device.type, settings.num_threads)
        uses_cuda = run.root_device.type == "cuda"
        if uses_cuda and run.world_size == 1:  # under DDP the peak belongs to the worker processes
            torch.cuda.reset_peak_memory_stats(run.root_device)
        meter = cost.EnergyMeter(
            enabled=settings.energy.enabled, uses_cuda=uses_cuda, country_iso_code=settings.energy.country_iso_code
        )
        with meter, thread_scope(threads):
            run.torch_threads = torch.get_num_threads()
            started = time.perf_counter()
            run_trainer(trainer, module, datamodule)
            run.wall_s = time.perf_counter() - started
    run.energy = meter.result
    return run


def check_finite_state(state: dict, where: str) -> None:
    """Refuse weights with NaN or infinite values: no such model may be saved or used."""
    import torch

    bad = [name for name, value in state.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise BadInputError(
            f"{where}: non-finite values (NaN or inf) in {', '.join(bad)}; training diverged. "
            "Nothing is saved; lower train.lr or check the prepared data for extreme values"
        )


def _summary(spec, final: dict, stop: dict, restored: bool, n_train: int, batch_size: int, world: int) -> dict:
    """The deterministic outcome of the fit (goes into reports/metrics/train.json)."""
    from pipeline.training import cost

    history = list(final["history"])
    epochs_run = len(history)
    per_epoch = rows_per_epoch(n_train, world)
    return {
        "final": history[-1] if history else {},
        "best": next((row for row in history if row["epoch"] == stop["best_epoch"]), None),
        "epochs_run": epochs_run,
        "optimizer_steps": epochs_run * steps_per_epoch(n_train, batch_size, world),
        "stopped_early": bool(final["stopped_early"]),
        "restored_best_weights": bool(restored),
        "cost": cost.work_done(spec, samples_seen=per_epoch * epochs_run, epochs_run=epochs_run),
    }


def fit(
    settings: TrainSettings,
    seed: int,
    arrays: dict[str, dict[str, np.ndarray]],
    n_classes: int,
    *,
    checkpoint_dir: Path,
    callbacks: list | None = None,
) -> FitResult:
    """Train on ``arrays['train']``, validate each epoch on ``arrays['val']``.

    With ``settings.resume`` a ``last`` checkpoint in ``checkpoint_dir`` made with the same
    params and data is continued from its last completed epoch; one made with other params or
    data is refused (:class:`IntegrityError`). ``callbacks`` are extra Lightning callbacks.
    ``arrays['train']`` may carry ``sample_weight`` (one non-negative weight per row).
    Quiet and self-contained, so it can be called many times in one process (e.g. by a
    reweighting estimator) with a temporary ``checkpoint_dir``.
    """
    from pipeline.models.mlp import MAX_PARAMETERS, MLP, MlpSpec
    from pipeline.training import checkpoint, cost
    from pipeline.training.callbacks import EpochEnd

    check_inputs(settings, arrays, n_classes)
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint.remove_stale_temporaries(checkpoint_dir)
    last_path = checkpoint_dir / checkpoint.LAST_NAME
    fingerprint = checkpoint.fingerprint(settings, seed, arrays)
    resumed = checkpoint.load(last_path, fingerprint) if settings.resume and last_path.is_file() else None
    start_epoch = resumed["epoch"] + 1 if resumed else 0
    notes = [f"resumed after epoch {resumed['epoch']} from {last_path}"] if resumed else []
    n_train = len(arrays["train"]["y"])
    epochs = planned_epochs(settings, n_train)
    if epochs > settings.epochs:
        notes.append(
            f"{epochs} epochs instead of train.epochs {settings.epochs}, "
            f"to take train.min_steps {settings.min_steps} steps"
        )

    spec = MlpSpec(arrays["train"]["X"].shape[1], tuple(settings.hidden), n_classes)
    if spec.parameter_count() > MAX_PARAMETERS:
        raise BadInputError(
            f"train.hidden {list(settings.hidden)} on {spec.n_inputs} features makes {spec.parameter_count():,} "
            f"parameters, more than the {MAX_PARAMETERS:,} allowed; use narrower layers"
        )
    seed_everything(seed)
    module = _build_module(settings, spec, arrays, n_classes, resumed, start_epoch)

    remaining = 0 if resumed and resumed["finished"] else epochs - start_epoch
    run = _Run()
    if remaining > 0:
        epoch_end = EpochEnd(last_path, fingerprint, patience=settings.patience, max_epochs=epochs, resumed=resumed)
        run = _train(settings, seed, arrays, module, remaining, epoch_end, checkpoint_dir, callbacks)
        final = checkpoint.load(last_path, fingerprint)
    else:
        final = resumed
        notes.append("the checkpoint already holds a finished training; nothing left to train")

    stop = final["early_stopping"]
    restore_best = settings.patience > 0 and stop["best_model"] is not None
    state = stop["best_model"] if restore_best else final["model"]
    check_finite_state(state, str(last_path))
    model = MLP(spec)
    model.load_state_dict(state)
    model.eval()
    summary = _summary(spec, final, stop, restore_best, n_train, settings.batch_size, run.world_size)
    trained_now = summary["epochs_run"] - start_epoch
    measured = cost.measured_cost(
        run.root_device,
        threads=run.torch_threads,
        world_size=run.world_size,
        precision=settings.precision,
        strategy=settings.strategy,
        epochs_this_run=trained_now,
        resumed_after_epoch=resumed["epoch"] if resumed else None,
        wall_s=run.wall_s,
        samples_this_run=rows_per_epoch(n_train, run.world_size) * trained_now,
        energy=run.energy,
    )
    return FitResult(model=model, history=list(final["history"]), summary=summary, cost=measured, notes=notes)
