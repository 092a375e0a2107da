"""Coverage of the fairness audit's intervals, measured by simulation with known truth.

Six groups of fixed size (1,200, 400, 150, 100, 60 and 30 rows: the small ones are the point),
each with a known base rate, true positive rate and false positive rate. Each replication draws
the truth and the decisions, runs the project's own ``audit_decisions`` (every criterion, no
family correction, so each interval is at the nominal level) and records whether each reported
interval contains the true value: per-group rates (Wilson) and, against the reference group,
every criterion's disparity (Newcombe differences, MOVER-R ratios, the max-abs interval of
equalized odds). A second pass with the default policy and Bonferroni measures how often all
gating intervals hold at once. An undefined interval (e.g. no positives drawn) counts as a miss.

Usage: python benchmarks/bench_coverage.py [--reps 2000] [--quick]
Writes benchmarks/coverage.json and benchmarks/COVERAGE.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.audit.fairness import FairnessSettings, audit_decisions  # noqa: E402
from pipeline.audit.policy import CRITERIA, Policy  # noqa: E402

#: group -> (rows, base rate, TPR, FPR); g0 is the reference
GROUPS = {
    "g0": (1200, 0.30, 0.75, 0.10),
    "g1": (400, 0.20, 0.70, 0.08),
    "g2": (150, 0.40, 0.80, 0.15),
    "g3": (100, 0.25, 0.60, 0.12),
    "g4": (60, 0.35, 0.70, 0.20),
    "g5": (30, 0.50, 0.65, 0.25),
}
LEVEL = 0.95
ALL_RATE_CRITERIA = {
    name: (0.8, 1.25) if c.kind == "ratio" else 0.1 for name, c in CRITERIA.items() if c.kind != "calibration"
}


def truths() -> dict:
    out = {}
    for g, (_, base, tpr, fpr) in GROUPS.items():
        sel = base * tpr + (1 - base) * fpr
        out[g] = {
            "base_rate": base,
            "tpr": tpr,
            "fpr": fpr,
            "fnr": 1 - tpr,
            "selection_rate": sel,
            "precision": base * tpr / sel,
            "accuracy": base * tpr + (1 - base) * (1 - fpr),
        }
    return out


def true_disparity(criterion: str, g: str, t: dict) -> float:
    a, r = t[g], t["g0"]
    return {
        "selection_rate_ratio": a["selection_rate"] / r["selection_rate"],
        "demographic_parity": a["selection_rate"] - r["selection_rate"],
        "equal_opportunity": a["tpr"] - r["tpr"],
        "equalized_odds": max(abs(a["tpr"] - r["tpr"]), abs(a["fpr"] - r["fpr"])),
        "false_positive_rate_balance": a["fpr"] - r["fpr"],
        "predictive_parity": a["precision"] - r["precision"],
    }[criterion]


def draw(rng):
    labels, y, p = [], [], []
    for g, (n, base, tpr, fpr) in GROUPS.items():
        truth = rng.random(n) < base
        pred = np.where(truth, rng.random(n) < tpr, rng.random(n) < fpr)
        labels += [g] * n
        y.append(truth)
        p.append(pred)
    return np.concatenate(y).astype(int), np.concatenate(p).astype(int), pd.DataFrame({"group": labels})


def _hit(ci, truth) -> bool:
    return ci is not None and ci[0] - 1e-12 <= truth <= ci[1] + 1e-12


def simulate(reps: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    t = truths()
    per_interval = FairnessSettings(
        n_boot=0,
        ci=LEVEL,
        min_group_size=1,
        reference="g0",
        policy=Policy(criteria=ALL_RATE_CRITERIA, min_events=1, family="none"),
    )
    gated = FairnessSettings(n_boot=0, ci=LEVEL, min_group_size=1, reference="g0", policy=Policy(min_events=1))
    hits: dict[tuple[str, str], list[bool]] = {}
    simultaneous = []
    for _ in range(reps):
        y, p, groups = draw(rng)
        result = audit_decisions(y, p, None, groups, ["group"], per_interval)
        for g, entry in result["features"]["group"]["groups"].items():
            for rate in ("selection_rate", "tpr", "fpr", "precision", "base_rate"):
                hits.setdefault((f"rate: {rate}", g), []).append(_hit(entry["ci"][rate], t[g][rate]))
        for v in result["verdicts"]:
            for row in v["comparisons"]:
                hits.setdefault((f"disparity: {v['metric']}", row["group"]), []).append(
                    _hit(row["ci"], true_disparity(v["metric"], row["group"], t))
                )
        family = audit_decisions(y, p, None, groups, ["group"], gated)
        simultaneous.append(
            all(
                _hit(row["ci"], true_disparity(v["metric"], row["group"], t))
                for v in family["verdicts"]
                if v["gating"]
                for row in v["comparisons"]
            )
        )
    rows = [
        {"quantity": q, "group": g, "rows": GROUPS[g][0], "coverage": float(np.mean(h))}
        for (q, g), h in sorted(hits.items())
    ]
    mc_se = float(np.sqrt(LEVEL * (1 - LEVEL) / reps))
    return {
        "nominal": LEVEL,
        "replications": reps,
        "seed": seed,
        "monte_carlo_se": mc_se,
        "groups": {g: dict(zip(("rows", "base_rate", "tpr", "fpr"), v)) for g, v in GROUPS.items()},
        "rows": rows,
        "min_group_rate_coverage": min(r["coverage"] for r in rows if r["quantity"].startswith("rate")),
        "min_disparity_coverage": min(r["coverage"] for r in rows if r["quantity"].startswith("disparity")),
        "min_coverage_groups_30_100_rows": min(r["coverage"] for r in rows if 30 <= r["rows"] <= 100),
        "simultaneous_coverage_default_policy_bonferroni": float(np.mean(simultaneous)),
    }


def markdown(res: dict, seconds: float) -> str:
    lines = [
        "# Interval coverage (benchmarks/bench_coverage.py)",
        "",
        f"{res['replications']} replications with known truth, nominal {res['nominal']:.0%}, seed {res['seed']} "
        f"(Monte-Carlo standard error {res['monte_carlo_se']:.3f}); {seconds:.0f} s. Target: at least 93%.",
        "",
        f"- lowest coverage, per-group rates (Wilson): **{res['min_group_rate_coverage']:.3f}**",
        "- lowest coverage, disparities against the reference (Newcombe / MOVER-R / max-abs): "
        f"**{res['min_disparity_coverage']:.3f}**",
        f"- lowest coverage in groups of 30-100 rows: **{res['min_coverage_groups_30_100_rows']:.3f}**",
        "- all gating intervals of the default policy at once (Bonferroni): "
        f"**{res['simultaneous_coverage_default_policy_bonferroni']:.3f}**",
        "",
        "| quantity | group | rows | coverage |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['quantity']} | {r['group']} | {r['rows']} | {r['coverage']:.3f} |" for r in res["rows"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 replications")
    args = parser.parse_args()
    start = time.perf_counter()
    res = simulate(200 if args.quick else args.reps, args.seed)
    seconds = time.perf_counter() - start
    res["seconds"] = seconds
    (ROOT / "benchmarks" / "coverage.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    (ROOT / "benchmarks" / "COVERAGE.md").write_text(markdown(res, seconds))
    print(markdown(res, seconds).split("\n| quantity")[0])


if __name__ == "__main__":
    main()
