"""Stage ``log``: one MLflow run per pipeline state, holding everything a reviewer needs.

The run is keyed by a hash of every stage output and the params: rerunning this stage on an
unchanged pipeline finds the existing run instead of adding a duplicate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.config import Config

REQUIREMENTS_PACKAGES = ("torch", "numpy")
METRIC_FILES = {
    "data": paths.DATA_METRICS,
    "train": paths.TRAIN_METRICS,
    "evaluate": paths.EVALUATE_METRICS,
    "fairness": paths.FAIRNESS_METRICS,
    "explain": paths.EXPLAIN_METRICS,
    "privacy": paths.PRIVACY_METRICS,
}


def flatten(value, prefix: str = "", sep: str = "/") -> dict[str, object]:
    """Nested dicts to ``a/b/c`` keys; lists and strings are kept as leaves."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}{sep}{key}" if prefix else str(key), sep))
        return out
    return {prefix: value}


def numeric_metrics(prefix: str, payload: dict) -> dict[str, float]:
    """Finite numbers only (undefined values are left out rather than logged as 0)."""
    clean = {}
    for key, value in flatten(payload, prefix).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            continue
        clean[_metric_key(key)] = float(value)
    return clean


def _metric_key(key: str) -> str:
    """MLflow allows letters, digits and ``_-. /``; group names may hold anything else."""
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in key)[:250]


def pipeline_state(cfg_text: str) -> str:
    digest = hashlib.sha256(cfg_text.encode())
    for path in sorted(_state_files()):
        digest.update(str(path).encode())
        digest.update(io.sha256_file(path).encode())
    return digest.hexdigest()


def _state_files() -> list[Path]:
    candidates = [paths.MODEL_WEIGHTS, paths.MODEL_SPEC, paths.PREDICTIONS, paths.REPORT_HTML, *METRIC_FILES.values()]
    candidates += [paths.split_arrays(s) for s in paths.SPLITS]
    return [p for p in candidates if p.is_file()]


def split_frame(split: str, meta: dict) -> pd.DataFrame:
    arrays = io.read_npz(paths.split_arrays(split))
    frame = pd.DataFrame(arrays["X"], columns=meta["feature_names"])
    frame["target"] = np.asarray(meta["classes"], dtype=object)[arrays["y"]]
    return frame


def requirements() -> list[str]:
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS_PACKAGES]


def verdicts(fairness: dict | None) -> tuple[bool, list[str]]:
    """Whether every fairness check passed, and the names of those that did not."""
    checks = (fairness or {}).get("verdicts")
    if not checks:
        return False, ["fairness verdicts unavailable"]
    failed = [c["check"] for c in checks if c["status"] != "pass"]
    return not failed, failed


def log_everything(cfg: Config, meta: dict, metrics: dict) -> dict:
    from pipeline import tracking
    from pipeline.models.predict import load_trained

    tracking.log_params({k: str(v) for k, v in flatten(cfg.model_dump(mode="json"), sep=".").items()})
    for name, payload in metrics.items():
        if payload is not None:
            tracking.log_metrics(numeric_metrics(name, payload))
    curves = pd.read_csv(paths.TRAIN_CURVES) if paths.TRAIN_CURVES.is_file() else pd.DataFrame()
    tracking.log_curves(curves.to_dict("records"))
    for split, context in (("train", "training"), ("test", "evaluation")):
        tracking.log_dataset(split_frame(split, meta), f"{meta['source']}-{split}", str(paths.split_arrays(split)), context)
    test_x = io.read_npz(paths.split_arrays("test"))["X"][:5]
    model_info = tracking.log_model(load_trained(), test_x, requirements())
    for path in (paths.REPORT_HTML, paths.MODEL_CARD, Path("params.yaml")):
        if path.is_file():
            tracking.log_artifact(path, "report" if path.parent == paths.REPORTS_DIR else None)
    for folder, target in ((paths.METRICS_DIR, "metrics"), (paths.PLOTS_DIR, "plots")):
        for path in sorted(folder.glob("*")):
            tracking.log_artifact(path, target)
    result = {"model_uri": model_info.model_uri}
    if cfg.tracking.register_model:
        passed, failed = verdicts(metrics.get("fairness"))
        result["registry"] = tracking.register(model_info.model_uri, cfg.tracking.model_name, passed, failed)
    return result


def main(cfg: Config) -> None:
    from pipeline import tracking

    uri = tracking.connect(cfg.tracking.experiment, cfg.tracking.timeout_s)
    meta = io.read_json(paths.PREPARED_META)
    metrics = {name: io.read_json(p) if p.is_file() else None for name, p in METRIC_FILES.items()}
    state = pipeline_state(cfg.model_dump_json())
    existing = tracking.find_run(state)
    if existing:
        summary = {"run_id": existing, "reused": True}
    else:
        from pipeline.report.context import git_commit

        git = git_commit()
        tags = {"pipeline_state": state, "git_commit": str(git["sha"]), "git_dirty": str(git["dirty"]),
                "data_source": meta["source"], "data_sha256": ",".join(f"{k}:{v}" for k, v in sorted(meta["provenance"].items()))}  # fmt: skip
        with tracking.run(run_name=f"{meta['source']}-{state[:8]}", tags=tags) as run_id:
            summary = {"run_id": run_id, "reused": False, **log_everything(cfg, meta, metrics)}
    summary.update({"tracking_uri": tracking.redact(uri), "experiment": cfg.tracking.experiment, "pipeline_state": state})
    io.write_json(paths.MLFLOW_RUN, summary)
    print(f"log: MLflow run {summary['run_id']} ({'existing' if summary['reused'] else 'new'}) in {summary['tracking_uri']}")
