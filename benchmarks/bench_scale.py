"""``prepare``, ``evaluate``, ``fairness`` and ``explain`` with ``engine: ray`` on synthetic Adult-like CSV rows: rows
second per stage and peak memory per Ray worker role, for two data sizes with the same block size
(memory must follow the block, not the data).

Per size: a CSV file of synthetic Adult-like rows is written first (benchmarks/synth.py's method: whole
Adult rows resampled, numbers jittered; written in chunks; not timed). Then, in a project folder whose
params.yaml says ``data.source: csv`` and ``engine.kind: ray``, the project's own code runs on a local
Ray cluster of ``--num-cpus`` CPUs started by this script:

* prepare: the stage itself (``pipeline.stages.prepare.main``): the file read block-wise by Ray tasks
  (typing evidence, validation and sample, encoder statistics, encoded shards), plus the whole-table
  audits on the hash-chosen sample of 100,000 rows (a fixed cost, in the time);
* evaluate: every row of every shard (all splits) scored by a fixed random MLP (the project's
  ``MlpSpec``, 64-64, over the encoded features) in the stages' block pass
  (:func:`pipeline.scale.scoring.per_block`: one actor of one CPU per cluster CPU, one shard per call,
  read and scored a block at a time), class tables per block merged on the driver, then the local
  engine's metrics (:func:`pipeline.audit.performance.metrics_from_tables`);
* fairness: the same rows scored again, count tables per block merged on the driver, then
  :func:`pipeline.audit.fairness.audit_tables` (``--n-boot`` AUC bootstrap replicates per row);
* explain: the test split's rows (as the stage) through captum's three methods in the same block
  pass (:func:`pipeline.scale.explain.shard_sums`, the default ``explain`` settings: 200 Poisson
  replicates, IG from 50 steps), summed attributions per column and group merged on the driver.

The evaluate and fairness stages themselves audit the test split only (a fifth of the rows); here every
split is streamed so each stage sees every row. No model is trained (a random one scores as fast).

Memory: a sampler thread reads every Ray worker process of this cluster (its descendants titled
``ray::...``) every 0.25 s: peak RSS and USS (memory unique to the process: RSS also counts object-store
pages a worker has mapped) per role, the role being the process title (the task or actor it runs at that
moment), and this driver's own RSS.

Usage: python benchmarks/bench_scale.py [--sizes 2000000 10000000] [--block-rows 100000] [--n-boot 0]
       [--actors N] [--num-cpus 2] [--malloc-arena-max N] [--keep] [--note TEXT]
Needs Ray (the optional ``scale`` extra). Writes benchmarks/SCALE.md and benchmarks/scale.json; generated
data lives under benchmarks/work/scale_ray/ and is removed afterwards (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))
WORK = ROOT / "benchmarks" / "work" / "scale_ray"
MIB = 2**20


def _role(title: str) -> str:
    """``ray::BlockWorker.run`` -> ``ray::BlockWorker``, ``ray::MapWorker(MapBatches(f)).submit`` ->
    ``ray::MapWorker(MapBatches(f))``: an actor's method calls count as the actor; a task's title is its function."""
    role = title.split(" ")[0]
    if ")." in role:
        return role[: role.rindex(").") + 1]
    head, _, _ = role[5:].partition(".")
    return "ray::" + head


class Sampler:
    """Peak RSS and USS per Ray worker role (process title) and of this driver, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.roles, self.driver_rss = interval, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            self.driver_rss = max(self.driver_rss, me.memory_info().rss)
            for proc in me.children(recursive=True):  # this benchmark's cluster only, not another session's
                try:
                    title = (proc.cmdline() or [""])[0]
                    if not title.startswith("ray::"):
                        continue
                    mem = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                role = _role(title)
                entry = self.roles.setdefault(role, {"rss": 0, "uss": 0, "pids": set()})
                entry["rss"], entry["uss"] = max(entry["rss"], mem.rss), max(entry["uss"], mem.uss)
                entry["pids"].add(proc.pid)
            self._stop.wait(self.interval)

    def summary(self) -> dict:
        roles = {
            role: {"peak_rss_mib": e["rss"] / MIB, "peak_uss_mib": e["uss"] / MIB, "processes": len(e["pids"])}
            for role, e in sorted(self.roles.items(), key=lambda kv: -kv[1]["uss"])
        }
        return {"roles": roles, "driver_peak_rss_mib": self.driver_rss / MIB}


# ---------------------------------------------------------------------------------------- the data
def write_csv(path: Path, rows: int, seed: int, chunk: int = 500_000) -> float:
    """Synthetic Adult-like rows (benchmarks/synth.py), written chunk by chunk; returns seconds taken."""
    import synth

    start = time.perf_counter()
    source = synth.adult_frame()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        for i, first in enumerate(range(0, rows, chunk)):
            frame = synth.synthesize(source, min(chunk, rows - first), seed * 100_003 + i)
            frame.to_csv(fh, index=False, header=i == 0)
    return time.perf_counter() - start


def project(folder: Path, csv_path: Path, args) -> Path:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(
        {
            "source": "csv",
            "dep": str(csv_path),
            "sensitive": ["sex", "race"],
            "max_rows": None,
            "csv": {**(params["data"].get("csv") or {}), "path": str(csv_path), "target": "income"},
        }
    )
    params["data"]["csv"]["positive_label"] = ">50K"
    params["audit"]["n_boot"] = args.n_boot
    params["engine"] = {**params.get("engine", {}), "kind": "ray", "block_rows": args.block_rows}
    params["engine"]["num_cpus"] = args.num_cpus
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder / "params.yaml"


def write_model(folder: Path, features: int, classes: int, seed: int = 0) -> None:
    import torch

    from pipeline import io
    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(seed)
    spec = MlpSpec(features, (64, 64), classes)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(MLP(spec).state_dict(), folder / "model.pt")
    io.write_json(folder / "model.json", spec.to_dict())


# -------------------------------------------------------------------------------------- the stages
def timed(name: str, rows: int, fn) -> tuple[dict, object]:
    start = time.perf_counter()
    with Sampler() as sampler:
        out = fn()
    seconds = time.perf_counter() - start
    print(f"  {name}: {rows:,} rows in {seconds:.1f} s", flush=True)
    return {
        "stage": name,
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds,
        **sampler.summary(),
    }, out


def every_file(found: dict) -> list[str]:
    """Every shard of every split (the stages read the test split; here every row is streamed)."""
    return [str(Path(name).resolve()) for name in found["files"]]


def run_size(ray, n: int, args) -> dict:
    import subprocess

    from pipeline import config, contracts, manifest, paths, shards
    from pipeline.audit import performance
    from pipeline.audit.fairness import audit_tables, settings_from_config, table_spec
    from pipeline.scale import audit as scale_audit
    from pipeline.scale import evaluate as scale_evaluate
    from pipeline.scale import explain as scale_explain
    from pipeline.scale import scoring
    from pipeline.stages import prepare

    folder = WORK / f"n{n}"
    shutil.rmtree(folder, ignore_errors=True)
    csv_path = folder / "adult_like.csv"
    start = time.perf_counter()  # in a child process: this driver's memory stays the stages'
    subprocess.run([sys.executable, __file__, "--write-csv", str(csv_path), str(n)], check=True)
    generated = time.perf_counter() - start
    size_mib = csv_path.stat().st_size / MIB
    print(f"{n:,} rows: CSV written in {generated:.1f} s ({size_mib:.0f} MiB)", flush=True)
    params = project(folder / "project", csv_path, args)
    here = Path.cwd()
    os.chdir(params.parent)
    try:
        cfg = config.load(params)
        stages = []
        record, _ = timed("prepare", n, lambda: prepare.main(cfg))
        stages.append(record)
        found = shards.verify(manifest.settings_of(cfg, "prepare"))
        meta = contracts.read(paths.PREPARED_META)
        rows, fav, sensitive = sum(found["rows"].values()), meta.favourable_index, list(meta.sensitive)
        model_dir = (params.parent / "bench_model").resolve()
        write_model(model_dir, len(found["feature_names"]), len(meta.classes))
        e = cfg.evaluate

        model = scoring.TrainedModel(str(model_dir), fav, e.threshold)
        options = {"block_rows": cfg.engine.block_rows, "model": model, "actors": args.actors}

        def evaluate():
            n_classes, bins = len(meta.classes), e.calibration_bins
            tables = scale_evaluate.shard_tables(ray, every_file(found), n_classes, fav, bins, sensitive, **options)
            metrics, _ = performance.metrics_from_tables(tables, meta.classes, e.degenerate_margin, e.degenerate_share)
            return tables.rows, metrics

        record, (counted, metrics) = timed("evaluate", rows, evaluate)
        stages.append({**record, "rows_counted": counted, "accuracy": metrics.get("accuracy")})
        settings = settings_from_config(cfg)

        def fairness():
            spec = table_spec(settings)
            tables = scale_audit.shard_tables(
                ray, every_file(found), sensitive, spec, favourable_index=fav, threshold=e.threshold, **options
            )
            return tables.rows, audit_tables(tables, sensitive, settings)

        record, (counted, audited) = timed("fairness", rows, fairness)
        gating = [v["status"] for v in audited["verdicts"] if v["gating"]]
        stages.append({**record, "rows_counted": counted, "gating_verdicts": gating})
        test_files = scoring.split_files(found, "test")

        def explain():
            sums = scale_explain.shard_sums(
                ray, test_files, str(model_dir), meta, cfg.explain, cfg.seed, cfg.engine.block_rows
            )
            return sums.methods[cfg.explain.methods[0]].rows

        record, counted = timed("explain", found["rows"]["test"], explain)
        stages.append({**record, "rows_counted": counted, "methods": list(cfg.explain.methods)})
    finally:
        os.chdir(here)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "rows": n,
        "csv_mib": size_mib,
        "csv_seconds": generated,
        "shard_rows": found["rows"],
        "features": len(found["feature_names"]),
        "stages": stages,
    }


# ------------------------------------------------------------------------------------------ report
def _worst(stage: dict) -> tuple[str, dict]:
    roles = {r: v for r, v in stage["roles"].items() if not r.startswith("ray::IDLE")} or stage["roles"]
    role = max(roles, key=lambda r: roles[r]["peak_uss_mib"])
    return role, roles[role]


#: A stage's memory "follows the block" when its largest worker (any role, idle ones included: a worker
#: that keeps memory after its task shows it as idle) grows by at most this factor while the data grows
#: 5x with the same blocks. Memory that grew with the data would grow about 5x; 1.25 leaves room for
#: the sampler's 0.25 s resolution and the allocator's noise (a flat role varied by up to 10% between sizes).
FLAT_FACTOR = 1.25


def follows_the_block(small: dict, large: dict) -> list[str]:
    """Per stage, the verdict of FLAT_FACTOR on the largest worker's peak USS and on the driver's RSS."""
    lines = [f"Memory follows the block (largest worker and driver grow at most {FLAT_FACTOR}x):", ""]
    for a_st, b_st in zip(small["stages"], large["stages"]):
        worker = [max(v["peak_uss_mib"] for v in st["roles"].values()) for st in (a_st, b_st)]
        driver = [st["driver_peak_rss_mib"] for st in (a_st, b_st)]
        flat = worker[1] <= FLAT_FACTOR * worker[0] and driver[1] <= FLAT_FACTOR * driver[0]
        lines.append(
            f"- {a_st['stage']}: **{'yes' if flat else 'NO'}**: largest worker {worker[0]:.0f} -> {worker[1]:.0f} MiB "
            f"USS ({worker[1] / worker[0]:.2f}x), driver {driver[0]:.0f} -> {driver[1]:.0f} MiB RSS "
            f"({driver[1] / driver[0]:.2f}x)"
        )
    return lines


def markdown(result: dict) -> str:
    a = result["args"]
    runs = result["runs"]
    lines = [
        "# prepare, evaluate, fairness and explain on Ray at scale (`benchmarks/bench_scale.py`)",
        "",
        f"Machine: {result['machine']}. Ray {result['ray']}, a local cluster of {a['num_cpus']} CPUs started by the "
        f"benchmark for each size (start-up at most {result['ray_start_s']:.1f} s, not counted). "
        f"Blocks of {a['block_rows']:,} rows. "
        f"Synthetic Adult-like rows (benchmarks/synth.py: Adult rows resampled, numbers jittered) written to a CSV "
        f"file first (not timed), then: **prepare** = the stage (`pipeline.stages.prepare.main`, engine ray: the "
        f"file read block-wise by Ray tasks, encoder statistics, encoded Parquet shards, and the whole-table audits "
        f"on a hash-chosen sample of 100,000 rows); **evaluate** = every shard row (all splits) scored by a fixed "
        f"random MLP 64-64 in the stages' block pass ({a['actors'] or a['num_cpus']} actors of one CPU, each "
        f"reading one shard per call a block at a time), class tables per block merged on the driver, the local "
        f"engine's metrics; **fairness** = the same rows scored again, count tables per block, "
        f"`audit_tables` (n_boot {a['n_boot']}). The stages themselves score the test split only; here every split. "
        f"**explain** = the test split's rows through captum's three methods in the same pass (default explain "
        f"settings), summed attributions per column and group merged on the driver.",
        "",
        "| rows | CSV | stage | seconds | rows / s | driver peak RSS | busiest worker role: peak USS (RSS) |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for run in runs:
        for st in run["stages"]:
            role, peak = _worst(st)
            lines.append(
                f"| {run['rows']:,} | {run['csv_mib']:.0f} MiB | {st['stage']} | {st['seconds']:.1f} | "
                f"{st['rows_per_second']:,.0f} | {st['driver_peak_rss_mib']:.0f} MiB | "
                f"`{role}` x{peak['processes']}: {peak['peak_uss_mib']:.0f} MiB ({peak['peak_rss_mib']:.0f} MiB) |"
            )
    lines += ["", "Peak memory per worker role (USS / RSS, MiB; processes that ran the role):", ""]
    for run in runs:
        for st in run["stages"]:
            parts = [
                f"`{r}` x{v['processes']}: {v['peak_uss_mib']:.0f} / {v['peak_rss_mib']:.0f}"
                for r, v in st["roles"].items()
            ]
            lines.append(f"- {run['rows']:,} rows, {st['stage']}: " + "; ".join(parts))
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        lines += [
            "",
            f"From {small['rows']:,} to {large['rows']:,} rows ({large['rows'] / small['rows']:.0f}x the data):",
            "",
        ]
        for a_st, b_st in zip(small["stages"], large["stages"]):
            common = [r for r in a_st["roles"] if r in b_st["roles"] and not r.startswith("ray::IDLE")]
            growth = ", ".join(
                f"`{r}` {a_st['roles'][r]['peak_uss_mib']:.0f} -> {b_st['roles'][r]['peak_uss_mib']:.0f}"
                for r in common
            )
            lines.append(
                f"- {a_st['stage']}: {a_st['rows_per_second']:,.0f} -> {b_st['rows_per_second']:,.0f} rows/s; "
                f"driver {a_st['driver_peak_rss_mib']:.0f} -> {b_st['driver_peak_rss_mib']:.0f} MiB RSS; "
                f"worker USS (MiB) {growth}"
            )
        lines += ["", *follows_the_block(small, large)]
    lines += ["", *result["notes"]]
    auc = result.get("adult_auc")
    if auc:
        lines += [
            "",
            f"Histogram ROC AUC ({auc['bins']:,} bins, the mergeable tables') against scikit-learn's exact AUC on the "
            f"Adult test predictions: largest difference {auc['max_abs_difference']:.1e} over {auc['groups']} groups "
            f"({auc['group']}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000_000, 10_000_000])
    parser.add_argument("--block-rows", type=int, default=100_000)
    parser.add_argument("--n-boot", type=int, default=0, help="the fairness AUC bootstrap's replicates per row")
    parser.add_argument("--actors", type=int, help="block-pass actors of one CPU (default: the cluster's CPUs)")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--malloc-arena-max", type=int, help="MALLOC_ARENA_MAX for every Ray worker")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV files and shards")
    parser.add_argument("--note", action="append", default=[], help="a line added to SCALE.md")
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    parser.add_argument("--child-json", help=argparse.SUPPRESS)
    parser.add_argument("--write-csv", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--render", metavar="JSON", help="re-write SCALE.md from a scale.json (with --note lines)")
    args = parser.parse_args()
    if args.write_csv:
        write_csv(Path(args.write_csv[0]), int(args.write_csv[1]), seed=0)
        return
    if args.render:
        result = json.loads(Path(args.render).read_text())
        result["notes"] = result["notes"] + args.note
        Path(args.render).write_text(json.dumps(result, indent=1) + "\n")
        (Path(args.render).parent / "SCALE.md").write_text(markdown(result))
        return

    import platform

    import ray

    from pipeline.config import EngineSettings
    from pipeline.scale import cluster

    cluster.check_packages()
    if args.child_json:  # one size on a cluster of its own, in this process
        kwargs = cluster.init_kwargs(EngineSettings(kind="ray", num_cpus=args.num_cpus))
        if args.malloc_arena_max:
            kwargs["runtime_env"]["env_vars"] = {"MALLOC_ARENA_MAX": str(args.malloc_arena_max)}
        start = time.perf_counter()
        ray.init(**kwargs)
        started = time.perf_counter() - start
        try:
            run = run_size(ray, args.sizes[0], args)
        finally:
            ray.shutdown()
        Path(args.child_json).write_text(json.dumps({**run, "ray_start_s": started}) + "\n")
        return
    runs = []
    try:
        for n in args.sizes:  # a process and a fresh cluster per size (Ray's runtime_env upload is per process)
            child = WORK / f"run{n}.json"
            WORK.mkdir(parents=True, exist_ok=True)
            forwarded = [a for a in sys.argv[1:] if a not in {"--keep"}]
            subprocess.run(
                [sys.executable, __file__, *forwarded, "--sizes", str(n), "--child-json", str(child)]
                + (["--keep"] if args.keep else []),
                check=True,
            )
            runs.append(json.loads(child.read_text()))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "stages"}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    ray_start = max(r["ray_start_s"] for r in runs)
    result = {
        "args": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other sessions), "
        f"Python {platform.python_version()}",
        "ray": ray.__version__,
        "ray_start_s": ray_start,
        "runs": runs,
        "notes": args.note,
        "adult_auc": adult_auc_difference(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "SCALE.md").write_text(markdown(result))
    print(markdown(result))


def adult_auc_difference() -> dict | None:
    """Histogram AUC vs scikit-learn's exact AUC per group on the Adult test predictions."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from pipeline import io, paths
    from pipeline.stats import counts
    from pipeline.stats.groups import sensitive_views

    if not (ROOT / paths.PREDICTIONS).exists():
        return None
    meta = io.read_json(ROOT / paths.PREPARED_META)
    pred = pd.read_csv(ROOT / paths.PREDICTIONS)
    groups = pd.read_csv(ROOT / paths.split_groups("test"), dtype=str, keep_default_na=False)
    fav = meta["favourable_index"]
    y = (pred["y_true"].to_numpy() == fav).astype(int)
    score = pred[f"proba_{fav}"].to_numpy()
    views = {k: v.to_numpy() for k, v in sensitive_views(groups, meta["sensitive"]).items()}
    tables = counts.block_tables(y, y, score, views, counts.TableSpec())
    worst = {}
    for view, labels in views.items():
        for g, auc in zip(tables.names(view), counts.auc(tables, view)):
            mask = labels == g
            if 0 < y[mask].sum() < mask.sum():
                worst[f"{view}: {g}"] = abs(float(auc) - roc_auc_score(y[mask], score[mask]))
    key = max(worst, key=worst.get)
    return {"groups": len(worst), "max_abs_difference": worst[key], "group": key, "bins": counts.AUC_BINS}


if __name__ == "__main__":
    main()
