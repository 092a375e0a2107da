"""The one bootstrap (pipeline/stats/bootstrap.py) against the per-resample library loop it replaced.

Same resamples both ways (the same seeded index draws), so the intervals agree to rounding; the
figures are the wall time of each way at the sizes the audits meet (the membership-inference
AUC on 2 x 10,000 rows, the explain importances on the Adult test split's 16,281 rows x 14
columns), median of ``--repeats`` runs. Writes ``benchmarks/stats.json``.

    python benchmarks/bench_stats.py [--repeats 3] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.stats import bootstrap  # noqa: E402

OUT = Path(__file__).resolve().parent / "stats.json"


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _auc_by_index_loop(y, score, n_boot, seed):
    """What privacy.py did before: one sklearn roc_auc_score per resample of row indices."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(score), len(score))
        if len(set(y[idx].tolist())) == 2:
            stats.append(roc_auc_score(y[idx], score[idx]))
    return np.quantile(stats, [0.025, 0.975])


def _means_by_index_loop(values, n_boot, seed):
    rng = np.random.default_rng(seed)
    stats = np.stack([values[rng.integers(0, len(values), len(values))].mean(axis=0) for _ in range(n_boot)])
    return np.quantile(stats, [0.025, 0.975], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20_000)
    score = rng.random(20_000) + 0.1 * y
    values = np.abs(rng.normal(size=(16_281, 14)))
    n_boot = args.n_boot

    def auc_one():
        return bootstrap.percentile_interval(bootstrap.bootstrap_auc(y, score, n_boot, 0), 0.95)

    def means_one():
        return bootstrap.percentile_interval(bootstrap.bootstrap_means(values, n_boot, 0), 0.95)

    auc_gap = float(np.max(np.abs(np.asarray(auc_one()) - _auc_by_index_loop(y, score, n_boot, 0))))
    means_gap = float(np.max(np.abs(np.asarray(means_one()) - _means_by_index_loop(values, n_boot, 0))))
    result = {
        "n_boot": n_boot,
        "repeats": args.repeats,
        "auc_20000_rows": {
            "stats_bootstrap_s": _median_seconds(auc_one, args.repeats),
            "sklearn_loop_s": _median_seconds(lambda: _auc_by_index_loop(y, score, n_boot, 0), args.repeats),
            "max_interval_difference": auc_gap,
        },
        "means_16281x14": {
            "stats_bootstrap_s": _median_seconds(means_one, args.repeats),
            "index_loop_s": _median_seconds(lambda: _means_by_index_loop(values, n_boot, 0), args.repeats),
            "max_interval_difference": means_gap,
        },
    }
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
