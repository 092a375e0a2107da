"""Fitting on a real slice of Adult: determinism, early stopping, class weights, interruption
and resume, refusals, and the training section of the report."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pipeline import io, paths
from pipeline.errors import BadInputError, IntegrityError
from pipeline.training import checkpoint
from pipeline.training.fit import class_weights, fit


def _settings(cfg, **changes):
    return cfg.train.model_copy(update={"accelerator": "cpu", "devices": 1, **changes})


def _val_loss(model, arrays, weight=None) -> float:
    with torch.no_grad():
        logits = model(torch.from_numpy(arrays["val"]["X"]))
    w = None if weight is None else torch.tensor(weight, dtype=torch.float32)
    return float(F.cross_entropy(logits, torch.from_numpy(arrays["val"]["y"]), weight=w))


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class InterruptAt(__import__("pytorch_lightning").Callback):
    """Raise KeyboardInterrupt (what the CLI turns SIGTERM into) as epoch ``epoch`` starts."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if pl_module.epoch == self.epoch:
            raise KeyboardInterrupt("test interrupt")


@pytest.fixture
def keep_sigint():
    """Lightning ignores SIGINT after handling an interrupt; give pytest its handler back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_stage_twice_gives_identical_metrics_curves_and_weights(prepared):
    """Determinism: metrics files are byte-identical; only the measured cost file may differ."""
    from pipeline.stages import train

    cfg, _, _ = prepared
    cfg = cfg.model_copy(update={"train": _settings(cfg, epochs=2, batch_size=32)})
    outputs = (paths.TRAIN_METRICS, paths.TRAIN_CURVES, paths.MODEL_WEIGHTS, paths.MODEL_SPEC)
    runs = []
    for _ in range(2):
        train.main(cfg)
        runs.append({p: p.read_bytes() for p in outputs})
        cost = io.read_json(paths.TRAIN_COST)
        assert cost["epochs_this_run"] == 2 and cost["fit_wall_time_s"] > 0
    for path in outputs:
        assert runs[0][path] == runs[1][path], f"{path} differs between two identical runs"
    metrics = io.read_json(paths.TRAIN_METRICS)
    assert "wall_time_s" not in str(metrics) and metrics["epochs_run"] == 2


def test_early_stopping_keeps_the_best_epochs_weights(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    settings = _settings(cfg, epochs=30, lr=0.05, batch_size=16, patience=2)
    result = fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)
    losses = [row["val_loss"] for row in result.history]
    best = int(np.argmin(losses))
    assert result.summary["stopped_early"] and len(losses) < 30
    assert len(losses) == best + 1 + settings.patience  # stopped exactly `patience` epochs after the best
    assert result.summary["best"]["epoch"] == best and result.summary["restored_best_weights"]
    assert _val_loss(result.model, arrays) == pytest.approx(losses[best], rel=1e-5)


def test_class_weights_enter_the_loss(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    result = fit(_settings(cfg, epochs=1, class_weights=True), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)
    weight = class_weights(arrays["train"]["y"], n_classes)
    assert weight[1] > 1 > weight[0]  # Adult: the favourable '>50K' class is the minority
    expected = _val_loss(result.model, arrays, weight)
    assert result.history[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert _val_loss(result.model, arrays) != pytest.approx(expected, rel=1e-3)


def test_interrupted_then_resumed_equals_uninterrupted(prepared, tmp_path, keep_sigint):
    cfg, arrays, n_classes = prepared
    settings = _settings(cfg, epochs=4, batch_size=32)
    whole = fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "whole")

    with pytest.raises(KeyboardInterrupt):
        fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "cut", callbacks=[InterruptAt(2)])
    kept = checkpoint.load(tmp_path / "cut" / checkpoint.LAST_NAME)
    assert kept["epoch"] == 1 and not kept["finished"]

    resumed = fit(
        settings.model_copy(update={"resume": True}), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "cut"
    )
    assert resumed.cost["resumed_after_epoch"] == 1 and resumed.cost["epochs_this_run"] == 2
    assert resumed.history == whole.history
    assert io.dumps_json(resumed.summary) == io.dumps_json(whole.summary)
    assert _same_weights(resumed.model, whole.model)

    again = fit(
        settings.model_copy(update={"resume": True}), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path / "cut"
    )
    assert again.cost["epochs_this_run"] == 0 and again.history == whole.history  # finished: nothing left to train


def test_resume_refuses_a_checkpoint_from_other_params_or_data(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    settings = _settings(cfg, epochs=1)
    fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)
    with pytest.raises(IntegrityError, match="different training params"):
        fit(
            settings.model_copy(update={"resume": True, "lr": 0.01}),
            cfg.seed,
            arrays,
            n_classes,
            checkpoint_dir=tmp_path,
        )
    other = {s: {k: v.copy() for k, v in arrays[s].items()} for s in arrays}
    other["train"]["X"][0, 0] += 1
    with pytest.raises(IntegrityError, match="different prepared data"):
        fit(settings.model_copy(update={"resume": True}), cfg.seed, other, n_classes, checkpoint_dir=tmp_path)


def test_resume_refuses_a_checkpoint_of_the_previous_format(prepared, tmp_path):
    """Checkpoints of the removed hand-gradient loop (format 1, one flat Adam parameter) cannot
    continue on autograd's per-layer optimiser state: a clear refusal, not a crash."""
    cfg, arrays, n_classes = prepared
    settings = _settings(cfg, epochs=1)
    fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)
    last = tmp_path / checkpoint.LAST_NAME
    state = torch.load(last, weights_only=True)
    last.write_bytes(checkpoint.serialise({**state, "format": 1}))  # the state's format wins
    with pytest.raises(IntegrityError, match="format 1, expected 2.*train.resume: false"):
        fit(settings.model_copy(update={"resume": True}), cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)


def test_early_stopping_without_validation_rows_is_refused(prepared, tmp_path):
    cfg, arrays, n_classes = prepared
    empty = {**arrays, "val": {"X": arrays["val"]["X"][:0], "y": arrays["val"]["y"][:0]}}
    with pytest.raises(BadInputError, match="train.patience is 3"):
        fit(_settings(cfg, patience=3), cfg.seed, empty, n_classes, checkpoint_dir=tmp_path)


def test_report_section_shows_curves_and_work_and_points_to_measured_cost(prepared):
    from pipeline.report import sections_training
    from pipeline.report.context import collect
    from pipeline.training.cost import power_sources

    cfg, _, _ = prepared
    if not paths.TRAIN_METRICS.is_file():
        from pipeline.stages import train

        train.main(cfg.model_copy(update={"train": _settings(cfg, epochs=2, batch_size=32)}))
    ctx = collect(cfg)
    section = sections_training.build(ctx)
    captions = [caption for caption, _ in section.tables]
    assert section.available and any(c.startswith("Training curves") for c in captions)
    work = dict(section.tables[captions.index(next(c for c in captions if c.startswith("Work done")))][1].rows)
    assert work["Parameters"] == str(ctx["train"]["cost"]["parameters"])
    # measured figures vary between runs: the report points to them instead of printing them
    assert not any(c.startswith("Measured") for c in captions)
    text = " ".join(section.paragraphs)
    assert "reports/compute/train_cost.json" in text
    sources, _ = power_sources(uses_cuda=False)
    if not any(sources.values()):  # no power counters here: said so, with the reason, and no figure
        assert "Energy and CO2: unavailable (" in text
    assert section.figures and "<svg" in section.figures[0][1]
    assert not sections_training.build({**ctx, "train": None}).available


def test_min_steps_raises_the_epochs_of_a_small_data_set(prepared, tmp_path):
    """A small split gets at least train.min_steps optimiser steps; a large one keeps its epochs."""
    from pipeline.training.fit import planned_epochs, steps_per_epoch

    cfg, arrays, n_classes = prepared
    n_train = len(arrays["train"]["y"])
    settings = _settings(cfg, epochs=2, batch_size=64, min_steps=40)
    per_epoch = steps_per_epoch(n_train, 64)
    expected = max(2, -(-40 // per_epoch))
    assert expected > 2  # the tiny split needs more than 2 epochs for 40 steps
    assert planned_epochs(settings, n_train) == expected
    assert planned_epochs(settings, 40 * 64) == 2  # enough rows: train.epochs stands
    result = fit(settings, cfg.seed, arrays, n_classes, checkpoint_dir=tmp_path)
    assert result.summary["epochs_run"] == expected and result.summary["optimizer_steps"] >= 40
    assert any("train.min_steps 40" in note for note in result.notes)
