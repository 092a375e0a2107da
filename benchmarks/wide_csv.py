"""Peak memory and time of every stage on a 7,000-row CSV with three free-text-like columns of
2,000+ distinct values each (issue 14's "wide categoricals kill the run" case).

Writes ``benchmarks/wide_csv.json``: per stage, wall seconds, peak RSS (kernel ``ru_maxrss`` via
``measure.run_measured``) and exit code; plus the capped columns and encoded width from
``data.json``. Uses the default ``params.yaml`` (so ``data.max_categories`` as shipped) with only
the data source switched to the CSV. Run: ``python benchmarks/wide_csv.py [--rows 7000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from measure import run_measured  # noqa: E402

STAGES = ("prepare", "train", "evaluate", "fairness", "explain", "privacy", "report")
WIDE = ("note", "comment", "charge_desc")


def wide_csv(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.normal(40_000, 12_000, n).round(2)
    score = (income - 40_000) / 12_000 + (age - 45) / 30 + rng.normal(0, 0.5, n)
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "sex": rng.choice(["female", "male"], n),
            "race": rng.choice(["a", "b", "c"], n),
            "label": np.where(score > 0, "yes", "no"),
        }
    )
    for i, column in enumerate(WIDE):
        tail = [f"{column}-{k:05d}-x{i}" for k in rng.integers(0, 40_000, n)]
        frequent = rng.choice([f"{column}-common-{j}" for j in range(8)], n)
        frame[column] = np.where(rng.random(n) < 0.3, frequent, tail)
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=7000)
    parser.add_argument("--out", type=Path, default=HERE / "wide_csv.json")
    args = parser.parse_args()
    root = HERE / "work" / "wide"
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    wide_csv(root / "data" / "wide.csv", args.rows)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(source="csv", dep="data/wide.csv", sensitive=["sex", "race"])
    params["data"]["csv"].update(path="data/wide.csv", target="label", positive_label="yes")
    params["data"]["pii"]["quasi_identifiers"] = ["age", "sex", "race"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    results = {"rows": args.rows, "cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0], "stages": {}}
    for stage in STAGES:
        measured = run_measured(
            [sys.executable, "-m", "pipeline", stage], cwd=root, env=env, log=root / f"{stage}.log", timeout_s=1800
        )
        results["stages"][stage] = measured
        print(stage, json.dumps(measured), flush=True)
        if measured["rc"] != 0:
            break
    data = json.loads((root / "reports" / "metrics" / "data.json").read_text())
    meta = json.loads((root / "data" / "prepared" / "meta.json").read_text())
    results["capped_columns"] = data.get("capped_columns")
    results["encoded_features"] = len(meta["feature_names"])
    results["load_at_end"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
