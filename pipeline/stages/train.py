"""Stage ``train``: fit the MLP, save its weights (state_dict only), curves, metrics and cost.

``reports/metrics/train.json`` holds only figures that follow from params and data (so two runs
give identical bytes); wall time, throughput, memory and energy go to
``reports/compute/train_cost.json``. The ``last`` checkpoint in ``models/checkpoints/`` is not a
DVC output: DVC deletes outputs before it runs a stage, which would throw away the checkpoint a
``train.resume: true`` run needs.
"""

from __future__ import annotations

import csv
import io as _io

from pipeline import contracts, io, manifest, paths, splits
from pipeline.config import Config

#: What later stages read as one set (listed in models/train.manifest.json).
OUTPUTS = (paths.MODEL_WEIGHTS, paths.MODEL_SPEC, paths.TRAIN_METRICS, paths.TRAIN_CURVES)


def save_model(model) -> None:
    """Write the weights and spec atomically; non-finite weights are refused, never written."""
    import torch

    from pipeline.training.fit import check_finite_state

    state = model.state_dict()
    check_finite_state(state, f"{paths.MODEL_WEIGHTS} (not written)")
    buffer = _io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(paths.MODEL_WEIGHTS, buffer.getvalue())
    io.write_json(paths.MODEL_SPEC, model.spec.to_dict())


def _cell(value) -> str:
    """A curve value as pandas' ``to_csv(float_format="%.6g")`` writes it (empty when missing)."""
    if value is None or value != value:  # None or NaN
        return ""
    return format(value, ".6g") if isinstance(value, float) else str(value)


def save_curves(history: list[dict]) -> None:
    """One row per epoch; the csv module, not pandas, whose import would cost this stage more
    than its whole fit on small data."""
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in history)
    io.write_text(paths.TRAIN_CURVES, buffer.getvalue())


def main(cfg: Config) -> None:
    if cfg.engine.kind == "ray":
        return main_ray(cfg)
    from pipeline.training.fit import fit

    if cfg.train.dp.enabled:  # DP-SGD with Opacus (epsilon, delta in train.json cost.dp); see pipeline/training/dp.py
        from pipeline.training.dp import fit_dp as fit

    meta = contracts.read(paths.PREPARED_META)
    upstream = manifest.require(cfg, "prepare")
    arrays = {s: splits.arrays(s) for s in ("train", "val")}
    result = fit(cfg.train, cfg.seed, arrays, n_classes=len(meta.classes), checkpoint_dir=paths.CHECKPOINT_DIR)
    write_outputs(cfg, result, upstream)
    wall = result.cost["fit_wall_time_s"]
    print(
        f"train: {result.summary['epochs_run']} epochs ({result.cost['epochs_this_run']} in {wall:.2f}s), last "
        f"{result.summary['final']}"
    )


def write_outputs(cfg: Config, result, upstream) -> None:
    """The model, curves, summary and cost of a finished fit (either engine), as one set: the
    summary is checked before the model is replaced, the manifest written last."""
    contracts.validate(paths.TRAIN_METRICS, result.summary)
    manifest.begin("train", OUTPUTS)
    save_model(result.model)
    save_curves(result.history)
    contracts.write(paths.TRAIN_METRICS, result.summary)
    manifest.finish("train", OUTPUTS, cfg, upstream=upstream)
    io.write_json(paths.TRAIN_COST, result.cost)
    for note in result.notes:
        print(f"train: {note}")


def main_ray(cfg: Config) -> None:
    """``engine.kind: ray``: the same module on Ray Train workers fed from the shards; the usual outputs,
    written once by the driver, so evaluate and explain read the model as always."""
    import tempfile
    from pathlib import Path

    from pipeline import shards
    from pipeline.scale import train as scaled
    from pipeline.scale.cluster import check_packages, connected

    check_packages()
    meta = contracts.read(paths.PREPARED_META)
    upstream = manifest.require(cfg, "prepare")
    found = shards.verify(manifest.settings_of(cfg, "prepare"))
    planned = scaled.plan(cfg, found, len(meta.classes))  # refuses what the ray fit cannot do before Ray starts
    with connected(cfg.engine) as ray, tempfile.TemporaryDirectory(prefix="ray-train-") as storage:
        result = scaled.fit(ray, cfg, found, planned, Path(storage))
    write_outputs(cfg, result, upstream)
    print(
        f"train: {result.summary['epochs_run']} epochs on Ray Train, weights equal on every rank, "
        f"last {result.summary['final']}"
    )
