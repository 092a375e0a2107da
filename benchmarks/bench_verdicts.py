"""Operating characteristics of the audit gate, by simulation and exact enumeration with known truth.

Writes ``benchmarks/VERDICTS.md`` and ``benchmarks/verdicts.json``:

* false pass with the truth exactly at the bound (ratio 0.8 / 1.25, difference 0.1) for 1, 2 and
  10 gating comparisons, at moderate rates and for groups of 20-40 rows at rates near 0 and 1
  (exact enumeration over every count table, so no Monte Carlo error), beside the same rule
  built from Wilson limits, the project's previous choice;
* false fail at the bound (the family interval wholly outside);
* the pass rate of a truly fair model (equal selection rates and equal TPR in every group) with six
  groups of 3-55% at 2,000 / 30,000 / 100,000 rows, and with Adult's sex x race shares and base rates;
* the two skip cases: a 20-29-row group selected at a ratio of 0.09 to the reference, and a TPR gap
  of 0.5 in a group with fewer than 10 positives;
* whether the "needs about N" the audit prints gives about 80% passes when the truth is the estimate.

Every decision is made by the project's own code: single comparisons by
:func:`pipeline.audit.policy.decide` (the function the audit calls), whole gates by
:func:`pipeline.audit.fairness.decide_verdicts` on simulated confusion cells (the function the stage
and ``python -m pipeline gate`` call). No rows are simulated: the verdicts depend on the cells only.

    python benchmarks/bench_verdicts.py            # about 5-10 minutes on 2 cores
    python benchmarks/bench_verdicts.py --quick    # fewer replications (development)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import binom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.audit import fairness as fm  # noqa: E402
from pipeline.audit import policy as pol  # noqa: E402

ALPHA = 0.05
REF_N = 2000  # reference group's denominator in the single-comparison scenarios
LIMIT = 0.055  # the target for every false pass; 0.05 for false fail


def single(kind: str, p1: float, n1: int, p2: float, n2: int, bound, m: int = 1, limits: str = "exact") -> dict:
    """Exact P(pass) and P(fail) of one comparison: every (k1, k2) weighted by its binomial probability."""
    k1, k2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
    w = binom.pmf(k1, n1, p1) * binom.pmf(k2, n2, p2)
    d = pol.decide(kind, k1.ravel(), n1, k2.ravel(), n2, bound, pol.Levels(ALPHA, m), limits=limits)
    return {"pass": float((w.ravel() * d["passes"]).sum()), "fail": float((w.ravel() * d["fails"]).sum())}


def at_bound_scenarios() -> list[dict]:
    """(name, kind, group rate, group n, reference rate, reference n, bound)."""
    rows = [
        ("ratio 0.8, moderate rates, 1,000 vs 2,000", "ratio", 0.24, 1000, 0.30, REF_N, (0.8, 1.25)),
        ("ratio 1.25, moderate rates, 1,000 vs 2,000", "ratio", 0.375, 1000, 0.30, REF_N, (0.8, 1.25)),
        ("difference +0.1, moderate rates, 600 vs 2,000", "difference", 0.70, 600, 0.60, REF_N, 0.1),
        ("difference -0.1, moderate rates, 600 vs 2,000", "difference", 0.50, 600, 0.60, REF_N, 0.1),
    ]
    for n in (30, 35, 40):
        rows += [
            (f"difference, group {n} at 0.99 vs 0.89", "difference", 0.99, n, 0.89, REF_N, 0.1),
            (f"difference, group {n} at 0.89 vs 0.99", "difference", 0.89, n, 0.99, REF_N, 0.1),
            (f"difference, group {n} at 0.01 vs 0.11", "difference", 0.01, n, 0.11, REF_N, 0.1),
            (f"difference, group {n} at 0.11 vs 0.01", "difference", 0.11, n, 0.01, REF_N, 0.1),
            (f"ratio 1.25, group {n} at 0.99 vs 0.792", "ratio", 0.99, n, 0.792, REF_N, (0.8, 1.25)),
            (f"ratio 0.8, group {n} at 0.792 vs 0.99", "ratio", 0.792, n, 0.99, REF_N, (0.8, 1.25)),
        ]
    return rows


def bench_at_bound() -> list[dict]:
    out = []
    for name, kind, p1, n1, p2, n2, bound in at_bound_scenarios():
        exact, wilson = single(kind, p1, n1, p2, n2, bound), single(kind, p1, n1, p2, n2, bound, limits="wilson")
        out.append(
            {
                "scenario": name,
                "false_pass": exact["pass"],
                "false_fail": exact["fail"],
                "false_pass_wilson": wilson["pass"],
            }
        )
    return out


# --- whole gates through the audit's own code ---------------------------------------------------


def settings(criteria: dict, attributes=None) -> fm.FairnessSettings:
    return fm.FairnessSettings(n_boot=0, policy=pol.Policy(criteria=criteria, attributes=attributes))


def draw_cells(rng, n: int, shares, base, tpr, fpr) -> dict:
    """Confusion cells of each group: rows by share, positives by base rate, decisions by TPR / FPR."""
    rows = rng.multinomial(n, shares)
    pos = rng.binomial(rows, base)
    tp = rng.binomial(pos, tpr)
    fp = rng.binomial(rows - pos, fpr)
    return {"tp": tp, "fp": fp, "fn": pos - tp, "tn": rows - pos - fp}


def gate_outcome(views: list, s, sensitive) -> str:
    verdicts, _ = fm.decide_verdicts(views, s, sensitive, gating_only=True)
    statuses = {v["status"] for v in verdicts if v["gating"]}
    return "fail" if "fail" in statuses else "pass" if statuses == {"pass"} else "other"


def simulate(reps: int, seed: int, make_views, s, sensitive) -> dict:
    rng = np.random.default_rng(seed)
    counts = {"pass": 0, "fail": 0, "other": 0}
    for _ in range(reps):
        counts[gate_outcome(make_views(rng), s, sensitive)] += 1
    return {k: v / reps for k, v in counts.items()} | {"reps": reps}


def one_view(name, groups, cells) -> fm.ViewEvidence:
    return fm.ViewEvidence(name, list(groups), {k: np.asarray(v, dtype=np.float64) for k, v in cells.items()}, None)


SIX_SHARES = np.array([0.55, 0.20, 0.10, 0.07, 0.05, 0.03])
SIX_NAMES = [f"g{i}" for i in range(6)]


def fair_six(n: int):
    """Equal base rate 0.3, TPR 0.75, FPR 0.1 in every group: both default criteria hold exactly."""

    def make(rng):
        return [one_view("group", SIX_NAMES, draw_cells(rng, n, SIX_SHARES, 0.3, 0.75, 0.10))]

    return make


def ten_at_bound(n: int, kind: str):
    """Default policy on six groups (10 comparisons); the smallest group is exactly at the bound of one
    criterion (selection ratio 0.8, or TPR lower by 0.1), every other comparison is exactly fair."""
    shares = np.array([0.30, 0.14, 0.14, 0.14, 0.14, 0.14])
    base, tpr = np.full(6, 0.3), np.full(6, 0.75)
    fpr = np.full(6, 0.10)
    if kind == "ratio":  # selection 0.295 -> 0.236 with TPR unchanged: lower FPR
        fpr[5] = (0.8 * 0.295 - 0.3 * 0.75) / 0.7
    else:  # TPR 0.65 with the selection rate unchanged: raise FPR to keep the ratio at 1
        tpr[5] = 0.65
        fpr[5] = (0.295 - 0.3 * 0.65) / 0.7

    def make(rng):
        return [one_view("group", SIX_NAMES, draw_cells(rng, n, shares, base, tpr, fpr))]

    return make


def adult_joint() -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Sex x race shares and base rates of the bundled Adult data (both official splits)."""
    from pipeline.data import adult

    raw = adult.load(ROOT / "data" / "raw")
    frame = raw.features.assign(y=raw.target.str.strip().eq(">50K").to_numpy())
    joint = frame.groupby(["sex", "race"])["y"].agg(["size", "mean"]).reset_index()
    return list(joint["sex"]), list(joint["race"]), (joint["size"] / joint["size"].sum()).to_numpy(), joint["mean"]


def fair_adult(n: int, joint):
    """Adult's shares and base rates; the model selects 25% and has TPR 0.5 in every joint group
    (FPR set per group to make both hold), so both criteria hold exactly on sex and on race."""
    sex, race, shares, base = joint
    base = np.asarray(base)
    tpr = np.full(len(shares), 0.5)
    fpr = (0.25 - base * tpr) / (1 - base)

    def make(rng):
        cells = draw_cells(rng, n, shares, base, tpr, fpr)
        views = []
        for name, labels in (("sex", sex), ("race", race)):
            names = sorted(set(labels))
            idx = np.array([names.index(v) for v in labels])
            views.append(one_view(name, names, {k: np.bincount(idx, v, len(names)) for k, v in cells.items()}))
        return views

    return make


def skip_small_ratio(rng):
    """Reference 2,000 rows selected at 0.5; a group of 20-29 rows selected at 0.045 (ratio 0.09)."""
    n_small = int(rng.integers(20, 30))
    rows = np.array([2000, n_small])
    sel = np.array([0.5, 0.045])
    fp = rng.binomial(rows, sel)
    cells = {"tp": np.zeros(2), "fp": fp, "fn": np.zeros(2), "tn": rows - fp}
    return [one_view("group", ["big", "small"], cells)]


def skip_few_positives(rng):
    """Reference TPR 0.8 on 600 positives; a 60-row group with 5-9 positives and TPR 0.3 (gap 0.5),
    selection rates kept equal so only equal opportunity can object."""
    pos_small = int(rng.integers(5, 10))
    rows = np.array([2000, 60])
    pos = np.array([600, pos_small])
    tp = rng.binomial(pos, [0.8, 0.3])
    fp = rng.binomial(rows - pos, [0.1, 0.15])
    return [one_view("group", ["big", "small"], {"tp": tp, "fp": fp, "fn": pos - tp, "tn": rows - pos - fp})]


def bench_gates(reps: int) -> dict:
    default = settings(dict(pol.DEFAULT_CRITERIA))
    out = {}
    for n in (2000, 30000, 100000):
        out[f"fair, six groups of 3-55%, {n:,} rows"] = simulate(reps, n, fair_six(n), default, ["group"])
    joint = adult_joint()
    for n in (16281, 48842):
        out[f"fair, Adult sex x race shares, {n:,} rows"] = simulate(
            reps, n, fair_adult(n, joint), default, ["sex", "race"]
        )
    small = tuple(pol.Exemption("race", g, "too few people") for g in ("Amer-Indian-Eskimo", "Other"))
    exempting = replace(default, policy=replace(default.policy, exempt=small))
    for n in (16281, 48842):
        out[f"fair, Adult shares, the two smallest race groups exempt, {n:,} rows"] = simulate(
            reps, n, fair_adult(n, joint), exempting, ["sex", "race"]
        )
    for kind in ("ratio", "difference"):
        out[f"10 comparisons, one at the {kind} bound, 100,000 rows"] = simulate(
            reps * 4, 7, ten_at_bound(100_000, kind), default, ["group"]
        )
    two = settings({"selection_rate_ratio": (0.8, 1.25)})
    out["2 comparisons, one at the ratio bound (3 groups, 1,000 rows each)"] = simulate(
        reps * 4, 11, two_at_bound, two, ["group"]
    )
    out["skip case: 20-29-row group at ratio 0.09"] = simulate(reps, 3, skip_small_ratio, default, ["group"])
    out["skip case: TPR gap 0.5, fewer than 10 positives"] = simulate(reps, 5, skip_few_positives, default, ["group"])
    return out


def two_at_bound(rng):
    rows = np.array([1000, 1000, 1000])
    sel = np.array([0.30, 0.24, 0.30])
    fp = rng.binomial(rows, sel)
    return [one_view("group", ["a", "b", "c"], {"tp": np.zeros(3), "fp": fp, "fn": np.zeros(3), "tn": rows - fp})]


def bench_needed(reps: int) -> list[dict]:
    """Truth = an inconclusive estimate; at the printed size the comparison should pass about 80%."""
    out = []
    for kind, p1, p2, bound, n1 in (("difference", 0.55, 0.60, 0.1, 200), ("ratio", 0.27, 0.30, (0.8, 1.25), 300)):
        sizes = [[p1 * n1, n1, p2 * 4000, 4000]]
        needed = pol.needed_size(kind, sizes, bound, ALPHA)["needs"]
        rate = single(kind, p1, needed, p2, 4000, bound)["pass"]
        out.append(
            {
                "kind": kind,
                "group_rate": p1,
                "reference_rate": p2,
                "reference_n": 4000,
                "needs": needed,
                "pass_rate_at_needs": rate,
            }
        )
    return out


def write(results: dict, path: Path) -> None:
    lines = [
        "# Operating characteristics of the audit gate",
        "",
        f"`python benchmarks/bench_verdicts.py` ({results['seconds']:.0f} s). alpha = {ALPHA}; defaults of "
        "`params.yaml` (min_group_size 30, min_events 10, Bonferroni family for fail). Rule: "
        + pol.Levels(ALPHA, 10).rule(),
        "",
        "## One comparison with the truth exactly at the bound (exact enumeration, reference 2,000)",
        "",
        f"Target: false pass <= {LIMIT}, false fail <= 0.05. `wilson` is the same rule built from Wilson limits.",
        "",
        "| scenario | false pass | false fail | false pass (wilson) | met |",
        "|---|---|---|---|---|",
    ]
    for r in results["at_bound"]:
        met = r["false_pass"] <= LIMIT and r["false_fail"] <= 0.05
        lines.append(
            f"| {r['scenario']} | {r['false_pass']:.4f} | {r['false_fail']:.4f} | "
            f"{r['false_pass_wilson']:.4f} | {'yes' if met else 'NO'} |"
        )
    lines += [
        "",
        "## Whole gates through `decide_verdicts` (Monte Carlo)",
        "",
        "| scenario | reps | pass | fail | other (inconclusive / not assessable) |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["gates"].items():
        lines.append(f"| {name} | {r['reps']} | {r['pass']:.3f} | {r['fail']:.3f} | {r['other']:.3f} |")
    lines += [
        "",
        "Targets: a fair six-group model passes >= 0.70 at 30,000 rows; false pass at the bound <= "
        f"{LIMIT} (Monte Carlo error about +-0.005 at these reps); the two skip cases pass 0.",
        "",
        "## What the audit says it would take",
        "",
        "| kind | group rate | reference rate (n) | needs | pass rate at that size (exact) |",
        "|---|---|---|---|---|",
    ]
    for r in results["needed"]:
        lines.append(
            f"| {r['kind']} | {r['group_rate']} | {r['reference_rate']} ({r['reference_n']}) | "
            f"{r['needs']} | {r['pass_rate_at_needs']:.3f} |"
        )
    lines += ["", "Targets: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in results["targets"].items())]
    lines += [
        "",
        "## Reading",
        "",
        "- The exact limits are what keeps small groups near rates of 0 and 1 under 5%: the same rule on Wilson "
        "limits lets a group at the bound pass 8% of the time there.",
        "- The IUT needs no correction for pass: with one comparison at the bound and nine truly equal, the gate "
        "passes about as often as that one comparison alone.",
        "- A fair model with Adult's sex x race shares does not pass at Adult's size: the smallest race groups "
        "(Amer-Indian-Eskimo, Other: about 1% of rows each) cannot be shown equivalent at these sizes, so the race "
        "checks stay inconclusive or not assessable. That is the data's limit, stated with the sample size each "
        "comparison would need; `audit.policy.exempt` lets an owner accept it explicitly and visibly (a fail is "
        "never exempted).",
        '- The "needs about N" figure is a normal approximation of TOST power; at the printed size the exact rule '
        "passes 78-79% of the time (target 80%): read it as an order of magnitude.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def targets(results: dict) -> dict:
    gates = results["gates"]
    at_bound_gates = [v for k, v in gates.items() if "at the" in k or "at the ratio bound" in k]
    return {
        "false pass at the bound <= 0.055 (every scenario)": all(r["false_pass"] <= LIMIT for r in results["at_bound"])
        and all(v["pass"] <= LIMIT for v in at_bound_gates),
        "false fail at the bound <= 0.05": all(r["false_fail"] <= 0.05 for r in results["at_bound"])
        and all(v["fail"] <= 0.05 for v in at_bound_gates),
        "fair six groups pass >= 0.70 at 30,000 rows": gates["fair, six groups of 3-55%, 30,000 rows"]["pass"] >= 0.7,
        "skip cases pass 0": all(v["pass"] == 0 for k, v in gates.items() if k.startswith("skip case")),
    }


def main(argv=None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true")
    args.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args.add_argument("--render", action="store_true", help="rewrite VERDICTS.md from verdicts.json, no simulation")
    a = args.parse_args(argv)
    if a.render:
        write(json.loads((a.out / "verdicts.json").read_text(encoding="utf-8")), a.out / "VERDICTS.md")
        return 0
    start = time.perf_counter()
    reps = 100 if a.quick else 1000
    results = {"at_bound": bench_at_bound(), "gates": bench_gates(reps), "needed": bench_needed(reps)}
    results["seconds"] = time.perf_counter() - start
    results["targets"] = targets(results)
    (a.out / "verdicts.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write(results, a.out / "VERDICTS.md")
    print((a.out / "VERDICTS.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
