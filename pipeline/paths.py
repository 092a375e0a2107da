"""The one table of artifact paths, relative to the project root.

Stages and ``dvc.yaml`` must agree on these; ``tests/test_dvc_pipeline.py`` checks that they do.
"""

from __future__ import annotations

from pathlib import Path

RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")
MODEL_DIR = Path("models")
REPORTS_DIR = Path("reports")
METRICS_DIR = REPORTS_DIR / "metrics"
PLOTS_DIR = REPORTS_DIR / "plots"
OUTPUTS_DIR = Path("outputs")

# prepare
SPLITS = ("train", "val", "test")


def split_arrays(split: str) -> Path:
    """Encoded features ``X`` (float32) and labels ``y`` (int64) of one split."""
    return PREPARED_DIR / f"{split}.npz"


def split_groups(split: str) -> Path:
    """The raw sensitive columns (strings) of one split, row-aligned with its arrays."""
    return PREPARED_DIR / f"groups_{split}.csv"


#: The ray engine's encoded Parquet shards (pipeline/shards.py): ``<split>/part-NNNNN.parquet`` and a manifest.
SHARDS_DIR = PREPARED_DIR / "shards"
SHARDS_MANIFEST = SHARDS_DIR / "manifest.json"


def shard_file(split: str, index: int) -> Path:
    """One block's rows of one split, encoded (written by the ray engine's ``prepare``)."""
    return SHARDS_DIR / split / f"part-{index:05d}.parquet"


PREPARED_META = PREPARED_DIR / "meta.json"
#: Written last by ``prepare``: names, sizes and hashes of the set above (see pipeline/manifest.py).
PREPARED_MANIFEST = PREPARED_DIR / "manifest.json"
DATA_METRICS = METRICS_DIR / "data.json"

# train
MODEL_WEIGHTS = MODEL_DIR / "model.pt"
MODEL_SPEC = MODEL_DIR / "model.json"
CHECKPOINT_DIR = MODEL_DIR / "checkpoints"
TRAIN_METRICS = METRICS_DIR / "train.json"
TRAIN_CURVES = PLOTS_DIR / "training_curves.csv"
TRAIN_MANIFEST = MODEL_DIR / "train.manifest.json"
#: Measured cost of the last training run (wall time, throughput, memory, energy). Differs on
#: every run, so it is kept out of the metrics files and is not a DVC output (see dvc.yaml).
COMPUTE_DIR = REPORTS_DIR / "compute"
TRAIN_COST = COMPUTE_DIR / "train_cost.json"

# evaluate
PREDICTIONS = OUTPUTS_DIR / "predictions_test.csv"
EVALUATE_METRICS = METRICS_DIR / "evaluate.json"
ROC_CURVE = PLOTS_DIR / "roc.csv"
CALIBRATION_CURVE = PLOTS_DIR / "calibration.csv"
CONFUSION = PLOTS_DIR / "confusion.csv"
EVALUATE_MANIFEST = OUTPUTS_DIR / "evaluate.manifest.json"

# fairness
FAIRNESS_METRICS = METRICS_DIR / "fairness.json"
GROUP_RATES = PLOTS_DIR / "group_selection_rates.csv"

# mitigate
MITIGATION_METRICS = METRICS_DIR / "mitigation.json"
CANDIDATES_DIR = MODEL_DIR / "candidates"
CANDIDATE_DECISIONS = OUTPUTS_DIR / "mitigation_decisions_test.csv"
MITIGATE_MANIFEST = MODEL_DIR / "mitigate.manifest.json"
MITIGATION_COST = COMPUTE_DIR / "mitigation_cost.json"  # measured seconds and fits: not a DVC output


def candidate_slug(name: str) -> str:
    """A candidate's folder, decision-column and MLflow name part, e.g. ``grid-search-demographic-parity``."""
    out = "".join(ch if ch.isalnum() else "-" for ch in name.lower())
    return "-".join(part for part in out.split("-") if part)


def candidate_dir(name: str) -> Path:
    """Where the ``mitigate`` stage saves one candidate (weights and decision rule)."""
    return CANDIDATES_DIR / candidate_slug(name)


# explain / privacy
EXPLAIN_METRICS = METRICS_DIR / "explain.json"
EXPLAIN_COST = COMPUTE_DIR / "explain_cost.json"  # seconds per method: measured, not a DVC output
PRIVACY_METRICS = METRICS_DIR / "privacy.json"

# report / log
REPORT_HTML = REPORTS_DIR / "audit_report.html"
MODEL_CARD = REPORTS_DIR / "model_card.md"
MLFLOW_RUN = OUTPUTS_DIR / "mlflow_run.json"
#: The only file dvc.yaml declares as ``metrics``: a screenful of headline figures (issue 17).
SUMMARY_METRICS = REPORTS_DIR / "summary.json"

#: Each multi-file stage's manifest, written last (pipeline/manifest.py): readers verify the set before using it.
MANIFESTS = {
    "prepare": PREPARED_MANIFEST,
    "train": TRAIN_MANIFEST,
    "evaluate": EVALUATE_MANIFEST,
    "mitigate": MITIGATE_MANIFEST,
}
