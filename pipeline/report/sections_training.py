"""Report section: how training went (curves, early stopping) and what it cost.

Two tables of cost, deliberately apart:

* **Work done** comes from ``reports/metrics/train.json`` (parameters, FLOPs, samples seen,
  epochs): it follows from params and data and is identical on every rerun.
* **Measured on this run** comes from ``reports/compute/train_cost.json`` (wall time,
  throughput, peak memory, device, energy): it differs on every run, even with identical
  params, data and results. It is the one part of the report that does; the table says so.
"""

from __future__ import annotations

from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt

KEY, TITLE = "training", "Training and compute cost"
#: Longest curve table; longer histories are thinned to evenly spaced epochs plus the last.
MAX_CURVE_ROWS = 12
CURVE_COLUMNS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


def _thin(rows: list[dict], limit: int = MAX_CURVE_ROWS) -> list[dict]:
    if len(rows) <= limit:
        return rows
    step = -(-len(rows) // (limit - 1))
    return rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])


def _outcome(train: dict) -> str:
    final, best = train.get("final") or {}, train.get("best")
    text = (
        f"Trained {train['epochs_run']} epochs; last epoch: validation loss {fmt(final.get('val_loss'), 4)}, "
        f"validation accuracy {fmt(final.get('val_accuracy'))}."
    )
    if train.get("stopped_early"):
        text += " Early stopping ended training: validation loss had not improved for train.patience epochs."
    if train.get("restored_best_weights") and best:
        text += (
            f" The saved weights are those of the best epoch ({best['epoch']}, validation loss "
            f"{fmt(best.get('val_loss'), 4)})."
        )
    return text


def _curves(ctx: dict, train: dict) -> tuple[list, list]:
    from pipeline.report import plots

    curves = ctx.get("curves")
    if curves is None or curves.empty:
        return [], []
    rows = curves.to_dict("records")
    present = [c for c in CURVE_COLUMNS if c in curves.columns]
    table = Table(["epoch", *present], [[fmt(int(r["epoch"])), *(fmt(r[c], 4) for c in present)] for r in _thin(rows)])
    series = {
        c: (curves["epoch"].tolist(), curves[c].tolist()) for c in ("train_loss", "val_loss") if c in curves.columns
    }
    figure = plots.lines(series, "Loss per epoch", "epoch", "cross-entropy")
    return [("Training curves (thinned to at most 12 epochs)", table)], [("Training and validation loss", figure)]


def _work_table(work: dict) -> Table:
    rows = [
        ["Parameters", fmt(work.get("parameters"))],
        ["Forward FLOPs per sample", fmt(work.get("flops_per_sample_forward"))],
        ["Training FLOPs (estimate: 3 x forward x samples seen)", fmt(work.get("training_flops_estimate"))],
        ["Samples seen (all epochs, all processes)", fmt(work.get("samples_seen"))],
        ["Epochs run", fmt(work.get("epochs_run"))],
    ]
    return Table(["Item", "Value"], rows)


def build(ctx: dict) -> Section:
    train = ctx.get("train")
    if not train or "epochs_run" not in train:
        return not_run(KEY, TITLE, "train")
    tables, figures = _curves(ctx, train)
    tables.append(
        ("Work done (follows from params and data; identical on every rerun)", _work_table(train.get("cost") or {}))
    )
    paragraphs = [_outcome(train)]
    cost = ctx.get("train_cost")
    if cost:
        # Measured figures vary between runs; showing them would break the byte-identical report.
        energy = cost.get("energy") or {}
        paragraphs.append(
            "Measured cost (wall time per epoch, samples/s, peak memory, device) differs between runs even when the "
            "results are identical, so it is not printed here: it is in reports/compute/train_cost.json and in the "
            "MLflow run (metrics compute/...). Energy and CO2: "
            + (
                energy.get("status", "recorded")
                if energy.get("status") == "unavailable"
                else "measured, see the MLflow run"
            )
            + (f" ({energy['reason']})." if energy.get("reason") else ".")
        )
    else:
        paragraphs.append(
            "Measured cost (wall time, memory, energy) was not recorded: reports/compute/train_cost.json is missing."
        )
    return Section(KEY, TITLE, paragraphs, tables, figures)
