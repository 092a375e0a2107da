"""``make bench``: measure what every stage costs and write benchmarks/RESULTS.md + results.json.

Sections (each figure a median with min and max over repeated runs unless marked otherwise):

* machine: CPU, cores, RAM, GPU, package versions, load average before and after;
* ``python -m pipeline --help`` start-up and the import cost of each heavy library;
* a cold ``dvc repro`` on Adult in a fresh clone of the committed tree (per stage wall time and
  peak RSS via a measuring ``python`` shim on PATH), then a no-op ``dvc repro``;
* the other helpers' benchmark scripts (training, fairness, explain) when present, and the GPU
  results file when one was measured;
* the scaling series on synthetic Adult-like rows (benchmarks/synth.py);
* prepare, evaluate and fairness with ``engine: ray`` on 2M and 10M synthetic rows
  (benchmarks/bench_scale.py, benchmarks/SCALE.md) when Ray is installed; skipped with a line otherwise;
* every target, marked met or not met.

    python benchmarks/run_all.py            # full run (about 15-20 minutes on 2 cores; 11 more with Ray)
    python benchmarks/run_all.py --quick    # fewer repeats, small sizes (development)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import report_md  # noqa: E402
import targets  # noqa: E402
from measure import run_measured, summary, tail, write_shim  # noqa: E402

from pipeline import io  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
WORK = BENCH / "work"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
PACKAGES = (
    "torch",
    "pytorch-lightning",
    "lightning",
    "mlflow",
    "dvc",
    "fairlearn",
    "captum",
    "pandas",
    "numpy",
    "scikit-learn",
    "pydantic",
    "opacus",
    "psutil",
)
HEAVY_IMPORTS = (
    "numpy",
    "pandas",
    "sklearn",
    "torch",
    "pytorch_lightning",
    "captum.attr",
    "fairlearn.metrics",
    "mlflow",
    "mlflow.pytorch",
)
SUB_BENCHES = {
    "training": "bench_training.py",
    "fairness": "bench_fairness.py",
    "explain": "bench_explain.py",
    "coverage": "bench_coverage.py",  # interval coverage by simulation (needs no pipeline outputs)
    "explain_coverage": "bench_explain_coverage.py",  # explain's by-group flag: coverage, false alarms (simulation)
    "verdicts": "bench_verdicts.py",  # the gate's error rates by simulation with known truth (no pipeline outputs)
    "mitigation": "bench_mitigation.py",  # mitigate stage as a multiple of one network fit (target <= 40)
}
STAGE_ORDER = ("prepare", "train", "evaluate", "fairness", "mitigate", "explain", "privacy", "report", "log")
STAGE_TIMEOUT_S = 900  # a scaling stage running longer is killed and reported (exit -9), not waited for
DEFAULT_SCALING_STAGES = ("prepare", "train", "evaluate", "fairness", "explain", "privacy")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update({"DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}:{env.get('PATH', '')}", "PYTHONHASHSEED": "0"})
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


# ----------------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpu_info() -> dict:
    """Ask torch in a child process (so this process stays light) whether CUDA is usable."""
    code = (
        "import json, torch; ok = torch.cuda.is_available(); "
        "print(json.dumps({'cuda_available': ok, 'name': torch.cuda.get_device_name(0) if ok else None, "
        "'torch_cuda': torch.version.cuda}))"
    )
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"cuda_available": None, "error": proc.stderr.strip()[-300:]}


def package_versions() -> dict:
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def machine() -> dict:
    import psutil

    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --------------------------------------------------------------------------------- start-up costs
def bench_help(repeats: int) -> dict:
    """``python -m pipeline --help``, after one untimed warm-up run (file cache)."""
    cmd = [PYTHON, "-m", "pipeline", "--help"]
    run_measured(cmd, cwd=ROOT, env=base_env())
    runs = [run_measured(cmd, cwd=ROOT, env=base_env()) for _ in range(repeats)]
    return {
        "wall_s": summary([r["wall_s"] for r in runs]),
        "peak_rss_mib": summary([r["peak_rss_mib"] for r in runs]),
        "rc": max(r["rc"] for r in runs),
    }


def bench_imports(repeats: int) -> dict:
    """Wall time and RSS of importing each heavy library alone: the fixed cost a stage pays."""
    out = {}
    baseline = [run_measured([PYTHON, "-c", "pass"], cwd=ROOT, env=base_env()) for _ in range(repeats)]
    out["(interpreter only)"] = {
        "wall_s": summary([r["wall_s"] for r in baseline]),
        "peak_rss_mib": summary([r["peak_rss_mib"] for r in baseline]),
    }
    for module in HEAVY_IMPORTS:
        runs = [run_measured([PYTHON, "-c", f"import {module}"], cwd=ROOT, env=base_env()) for _ in range(repeats)]
        out[module] = {
            "wall_s": summary([r["wall_s"] for r in runs]),
            "peak_rss_mib": summary([r["peak_rss_mib"] for r in runs]),
            "rc": max(r["rc"] for r in runs),
        }
    return out


# ------------------------------------------------------------------------------------ dvc repro
def fresh_clone(dest: Path, commit: str = "HEAD") -> None:
    """A clone of the committed tree at ``commit``: no outputs, no DVC cache, no MLflow store."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", git("rev-parse", commit)], check=True)


def stage_records(stage_log: Path) -> dict:
    records = {}
    if stage_log.is_file():
        for line in stage_log.read_text().splitlines():
            row = json.loads(line)
            records[row["argv"][-1]] = row
    return records


def one_cold_repro(index: int, shim_dir: Path, commit: str = "HEAD", folder: str = "cold") -> dict:
    dest = WORK / folder / f"run{index}"
    fresh_clone(dest, commit)
    stage_log = WORK / folder / f"run{index}.stages.jsonl"
    stage_log.unlink(missing_ok=True)
    env = base_env(BENCH_STAGE_LOG=str(stage_log))
    env["PATH"] = f"{shim_dir}:{env['PATH']}"
    # --force: the clone carries dvc.lock and the git-tracked metrics, so a plain `dvc repro` would
    # skip every stage whose outputs are committed; a cold run must run all of them.
    run_log = WORK / folder / f"run{index}.log"
    result = run_measured([str(BIN / "dvc"), "repro", "--force"], cwd=dest, env=env, log=run_log)
    if result["rc"] != 0:
        raise RuntimeError(f"cold dvc repro of {commit} failed (exit {result['rc']}):\n{tail(run_log)}")
    result["stages"] = stage_records(stage_log)
    return result


def bench_dvc(cold_repeats: int, noop_repeats: int, base: str | None = None) -> dict:
    """Cold runs, each in its own fresh clone; then no-op runs in the last clone.

    With ``base`` (a commit), each cold run of HEAD is followed by one of ``base`` in its own fresh
    clone, so both meet the same machine and the same load: a cold run's wall time moves by
    several seconds from one hour to the next on a shared 2-core machine, and a figure recorded
    on another day cannot tell whether the code got slower.
    """
    shim_dir = write_shim(WORK / "shim", PYTHON)
    cold, before = [], []
    for i in range(cold_repeats):
        log(f"cold dvc repro {i + 1}/{cold_repeats}")
        cold.append(one_cold_repro(i, shim_dir))
        log(f"  {cold[-1]['wall_s']:.1f} s")
        if base:
            before.append(one_cold_repro(i, shim_dir, base, "cold-base"))
            log(f"  base {base}: {before[-1]['wall_s']:.1f} s")
    last = WORK / "cold" / f"run{cold_repeats - 1}"
    noop = [
        run_measured([str(BIN / "dvc"), "repro"], cwd=last, env=base_env(), log=WORK / "cold" / "noop.log")
        for _ in range(noop_repeats)
    ]
    stages = [s for s in STAGE_ORDER if all(s in c["stages"] for c in cold)]
    per_stage = {
        s: {
            "wall_s": summary([c["stages"][s]["wall_s"] for c in cold]),
            "peak_rss_mib": summary([c["stages"][s]["peak_rss_mib"] for c in cold]),
        }
        for s in stages
    }
    overhead = [c["wall_s"] - sum(r["wall_s"] for r in c["stages"].values()) for c in cold]
    return {
        "cold": {
            "wall_s": summary([c["wall_s"] for c in cold]),
            "stages": per_stage,
            "dvc_overhead_s": summary(overhead),
            "repeats": cold_repeats,
        },
        "cold_base": (
            {
                "commit": git("rev-parse", base),
                "wall_s": summary([c["wall_s"] for c in before]),
                "head_minus_base_s": [h["wall_s"] - b["wall_s"] for h, b in zip(cold, before)],
                "stages_wall_s": {s: summary([c["stages"][s]["wall_s"] for c in before]) for s in stages},
            }
            if base
            else None
        ),
        "noop": {
            "wall_s": summary([r["wall_s"] for r in noop]),
            "repeats": noop_repeats,
            "rc": max(r["rc"] for r in noop),
        },
    }


# ------------------------------------------------------------------------------ sub-benchmarks
def _quick_flags(script: Path, cwd: Path) -> list[str] | None:
    """Arguments that shorten a helper's script (``--quick`` or ``--repeats 1``); None if it has neither."""
    proc = subprocess.run([PYTHON, str(script), "--help"], cwd=cwd, capture_output=True, text=True, env=base_env())
    if "--quick" in proc.stdout:
        return ["--quick"]
    if "--repeats" in proc.stdout:
        return ["--repeats", "1"]
    return None


def _new_json_files(since: float) -> list[Path]:
    skip = {"results.json", "gpu_results.json"}
    return sorted(p for p in BENCH.glob("*.json") if p.name not in skip and p.stat().st_mtime >= since)


def pipeline_outputs() -> Path:
    """A clone where the whole pipeline has run (the helpers' scripts read its data and model):
    the last cold-run clone when there is one, else a fresh clone and an untimed ``dvc repro``."""
    clones = sorted((WORK / "cold").glob("run*/models/model.pt")) if (WORK / "cold").is_dir() else []
    if clones:
        return clones[-1].parents[1]
    dest = WORK / "cold" / "outputs"
    fresh_clone(dest)
    run = run_measured([str(BIN / "dvc"), "repro"], cwd=dest, env=base_env(), log=WORK / "cold" / "outputs.log")
    if run["rc"] != 0:
        raise RuntimeError(f"dvc repro for the sub-benchmarks failed:\n{tail(WORK / 'cold' / 'outputs.log')}")
    return dest


def bench_subscripts(quick: bool, keys: list[str] | None = None) -> dict:
    """Run each helper's benchmark script if it exists (in a clone holding the pipeline's outputs,
    so it reads real prepared data and a trained model) and read the JSON file(s) it wrote.
    ``keys`` limits the run to some of them."""
    results = {}
    chosen = {k: n for k, n in SUB_BENCHES.items() if keys is None or k in keys}
    present = {k: BENCH / n for k, n in chosen.items() if (BENCH / n).is_file()}
    cwd = pipeline_outputs() if present else ROOT
    for key, name in chosen.items():
        script = BENCH / name
        if key not in present:
            results[key] = {"status": "absent", "script": f"benchmarks/{name}"}
            continue
        cmd = [PYTHON, str(script)]
        if quick:
            flags = _quick_flags(script, cwd)
            if flags is None:
                results[key] = {
                    "status": "skipped in --quick (no --quick/--repeats option)",
                    "script": f"benchmarks/{name}",
                }
                continue
            cmd += flags
        log(f"sub-benchmark {name}")
        since = time.time() - 1
        logfile = WORK / f"{key}.log"
        run = run_measured(cmd, cwd=cwd, env=base_env(PYTHONPATH=str(ROOT)), log=logfile, timeout_s=1200)
        files = _new_json_files(since)
        results[key] = {
            "status": "ok" if run["rc"] == 0 else f"failed (exit {run['rc']})",
            "script": f"benchmarks/{name}",
            "wall_s": run["wall_s"],
            "json_files": [str(p.relative_to(ROOT)) for p in files],
            "data": {p.name: json.loads(p.read_text()) for p in files},
        }
        if run["rc"] != 0:
            results[key]["log_tail"] = tail(logfile)
    return results


def gpu_results() -> dict | None:
    path = BENCH / "gpu_results.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return {
        "file": "benchmarks/gpu_results.json",
        "file_mtime_utc": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds"),
        "data": data,
    }


# -------------------------------------------------------------------------------------- scaling
def scaling_params(workdir: Path, csv_path: Path | None) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if csv_path is not None:
        params["data"]["source"] = "csv"
        params["data"]["csv"] = {
            **(params["data"].get("csv") or {}),
            "path": str(csv_path),
            "target": "income",
            "positive_label": ">50K",
        }
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def scaling_prepare(workdir: Path, csv_path: Path, env: dict) -> tuple[dict, str]:
    """The real ``prepare`` stage with ``data.source: csv`` when the pipeline has it; else the
    documented fallback (benchmarks/synth_prepare.py: pipeline prepare() on a parsed CSV)."""
    scaling_params(workdir, csv_path)
    logfile = workdir / "prepare.log"
    run = run_measured([PYTHON, "-m", "pipeline", "prepare"], cwd=workdir, env=env, log=logfile)
    if run["rc"] == 0:
        return run, "python -m pipeline prepare (data.source: csv)"
    reason = tail(logfile, 1)
    scaling_params(workdir, None)
    run = run_measured([PYTHON, str(BENCH / "synth_prepare.py"), str(csv_path)], cwd=workdir, env=env, log=logfile)
    return run, f"benchmarks/synth_prepare.py (csv source unavailable: {reason[:160]})"


def one_size(rows: int, stages: tuple[str, ...], seed: int) -> dict:
    import synth

    csv_path = synth.ensure(rows, seed)
    workdir = WORK / "scale" / f"n{rows}"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = base_env(PYTHONPATH=str(ROOT), MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'mlflow.db'}")
    out = {"rows": rows, "stages": {}}
    for stage in stages:
        if stage == "prepare":
            run, out["prepare_method"] = scaling_prepare(workdir, csv_path, env)
        else:
            run = run_measured(
                [PYTHON, "-m", "pipeline", stage],
                cwd=workdir,
                env=env,
                log=workdir / f"{stage}.log",
                timeout_s=STAGE_TIMEOUT_S,
            )
        if run["rc"] != 0:
            run["log_tail"] = tail(workdir / f"{stage}.log")
        out["stages"][stage] = run
        log(f"  {rows} rows {stage}: {run['wall_s']:.1f} s, {run['peak_rss_mib']:.0f} MiB, rc {run['rc']}")
        if run["rc"] != 0:
            break
    meta_path = workdir / "data" / "prepared" / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        out["split_rows"] = meta["rows"]
        out["features"] = len(meta["feature_names"])
        out["float32_data_mib"] = sum(meta["rows"].values()) * out["features"] * 4 / 2**20
    return out


def bench_scaling(sizes: list[int], baseline: int, stages: tuple[str, ...], seed: int) -> dict:
    """Each size once (the baseline size gives the fixed start-up cost of each stage)."""
    results = {}
    for rows in [baseline, *sizes]:
        log(f"scaling: {rows} rows")
        results[str(rows)] = one_size(rows, stages, seed)
    return {
        "baseline_rows": baseline,
        "sizes": sizes,
        "stages": list(stages),
        "seed": seed,
        "runs": results,
        "synth_method": "benchmarks/synth.py: Adult rows resampled with replacement, numerics jittered",
    }


def available_stages(requested: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in requested if (ROOT / "pipeline" / "stages" / f"{s}.py").is_file())


# ------------------------------------------------------------------------------------- ray engine
RAY_SIZES = (2_000_000, 10_000_000)
RAY_TIMEOUT_S = 2400


def bench_ray_scale(quick: bool) -> dict:
    """prepare, evaluate, fairness and explain with ``engine: ray`` (benchmarks/bench_scale.py writes SCALE.md) when
    Ray is importable; ``make bench`` never needs it. ``--quick`` measures small sizes into benchmarks/work/."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        reason = (
            "skipped: Ray is not installed (the optional `scale` extra: pip install -c constraints.txt -e '.[scale]')"
        )
        log(f"ray engine: {reason}")
        return {"status": reason}
    sizes = (200_000, 400_000) if quick else RAY_SIZES
    out = WORK / "scale_quick" if quick else BENCH
    log(f"ray engine: prepare, evaluate, fairness, explain at {', '.join(f'{n:,}' for n in sizes)} rows")
    cmd = [PYTHON, str(BENCH / "bench_scale.py"), "--sizes", *map(str, sizes), "--out", str(out)]
    logfile = WORK / "scale_ray.log"
    run = run_measured(cmd, cwd=ROOT, env=base_env(PYTHONPATH=str(ROOT)), log=logfile, timeout_s=RAY_TIMEOUT_S)
    block = {"status": "ok" if run["rc"] == 0 else f"failed (exit {run['rc']})", "wall_s": run["wall_s"]}
    if run["rc"] != 0:
        return {**block, "log_tail": tail(logfile)}
    data = json.loads((out / "scale.json").read_text())
    block["file"] = str((out / "SCALE.md").relative_to(ROOT))
    block["runs"] = [
        {
            "rows": r["rows"],
            "stage": st["stage"],
            "rows_per_second": st["rows_per_second"],
            "driver_peak_rss_mib": st["driver_peak_rss_mib"],
            "worker_peak_uss_mib": max(
                (v["peak_uss_mib"] for k, v in st["roles"].items() if not k.startswith("ray::IDLE")), default=None
            ),
        }
        for r in data["runs"]
        for st in r["stages"]
    ]
    return block


# ----------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and small sizes, for development")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["help", "imports", "dvc", "subs", "scaling", "ray"],
        help="run only these sections",
    )
    parser.add_argument(
        "--base",
        default=targets.COLD_REPRO_BASE_COMMIT,
        help="commit whose cold `dvc repro` alternates with HEAD's (default: the one before issue 27; '' for none)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="scaling sizes (default 50000 200000 1000000)")
    parser.add_argument("--stages", nargs="+", help=f"scaling stages (default {' '.join(DEFAULT_SCALING_STAGES)})")
    parser.add_argument("--out", type=Path, default=BENCH, help="folder for RESULTS.md and results.json")
    parser.add_argument(
        "--update-subs",
        nargs="+",
        choices=sorted(SUB_BENCHES),
        help="re-run only these sub-benchmarks and merge them into the existing results.json (marked as re-measured)",
    )
    return parser.parse_args(argv)


def update_subs(args: argparse.Namespace) -> int:
    """Re-measure some sub-benchmarks after a change that only they measure; everything else in
    results.json stays as measured, and RESULTS.md says which parts were re-measured when."""
    results = json.loads((args.out / "results.json").read_text())
    fresh = bench_subscripts(args.quick, args.update_subs)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for key, block in fresh.items():
        block["remeasured_utc"] = stamp
        results.setdefault("subs", {})[key] = block
    results["targets"] = targets.evaluate(results)
    io.write_json(args.out / "results.json", results)
    io.write_text(args.out / "RESULTS.md", report_md.render(results))
    log(f"re-measured {', '.join(args.update_subs)}; wrote {args.out / 'RESULTS.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.update_subs:
        return update_subs(args)
    sections = set(args.only or ["help", "imports", "dvc", "subs", "scaling", "ray"])
    quick = args.quick
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    # --only re-measures some sections: the others in results.json stay as they were measured
    earlier = args.out / "results.json"
    kept = json.loads(earlier.read_text()) if args.only and earlier.is_file() else {}
    results = {
        **kept,
        "generated_utc": stamp,
        "quick": quick,
        "load_average_start": load_average(),
        "machine": machine(),
    }
    log(f"machine: {results['machine']['cpu_model']}, {results['machine']['logical_cores']} cores")
    if "help" in sections:
        results["help"] = bench_help(3 if quick else 7)
    if "imports" in sections:
        results["imports"] = bench_imports(1 if quick else 3)
    if "dvc" in sections:
        results["dvc"] = bench_dvc(1 if quick else 3, 2 if quick else 3, args.base or None)
    if "subs" in sections:
        results["subs"] = bench_subscripts(quick)
    results["gpu"] = gpu_results()
    if "scaling" in sections:
        sizes = args.sizes or ([10000, 40000] if quick else [50000, 200000, 1000000])
        stages = available_stages(tuple(args.stages or DEFAULT_SCALING_STAGES))
        results["scaling"] = bench_scaling(sizes, 2000, stages, seed=0)
    if "ray" in sections:
        results["ray_scale"] = bench_ray_scale(quick)
    if kept:
        results["partial"] = {
            "sections": sorted(sections),
            "earlier_utc": kept.get("generated_utc"),
            "earlier_commit": (kept.get("machine") or {}).get("git_commit", "?"),
        }
    results["load_average_end"] = load_average()
    results["total_wall_s"] = time.perf_counter() - started
    results["targets"] = targets.evaluate(results)
    args.out.mkdir(parents=True, exist_ok=True)
    io.write_json(args.out / "results.json", results)
    io.write_text(args.out / "RESULTS.md", report_md.render(results))
    log(f"wrote {args.out / 'RESULTS.md'} and results.json in {results['total_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
