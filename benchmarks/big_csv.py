"""Peak memory and time of ``python -m pipeline prepare`` on a large user CSV (issue 16: "a 300 MB
file peaks at 2.7 GB in prepare").

The file is Adult-shaped (numeric and categorical columns, a binary label that depends on
them), generated in chunks with a fixed seed into ``benchmarks/work/big/`` (never committed) and
reused while its size and seed match. ``prepare`` runs as a whole process in a fresh project
folder with the default ``params.yaml`` (data source switched to the CSV); its peak RSS is the
kernel's ``ru_maxrss`` (``measure.run_measured``), so no short spike is missed.

Writes ``benchmarks/big_csv.json`` (``--out``), one entry per ``--label``: file size, rows,
encoded width, float32 output size, wall seconds, peak RSS and the ratios of the peak to the file
and to the output. ``--code`` runs another checkout's ``pipeline/`` (with its ``params.yaml``),
e.g. ``--code /work/main --label before`` for a before/after comparison.

Run: ``python benchmarks/big_csv.py [--mb 300] [--code PATH] [--label after] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from measure import run_measured  # noqa: E402

MIB = 2**20
CHUNK_ROWS = 200_000
LEVELS = {
    "workclass": 8,
    "education": 16,
    "marital_status": 7,
    "occupation": 14,
    "relationship": 6,
    "race": 5,
    "sex": 2,
    "native_country": 40,
}


def chunk(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` Adult-like rows: skewed categoricals, integer and decimal numerics, a dependent label."""
    frame = pd.DataFrame(
        {
            "age": rng.integers(17, 91, n),
            "fnlwgt": rng.integers(10_000, 1_500_000, n),
            "education_num": rng.integers(1, 17, n),
            "capital_gain": np.where(rng.random(n) < 0.9, 0, rng.integers(1, 100_000, n)),
            "hours_per_week": rng.integers(1, 100, n),
            "credit_score": rng.normal(600, 80, n).round(2),
        }
    )
    for name, k in LEVELS.items():
        weights = 1.0 / np.arange(1, k + 1)
        frame[name] = rng.choice([f"{name}-{i}" for i in range(k)], n, p=weights / weights.sum())
    signal = (frame["age"] - 40) / 15 + (frame["education_num"] - 9) / 4 + rng.normal(0, 1, n)
    frame["income"] = np.where(signal > 1.0, ">50K", "<=50K")
    return frame


def make_csv(path: Path, target_mb: float, seed: int = 0) -> int:
    """Write chunks until the file reaches ``target_mb``; return the row count."""
    rng = np.random.default_rng(seed)
    rows = 0
    with open(path, "w", newline="") as fh:
        while fh.tell() < target_mb * MIB:
            part = chunk(CHUNK_ROWS, rng)
            part.to_csv(fh, index=False, header=rows == 0)
            rows += len(part)
    return rows


def cached_csv(folder: Path, target_mb: float) -> tuple[Path, int]:
    """The generated file, rebuilt only when the wanted size changed."""
    folder.mkdir(parents=True, exist_ok=True)
    path, stamp = folder / "big.csv", folder / "big.json"
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()).get("target_mb") == target_mb:
        return path, json.loads(stamp.read_text())["rows"]
    rows = make_csv(path, target_mb)
    stamp.write_text(json.dumps({"target_mb": target_mb, "rows": rows}))
    return path, rows


def project(root: Path, csv: Path, code: Path) -> None:
    """A fresh project folder with ``code``'s params reading ``csv`` (hard-linked: no second copy on disk)."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    os.link(csv, root / "data" / "big.csv")
    params = yaml.safe_load((code / "params.yaml").read_text())
    params["data"].update(source="csv", dep="data/big.csv", sensitive=["sex", "race"])
    params["data"]["csv"].update(path="data/big.csv", target="income", positive_label=">50K")
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def git_head(code: Path) -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=code, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=300.0, help="size of the generated CSV in MiB")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose pipeline/ runs")
    parser.add_argument("--out", type=Path, default=HERE / "big_csv.json")
    parser.add_argument("--label", default="after", help="key of this run in the output file (e.g. before, after)")
    parser.add_argument("--project", default="project", help="folder name of the run's project (under work/big)")
    args = parser.parse_args()
    work = HERE / "work" / "big"
    csv, rows = cached_csv(work, args.mb)
    root = work / args.project
    project(root, csv, args.code)
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "DVC_NO_ANALYTICS": "1"}
    load, commit = os.getloadavg()[0], git_head(args.code)
    measured = run_measured(
        [sys.executable, "-m", "pipeline", "prepare"], cwd=root, env=env, log=root.with_suffix(".log"), timeout_s=3600
    )
    file_mib = csv.stat().st_size / MIB
    result = {
        "command": "python -m pipeline prepare (default params.yaml, data.source: csv)",
        "code": str(args.code.resolve()),
        "commit": commit,
        "file_mib": round(file_mib, 1),
        "rows": rows,
        "columns": 7 + len(LEVELS),
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "load_at_end": os.getloadavg()[0],
        **measured,
        "peak_over_file": round(measured["peak_rss_mib"] / file_mib, 2),
    }
    if measured["rc"] == 0:
        meta = json.loads((root / "data" / "prepared" / "meta.json").read_text())
        width = len(meta["feature_names"])
        output_mib = sum(meta["rows"].values()) * width * 4 / MIB
        result.update(
            encoded_features=width,
            float32_output_mib=round(output_mib, 1),
            peak_over_output=round(measured["peak_rss_mib"] / output_mib, 2),
        )
    else:
        result["log_tail"] = root.with_suffix(".log").read_text(errors="replace")[-2000:]
    print(json.dumps(result, indent=2))
    runs = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs[args.label] = result
    args.out.write_text(json.dumps(runs, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
