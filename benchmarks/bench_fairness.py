"""Time our vectorised 1,000-resample fairness audit against fairlearn's MetricFrame bootstrap.

Run from the project root after `dvc repro evaluate` (needs outputs/predictions_test.csv and
data/prepared). Writes benchmarks/FAIRNESS.md and benchmarks/fairness_bench.json.
fairlearn is measured at --fairlearn-boot resamples (default 100) for the sex view only and
extrapolated linearly to 1,000 resamples; the extrapolation is labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.audit import fairness

OUT = Path(__file__).parent


def _load():
    meta = json.loads(Path("data/prepared/meta.json").read_text())
    pred = pd.read_csv("outputs/predictions_test.csv")
    groups = pd.read_csv("data/prepared/groups_test.csv", dtype=str, keep_default_na=False)
    fav = meta["favourable_index"]
    dec = fairness.decisions_from_classes(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), fav, pred[f"proba_{fav}"].to_numpy(), len(meta["classes"]))
    return dec, fairness.sensitive_views(groups, meta["sensitive"])


def ours(dec, views, n_boot: int, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fairness.audit(dec, views, fairness.AuditSettings(n_boot=n_boot, seed=0))
        times.append(time.perf_counter() - start)
    return times


def fairlearn_time(dec, views, n_boot: int) -> float:
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score

    start = time.perf_counter()
    fm.MetricFrame(metrics={"selection_rate": fm.selection_rate, "tpr": fm.true_positive_rate, "fpr": fm.false_positive_rate,
                            "accuracy": accuracy_score},
                   y_true=dec.y_true, y_pred=dec.y_pred, sensitive_features=views["sex"].to_numpy(),
                   n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fairlearn-boot", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dec, views = _load()
    our = ours(dec, views, 1000, args.repeats)
    fl = fairlearn_time(dec, views, args.fairlearn_boot)
    result = {
        "rows": int(len(dec.y_true)), "views": list(views), "ours_n_boot": 1000, "ours_seconds": our,
        "ours_median_seconds": float(np.median(our)),
        "ours_scope": "all views (sex, race, sex x race): 9 group metrics incl. ROC AUC and ECE + 7 disparities + vs-reference, with intervals",
        "fairlearn_n_boot": args.fairlearn_boot, "fairlearn_seconds": fl,
        "fairlearn_extrapolated_1000_seconds": fl * 1000 / args.fairlearn_boot,
        "fairlearn_scope": "sex view only, 4 metrics (selection rate, TPR, FPR, accuracy)",
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0], "python": platform.python_version(),
        "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }  # fmt: skip
    (OUT / "fairness_bench.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    md = [
        "# Fairness bootstrap timing",
        "",
        f"Adult test split, {result['rows']} rows, {result['cpu_count']} cores, 1-min load average at the end {result['load_average_1min']:.1f} "
        "(the machine is shared; a high load inflates every figure).",
        "",
        "| run | resamples | scope | seconds |",
        "|---|---|---|---|",
        f"| ours (`pipeline.audit.fairness.audit`), median of {args.repeats} | 1000 | {result['ours_scope']} | {result['ours_median_seconds']:.2f} |",
        f"| fairlearn `MetricFrame`, measured | {args.fairlearn_boot} | {result['fairlearn_scope']} | {fl:.1f} |",
        f"| fairlearn `MetricFrame`, **extrapolated** linearly from the line above | 1000 | same | {result['fairlearn_extrapolated_1000_seconds']:.0f} |",
        "",
        f"All our runs: {', '.join(f'{t:.2f}' for t in our)} s. Reproduce: `python benchmarks/bench_fairness.py`.",
        "",
    ]  # fmt: skip
    (OUT / "FAIRNESS.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
