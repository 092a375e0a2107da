"""Gather what the report shows from the stage outputs on disk. Missing outputs stay ``None``,
so their sections say 'not run' instead of vanishing."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from pipeline import io, paths

PACKAGES = ("torch", "pytorch-lightning", "mlflow", "dvc", "fairlearn", "captum", "pandas", "scikit-learn", "numpy")


def _json_or_none(path: Path):
    return io.read_json(path) if path.is_file() else None


def _csv_or_none(path: Path):
    return pd.read_csv(path) if path.is_file() else None


def git_commit() -> dict:
    """The commit the code came from, and whether the work tree had uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline", "params.yaml", "dvc.yaml"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return {"sha": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.CalledProcessError):
        return {"sha": None, "dirty": None}


def dvc_lock_hashes(lock_path: Path = Path("dvc.lock")) -> dict[str, dict[str, str]]:
    """md5 of every dependency and output per stage, as recorded by DVC."""
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    table = {}
    for stage, entry in sorted((lock.get("stages") or {}).items()):
        files = {}
        for kind in ("deps", "outs"):
            for item in entry.get(kind) or []:
                if "md5" in item:
                    files[item["path"]] = item["md5"]
        table[stage] = dict(sorted(files.items()))
    return table


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def collect(cfg) -> dict:
    """Everything the templates need, as plain data."""
    return {
        "cfg": cfg.model_dump(mode="json"),
        "meta": _json_or_none(paths.PREPARED_META),
        "data": _json_or_none(paths.DATA_METRICS),
        "train": _json_or_none(paths.TRAIN_METRICS),
        "train_cost": _json_or_none(paths.TRAIN_COST),
        "curves": _csv_or_none(paths.TRAIN_CURVES),
        "evaluate": _json_or_none(paths.EVALUATE_METRICS),
        "roc": _csv_or_none(paths.ROC_CURVE),
        "calibration": _csv_or_none(paths.CALIBRATION_CURVE),
        "fairness": _json_or_none(paths.FAIRNESS_METRICS),
        "explain": _json_or_none(paths.EXPLAIN_METRICS),
        "privacy": _json_or_none(paths.PRIVACY_METRICS),
        "manifest": {
            "git": git_commit(),
            "dvc_lock": dvc_lock_hashes(),
            "packages": package_versions(),
            "seed": cfg.seed,
            "params_yaml": yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=True),
        },
    }
