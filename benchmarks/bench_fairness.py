"""The whole fairness audit (closed-form intervals, verdicts, bootstrap of ROC AUC) vs fairlearn's
MetricFrame(n_boot=...).

Usage: python benchmarks/bench_fairness.py [--fairlearn-boot 1000] [--repeats 3]
Needs data/prepared and outputs/predictions_test.csv (run `dvc repro evaluate` first).
Writes benchmarks/FAIRNESS.md and benchmarks/fairness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load():
    import pandas as pd

    from pipeline import contracts, paths, splits

    os.chdir(ROOT)  # the prepared data and predictions of the project's last `dvc repro`
    meta = contracts.read(paths.PREPARED_META)
    pred = pd.read_csv(paths.PREDICTIONS)
    groups = splits.groups("test")
    fav = meta.favourable_index
    y = (pred["y_true"].to_numpy() == fav).astype(int)
    p = (pred["y_pred"].to_numpy() == fav).astype(int)
    return y, p, pred[f"proba_{fav}"].to_numpy(), groups, meta.sensitive


def time_ours(y, p, score, groups, sensitive, n_boot, repeats):
    from pipeline.audit.fairness import FairnessSettings, audit_decisions

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        audit_decisions(y, p, score, groups, sensitive, FairnessSettings(n_boot=n_boot, seed=0))
        times.append(time.perf_counter() - start)
    return times


def time_fairlearn(y, p, groups, feature, n_boot):
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    start = time.perf_counter()
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=groups[feature],
        n_boot=n_boot,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    frame.difference_ci()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fairlearn-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    y, p, score, groups, sensitive = load()
    ours = time_ours(y, p, score, groups, sensitive, 1000, args.repeats)
    theirs = time_fairlearn(y, p, groups, sensitive[0], args.fairlearn_boot)
    result = {
        "rows": int(len(y)),
        "views": sensitive + ([" x ".join(sensitive)] if len(sensitive) > 1 else []),
        "ours_n_boot": 1000,
        "ours_seconds": {"median": statistics.median(ours), "min": min(ours), "max": max(ours), "runs": len(ours)},
        "ours_scope": (
            "group rates with Wilson intervals, ROC AUC (bootstrap) and ECE, vs-reference "
            "comparisons, 7 criteria with verdicts, max-min values, every view"
        ),
        "fairlearn_n_boot": args.fairlearn_boot,
        "fairlearn_seconds": theirs,
        "fairlearn_scope": f"MetricFrame with selection rate, TPR, FPR by '{sensitive[0]}' only, plus difference_ci",
        "target_seconds": 3.0,
        "target_met": statistics.median(ours) <= 3.0,
        "command": "python benchmarks/bench_fairness.py " + " ".join(sys.argv[1:]),
    }
    (ROOT / "benchmarks" / "fairness.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    lines = [
        "# Fairness audit with bootstrap intervals",
        "",
        f"Adult test split, {result['rows']} rows, views: {', '.join(result['views'])}. Command: "
        f"`{result['command']}`.",
        "",
        "| | resamples | scope | seconds |",
        "|---|---|---|---|",
        f"| ours (vectorised) | 1000 | {result['ours_scope']} | median {statistics.median(ours):.2f} (min "
        f"{min(ours):.2f}, max {max(ours):.2f}, {len(ours)} runs) |",
        f"| fairlearn MetricFrame | {args.fairlearn_boot} | {result['fairlearn_scope']} | {theirs:.2f} (1 run) |",
        "",
        f"Target <= 3 s for ours: {'met' if result['target_met'] else 'NOT met'}.",
    ]
    (ROOT / "benchmarks" / "FAIRNESS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
