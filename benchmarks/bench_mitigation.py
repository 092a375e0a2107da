"""The mitigation stage's cost as a multiple of one network fit, and what it achieves.

Target (issue 19): the whole ``python -m pipeline mitigate`` command costs at most 40 fits of the
network (``MAX_FIT_MULTIPLE``), so mitigating the actual network stays in proportion to training it.

Measured, as the user meets it, in a scratch project (benchmarks/work/mitigation) holding this
checkout's params and prepared data:

* ``python -m pipeline train`` and ``python -m pipeline mitigate`` as whole processes (imports included;
  the stage ``--repeats`` times, median: the machine is shared);
* one network fit in-process, with the settings each reduction refit uses (median of ``--repeats``
  after one warm-up fit), the unit of the target;
* the predictions a reduction makes between its fits (the network on every training row), with one
  thread (what the estimator uses for a small network) and with torch's default thread count,
  interleaved, wall and CPU seconds;
* from the stage's own outputs: the fits it ran, and each candidate's accuracy and disparity on
  the mitigated attribute with their intervals, and its verdict.

With ``--iterations 4,6,10`` it also runs the stage with ExponentiatedGradient alone at each
iteration count and records its fits, cost and gating checks (the trade-off behind ``max_iter``).

Usage: python benchmarks/bench_mitigation.py [--repeats 3] [--iterations 4,6,10]
Needs data/raw (or data/prepared). Writes benchmarks/MITIGATION.md and benchmarks/mitigation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "work" / "mitigation"
MAX_FIT_MULTIPLE = 40.0


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}


def stage(name: str) -> float:
    """Wall time of one stage as a whole process in the scratch project."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", name], cwd=WORK, env=_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"python -m pipeline {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def setup() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "data").mkdir(parents=True)
    shutil.copy2(ROOT / "params.yaml", WORK / "params.yaml")
    if (ROOT / "data" / "prepared" / "meta.json").is_file():
        shutil.copytree(ROOT / "data" / "prepared", WORK / "data" / "prepared")
    else:
        shutil.copytree(ROOT / "data" / "raw", WORK / "data" / "raw")
        stage("prepare")


def one_fit_seconds(repeats: int) -> list[float]:
    """In-process wall time of one refit on every training row (unit weights), after a warm-up."""
    os.chdir(WORK)
    from pipeline import config, contracts, paths, splits
    from pipeline.mitigation.estimator import NetworkClassifier

    cfg = config.load("params.yaml")
    meta = contracts.read(paths.PREPARED_META)
    train = splits.arrays("train")
    y01 = (train["y"] == meta.favourable_index).astype(int)
    weights = [1.0] * len(y01)
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        NetworkClassifier(cfg.train, seed=cfg.seed, workdir="models/refits.tmp").fit(
            train["X"], y01, sample_weight=weights
        )
        if i:  # the first fit pays the imports
            times.append(time.perf_counter() - started)
    shutil.rmtree("models/refits.tmp", ignore_errors=True)
    return times


def prediction_threads(repeats: int, calls: int = 20) -> dict:
    """Seconds per prediction of the trained network on every training row: one thread against
    torch's default, interleaved (``repeats`` rounds of ``calls`` predictions each)."""
    import resource

    import torch

    from pipeline import splits
    from pipeline.models.predict import load_trained, predict_proba
    from pipeline.training.threads import thread_scope

    os.chdir(WORK)
    model, X = load_trained(), splits.arrays("train")["X"]
    default = torch.get_num_threads()

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    out = {1: {"wall_s": [], "cpu_s": []}, default: {"wall_s": [], "cpu_s": []}}
    for _ in range(repeats):
        for threads in out:
            with thread_scope(threads):
                predict_proba(model, X)  # warm the pool at this count
                wall, used = time.perf_counter(), cpu()
                for _ in range(calls):
                    predict_proba(model, X)
                out[threads]["wall_s"].append((time.perf_counter() - wall) / calls)
                out[threads]["cpu_s"].append((cpu() - used) / calls)
    return {"rows": len(X), "default_threads": default, "by_threads": {str(k): v for k, v in out.items()}}


def candidates(result: dict) -> dict:
    out = {}
    for name, row in result["candidates"].items():
        checks = [
            {k: c.get(k) for k in ("check", "value", "ci", "bound", "status", "group", "reference")}
            for c in row["trade_off"]["gating_checks"]
        ]
        out[name] = {
            "accuracy": row["accuracy"],
            "targets": row.get("targets") or [],
            "gating_checks": checks,
            "passed": row["passed"],
            "fits": row["fits"],
            "deployable": row["deployable"],
        }
    return out


def unattainable(result: dict) -> list[dict]:
    """Gating comparisons of the closest candidate that could not pass even at exact equality (mitigate's obstacles)."""
    ob = result.get("obstacles") or {}
    out = []
    for v in ob.get("not_passing") or []:
        for c in v["comparisons"]:
            e = c.get("at_equality")
            if e and e["status"] != "pass":
                out.append(
                    {
                        "check": v["check"],
                        "group": c["group"],
                        "reference": v["reference"],
                        "bound": v["bound"],
                        "n_group": e["n_group"],
                        "rate": e["rate"],
                        "ci_at_equality": e["ci"],
                        "ci_level": v["ci_level"],
                    }
                )
    return out


def _ci(e: dict) -> str:
    return f"[{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]" if e.get("ci") else ""


def _moment_text(m: dict) -> str:
    """A fairlearn moment with its arguments, e.g. ``DemographicParity(difference_bound=0.01)``."""
    return m["moment"] + "(" + ", ".join(f"{k}={v}" for k, v in m.items() if k != "moment") + ")"


def markdown(figures: dict) -> str:
    f = figures
    met = "met" if f["fit_multiple"] <= MAX_FIT_MULTIPLE else "NOT met"
    lines = [
        "# Mitigation cost and outcome (benchmarks/bench_mitigation.py)",
        "",
        f"Target: `python -m pipeline mitigate` at most {MAX_FIT_MULTIPLE:.0f} network fits -> **{met}** "
        f"({f['fit_multiple']:.1f} fits).",
        "",
        f"- mitigate stage (whole process, median of {len(f['mitigate_stage_runs_s'])}: "
        f"{', '.join(f'{x:.1f}' for x in f['mitigate_stage_runs_s'])}): {f['mitigate_stage_s']:.1f} s; train stage "
        f"(whole process): {f['train_stage_s']:.1f} s ({f['stage_multiple']:.1f}x)",
        f"- one network fit in-process (median of {len(f['one_fit_s'])}): {f['one_fit_median_s']:.2f} s",
        f"- network fits run by the stage: {f['fits_used']} (budget {f['fit_budget']}), methods "
        f"{', '.join(f['methods'])}, constraint `{f['constraint']}` on {' x '.join(f['attributes'])}; targets: "
        + "; ".join(
            f"{' + '.join(t['criteria'])} -> {', '.join(_moment_text(m) for m in t['moments'])}" for t in f["targets"]
        ),
        f"- best passing candidate: {f['best_passing'] or 'none'}",
        "",
        "| candidate | targets | accuracy [CI] | gating checks: value [simultaneous CI] status | passes policy "
        "| fits |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in f["candidates"].items():
        a = c["accuracy"]
        checks = "<br>".join(
            f"{k['check']} {k['value']:.3f} {_ci(k)} {k['status']}"
            if k["value"] is not None
            else f"{k['check']} undefined {k['status']}"
            for k in c["gating_checks"]
        )
        lines.append(
            f"| {name} | {', '.join(c['targets']) or '-'} | {a['value']:.3f} {_ci(a)} | {checks} | "
            f"{c['passed']} | {c['fits']} |"
        )
    if f["unattainable"]:
        lines += [
            "",
            "Gating comparisons no model can pass on this test split (interval if the group's rate equalled "
            "the reference's):",
            "",
            "| check | group vs reference | people in the rate's denominator | interval at equality | bound |",
            "| --- | --- | --- | --- | --- |",
        ]
        for u in f["unattainable"]:
            lines.append(
                f"| {u['check']} | {u['group']} vs {u['reference']} | {u['n_group']} ({u['rate']}) | "
                f"[{u['ci_at_equality'][0]:.3f}, {u['ci_at_equality'][1]:.3f}] at {u['ci_level']:.4f} | {u['bound']} |"
            )
    p = f["prediction_threads"]
    lines += [
        "",
        f"Predictions between a reduction's fits (the trained network on all {p['rows']:,} training rows; median "
        "over rounds, one thread and the default interleaved):",
        "",
        "| intra-op threads | wall ms per prediction | CPU ms per prediction |",
        "| --- | --- | --- |",
    ]
    for threads, t in p["by_threads"].items():
        label = f"{threads} (torch's default)" if int(threads) == p["default_threads"] else threads
        lines.append(
            f"| {label} | {1e3 * statistics.median(t['wall_s']):.1f} | {1e3 * statistics.median(t['cpu_s']):.1f} |"
        )
    lines += ["", f"Machine: {f['machine']}", ""]
    return "\n".join(lines)


def sweep(iterations: list[int], one_fit: float) -> list[dict]:
    """ExponentiatedGradient alone at each iteration count: fits, stage cost, and its audit."""
    import yaml

    original = (WORK / "params.yaml").read_text()
    rows = []
    try:
        for it in iterations:
            params = yaml.safe_load(original)
            params["mitigation"].update({"methods": ["exponentiated_gradient"], "max_iter": it, "max_fits": 1000})
            (WORK / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            wall = stage("mitigate")
            result = json.loads((WORK / "reports" / "metrics" / "mitigation.json").read_text())
            eg = {n: c for n, c in candidates(result).items() if n.startswith("exponentiated_gradient")}
            rows.append(
                {
                    "max_iter": it,
                    "stage_s": wall,
                    "fit_multiple": wall / one_fit,
                    "fits": result["fits_used"],
                    "candidate": eg,
                    "errors": result["errors"],
                }
            )
    finally:
        (WORK / "params.yaml").write_text(original)
    return rows


def sweep_markdown(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "ExponentiatedGradient alone, by `mitigation.max_iter` (same data, policy and seed):",
        "",
        "| max_iter | network fits | stage (fits' worth) | accuracy [CI] | gating checks |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for _, c in r["candidate"].items():
            checks = "<br>".join(
                f"{k['check']} {k['value']:.3f} {_ci(k)} {k['status']}"
                for k in c["gating_checks"]
                if k["value"] is not None
            )
            lines.append(
                f"| {r['max_iter']} | {r['fits']} | {r['stage_s']:.1f} s ({r['fit_multiple']:.1f}) | "
                f"{c['accuracy']['value']:.3f} {_ci(c['accuracy'])} | {checks} |"
            )
        for error in r["errors"].values():
            lines.append(f"| {r['max_iter']} | {r['fits']} | {r['stage_s']:.1f} s | not built | {error} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", default="", help="comma-separated max_iter values for the EG sweep")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    setup()
    train_s = stage("train")
    mitigate_runs = [stage("mitigate") for _ in range(args.repeats)]  # a shared machine: median of several runs
    mitigate_s = statistics.median(mitigate_runs)
    result = json.loads((WORK / "reports" / "metrics" / "mitigation.json").read_text())
    fits = one_fit_seconds(args.repeats)
    one = statistics.median(fits)
    predictions = prediction_threads(args.repeats)
    swept = sweep([int(i) for i in args.iterations.split(",") if i], one) if args.iterations else []
    load_end = os.getloadavg()[0]
    figures = {
        "iterations_sweep": swept,
        "prediction_threads": predictions,
        "target_max_fit_multiple": MAX_FIT_MULTIPLE,
        "mitigate_stage_s": mitigate_s,
        "mitigate_stage_runs_s": mitigate_runs,
        "train_stage_s": train_s,
        "stage_multiple": mitigate_s / train_s,
        "one_fit_s": fits,
        "one_fit_median_s": one,
        "fit_multiple": mitigate_s / one,
        "target_met": mitigate_s / one <= MAX_FIT_MULTIPLE,
        "fits_used": result["fits_used"],
        "fit_budget": result["fit_budget"],
        "methods": result["methods"],
        "constraint": result["constraint"],
        "attributes": result.get("attributes") or [result["attribute"]],
        "targets": result.get("targets") or [],
        "unattainable": unattainable(result),
        "best_passing": result["best_passing"],
        "candidates": candidates(result),
        "machine": f"{os.cpu_count()} CPUs, load average {load_start:.2f} at the start, {load_end:.2f} at the end, "
        f"Python {sys.version.split()[0]}",
    }
    (ROOT / "benchmarks" / "mitigation.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    text = markdown(figures) + ("\n".join(sweep_markdown(swept)) + "\n" if swept else "")
    (ROOT / "benchmarks" / "MITIGATION.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
