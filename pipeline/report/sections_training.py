"""Report section "Training and compute cost": deterministic figures only.

Wall time, throughput, peak memory and energy vary run to run, so they would break the report's
byte-for-byte reproducibility; they live in reports/compute/train_cost.json and the MLflow run.
"""

from __future__ import annotations

from pipeline.report.render import Section, Table, not_run
from pipeline.report.safe import fmt

TITLE = "Training and compute cost"
ROWS = [
    ("epochs_run", "Epochs run"), ("epochs_max", "Epochs allowed"), ("stopped_early", "Stopped early"),
    ("best_epoch", "Best epoch (restored weights)"), ("parameters", "Trainable parameters"),
    ("flops_per_sample_forward", "FLOPs per sample (forward)"), ("flops_per_sample_train", "FLOPs per sample (training step, ~3x forward)"),
    ("train_samples", "Training rows"), ("device", "Device type"), ("world_size", "Processes (DDP world size)"),
    ("precision", "Precision"),
]  # fmt: skip


def build(ctx: dict) -> Section:
    """Training summary table plus the final epoch's losses, from reports/metrics/train.json."""
    train = ctx.get("train")
    if not train:
        return not_run("training", TITLE, "train")
    summary = train.get("cost", {})
    rows = [[label, fmt(summary[key])] for key, label in ROWS if key in summary]
    epochs = summary.get("epochs_run") or 0
    flops = summary.get("flops_per_sample_train")
    if flops and summary.get("train_samples"):
        rows.append(["Training FLOPs (epochs x rows x per-sample)", f"{flops * summary['train_samples'] * epochs:.3e}"])
    final = [[k, fmt(v)] for k, v in sorted(train.get("final", {}).items())]
    paragraphs = [
        "Figures here are deterministic: the same params and data give the same values on CPU.",
        "Measured figures (wall time per epoch, samples per second, peak memory, device model, and energy/CO2 "
        "where the machine exposes real power readings, otherwise marked unavailable) vary run to run; they are "
        "in reports/compute/train_cost.json and the MLflow run, not here, so this report stays reproducible.",
    ]
    cost = ctx.get("train_cost")
    if cost and cost.get("energy_status") == "unavailable":
        paragraphs.append(f"Energy/CO2 for this run: unavailable ({cost.get('energy_reason', 'no reason recorded')}).")
    return Section("training", TITLE, paragraphs, [("Training summary", Table(["Item", "Value"], rows)),
                                                   ("Final epoch", Table(["Metric", "Value"], final))])  # fmt: skip
