"""Where a run came from: the code's commit, the package versions, DVC's hashes of the upstream
outputs, and ``pipeline_state``, the hash of the params and every stage output.

One module so the report's manifest and the MLflow run's tags compute them the same way: the
``report`` stage prints :func:`pipeline_state` in the manifest and the ``log`` stage tags its run
with it (and finds an existing run by it), which is how a reader gets from the report to the run.
Everything here is a function of files and of the code's commit: no clock, no random ids.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from pipeline import io, paths

PACKAGES = (
    "torch",
    "pytorch-lightning",
    "mlflow",
    "dvc",
    "fairlearn",
    "captum",
    "pandas",
    "scikit-learn",
    "numpy",
    "jinja2",
)
#: Stages whose outputs the report is built from; ``report`` and ``log`` come after it in dvc.lock.
UPSTREAM_STAGES_EXCLUDED = ("report", "log")


def git_commit() -> dict:
    """The commit the code came from, and whether the work tree had uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline", "params.yaml", "dvc.yaml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {"sha": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.CalledProcessError):
        return {"sha": None, "dirty": None}


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_lock_hashes(lock_path: Path = Path("dvc.lock")) -> dict[str, dict[str, dict[str, str]]]:
    """md5 of each upstream stage's outputs as recorded by DVC, and whether the file on disk still matches.

    ``report`` and ``log`` are left out: during ``dvc repro`` their lock entries describe the previous
    run. Directories carry DVC's ``.dir`` hash, which is shown but not recomputed here.
    """
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    table = {}
    for stage, entry in sorted((lock.get("stages") or {}).items()):
        if stage in UPSTREAM_STAGES_EXCLUDED:
            continue
        files = {}
        for item in entry.get("outs") or []:
            if "md5" not in item:
                continue
            path, recorded = Path(item["path"]), item["md5"]
            if recorded.endswith(".dir"):
                on_disk = "directory" if path.is_dir() else "missing"
            elif not path.is_file():
                on_disk = "missing"
            else:
                on_disk = "matches" if _md5(path) == recorded else "differs"
            files[item["path"]] = {"md5": recorded, "on_disk": on_disk}
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


def state_files() -> list[Path]:
    """The stage outputs that define a pipeline state: data, model, predictions, metrics and plots.

    The report itself and the MLflow run record are not among them (they are derived from these)."""
    candidates = [paths.PREPARED_META, paths.MODEL_WEIGHTS, paths.MODEL_SPEC, paths.PREDICTIONS]
    candidates += [paths.split_arrays(s) for s in paths.SPLITS] + [paths.split_groups(s) for s in paths.SPLITS]
    candidates += sorted(paths.METRICS_DIR.glob("*.json")) + sorted(paths.PLOTS_DIR.glob("*.csv"))
    return sorted({p for p in candidates if p.is_file()})


def pipeline_state(cfg) -> str:
    """sha256 over the params and every state file: the tag that ties the report to its MLflow run."""
    digest = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    for path in state_files():
        digest.update(path.as_posix().encode())
        digest.update(io.sha256_file(path).encode())
    return digest.hexdigest()


def record(cfg) -> dict:
    """What the report's manifest shows about this run's origin (the ``report`` stage passes it in)."""
    return {
        "git": git_commit(),
        "dvc_lock": dvc_lock_hashes(),
        "packages": package_versions(),
        "pipeline_state": pipeline_state(cfg),
    }
