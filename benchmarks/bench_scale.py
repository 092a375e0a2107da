"""The fairness audit with ``engine: ray`` on synthetic Adult-like rows: rows per second and peak
memory per Ray worker for two data sizes with the same block size (memory must follow the block,
not the data).

Rows are generated block-wise inside Ray (``ray.data.range(n).map_batches``): ``row_id``, float32
features, a label from a fixed logistic teacher and two sensitive attributes (sex: 2 groups,
race: 5 groups with Adult's shares). The project's own path then runs: :class:`pipeline.scale.audit.Scorer`
actors score every block with a fixed random MLP (the project's ``MlpSpec``), each block becomes
count tables (:func:`pipeline.scale.audit.block_tables`), the driver merges them and
:func:`pipeline.audit.fairness.audit_tables` computes every rate, interval and verdict.

Memory: a sampler in this process reads every Ray worker process of the cluster it started (its
descendants with ``ray::...`` titles) every 0.25 s with psutil: peak RSS and peak USS (memory
unique to the process: RSS also counts pages of the shared object store a worker has mapped).
The driver's own peak RSS is read at the end.

Usage: python benchmarks/bench_scale.py [--sizes 2000000 10000000] [--block-rows 100000]
       [--features 100] [--n-boot 0] [--boot-run ROWS N_BOOT] [--actors 2] [--actor-cpus 0.5]
       [--num-cpus 2] [--note TEXT]
Needs Ray (the optional ``scale`` extra). Writes benchmarks/SCALE.md and benchmarks/scale.json;
also measures the histogram ROC AUC against the exact one on the Adult test predictions when
``outputs/predictions_test.csv`` exists.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RACE = (["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"], [0.855, 0.096, 0.031, 0.01, 0.008])
SEX = (["Male", "Female"], [0.67, 0.33])


def generate(batch: dict, features: int, seed: int) -> dict:
    """One block of synthetic rows, a function of its row ids and the seed only."""
    ids = np.asarray(batch["id"], dtype=np.int64)
    rng = np.random.default_rng([seed, int(ids[0])])
    X = rng.normal(size=(len(ids), features)).astype(np.float32)
    sex = rng.choice(SEX[0], size=len(ids), p=SEX[1])
    race = rng.choice(RACE[0], size=len(ids), p=np.asarray(RACE[1]) / sum(RACE[1]))
    teacher = np.random.default_rng(seed).normal(size=features) / np.sqrt(features)
    logit = X @ teacher - 1.2 + 0.8 * (sex == "Male")
    out = {f"f{i:04d}": X[:, i] for i in range(features)}
    out.update({"row_id": ids, "y": (rng.random(len(ids)) < 1 / (1 + np.exp(-logit))).astype(np.int64)})
    out.update({"group:sex": sex, "group:race": race})
    return out


class Sampler:
    """Peak RSS and USS per Ray worker process, sampled from this process."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.peaks, self.roles = interval, {}, {}
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
            for proc in me.children(recursive=True):  # this benchmark's cluster only, not another session's
                try:
                    title = (proc.cmdline() or [""])[0]
                    if not title.startswith("ray::"):
                        continue
                    mem = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss, uss = self.peaks.get(proc.pid, (0, 0))
                self.peaks[proc.pid] = (max(rss, mem.rss), max(uss, mem.uss))
                if not title.startswith("ray::IDLE"):
                    self.roles[proc.pid] = title.split(" ")[0]
            self._stop.wait(self.interval)

    def summary(self) -> dict:
        mib = 2**20
        workers = [
            {"pid": pid, "role": self.roles.get(pid, "ray::IDLE"), "peak_rss_mib": rss / mib, "peak_uss_mib": uss / mib}
            for pid, (rss, uss) in self.peaks.items()
        ]
        busy = [w for w in workers if w["role"] != "ray::IDLE"] or workers
        return {
            "workers": sorted(workers, key=lambda w: -w["peak_rss_mib"]),
            "max_peak_rss_mib": max((w["peak_rss_mib"] for w in busy), default=None),
            "max_peak_uss_mib": max((w["peak_uss_mib"] for w in busy), default=None),
        }


def write_model(folder: Path, features: int, seed: int) -> None:
    import torch

    from pipeline import io
    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(seed)
    spec = MlpSpec(features, (64, 64), 2)
    torch.save(MLP(spec).state_dict(), folder / "model.pt")
    io.write_json(folder / "model.json", spec.to_dict())


def run_size(ray, n: int, n_boot: int, args, model_dir: Path) -> dict:
    from pipeline.audit.fairness import FairnessSettings, audit_tables, table_spec
    from pipeline.scale import audit as scale_audit
    from pipeline.scale import scoring as scale_scoring

    settings = FairnessSettings(n_boot=n_boot, seed=0)
    blocks = -(-n // args.block_rows)
    start = time.perf_counter()
    with Sampler() as sampler:
        ds = ray.data.range(n, override_num_blocks=blocks).map_batches(
            generate, fn_kwargs={"features": args.features, "seed": 0}, batch_size=args.block_rows
        )
        scored = scale_scoring.score(
            ds, model_dir, 1, 0.5, args.block_rows, args.actors, args.actor_cpus, args.in_flight or None
        )
        tables = scale_audit.dataset_tables(scored, ["sex", "race"], table_spec(settings), 1, 0.5, args.block_rows)
        audited = audit_tables(tables, ["sex", "race"], settings)
    seconds = time.perf_counter() - start
    assert tables.rows == n, (tables.rows, n)
    gating = [v["status"] for v in audited["verdicts"] if v["gating"]]
    return {
        "rows": n,
        "n_boot": n_boot,
        "blocks_merged": tables.blocks,
        "seconds": seconds,
        "rows_per_second": n / seconds,
        "gating_verdicts": gating,
        "groups": {view: len(block["groups"]) for view, block in audited["features"].items()},
        **sampler.summary(),
    }


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


def markdown(result: dict) -> str:
    a = result["args"]
    lines = [
        "# The fairness audit on Ray at scale (`benchmarks/bench_scale.py`)",
        "",
        f"Machine: {result['machine']}. Ray {result['ray']}, a local cluster of {a['num_cpus']} CPUs started by the "
        f"benchmark (start-up {result['ray_start_s']:.1f} s, not counted below). Synthetic Adult-like rows generated "
        f"block-wise inside Ray ({a['features']} float32 features, sex x race: 2 x 5 groups), scored by a fixed "
        f"random MLP 64-64 in {a['actors']} actors of {a['actor_cpus']} CPU ({a.get('in_flight') or 'Ray default'} "
        f"block(s) queued per actor), reduced to count tables per block of "
        f"{a['block_rows']:,} rows, merged on the driver, then every rate, interval and verdict "
        f"(`audit_tables`, the local engine's code). n_boot: the AUC bootstrap's Poisson replicates per row.",
        "",
        "| rows | n_boot | blocks | seconds | rows / s | worker peak RSS (max) | worker peak USS (max) | driver RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['rows']:,} | {r['n_boot']} | {r['blocks_merged']} | {r['seconds']:.1f} | "
            f"{r['rows_per_second']:,.0f} | "
            f"{r['max_peak_rss_mib']:.0f} MiB | {r['max_peak_uss_mib']:.0f} MiB | "
            f"{result['driver_peak_rss_mib']:.0f} MiB |"
        )
    plain = [r for r in result["runs"] if r["n_boot"] == result["runs"][0]["n_boot"]]
    if len(plain) >= 2:
        small, large = plain[0], plain[-1]
        steady = (large["rows"] - small["rows"]) / (large["seconds"] - small["seconds"])
        lines += [
            "",
            f"Steady rate between {small['rows']:,} and {large['rows']:,} rows (the fixed cost of starting the "
            f"actors and the first blocks removed): {steady:,.0f} rows/s. Worker peak RSS "
            f"{small['max_peak_rss_mib']:.0f} MiB at {small['rows']:,} rows and {large['max_peak_rss_mib']:.0f} MiB "
            f"at {large['rows']:,} rows (USS {small['max_peak_uss_mib']:.0f} and {large['max_peak_uss_mib']:.0f} MiB).",
        ]
    lines += ["", "Peak memory per worker process and role (largest first):", ""]
    for r in result["runs"]:
        roles = {}
        for w in r["workers"]:
            roles.setdefault(w["role"], []).append(w)
        parts = []
        for role, ws in roles.items():
            rss, uss = max(w["peak_rss_mib"] for w in ws), max(w["peak_uss_mib"] for w in ws)
            parts.append(f"{role} x{len(ws)}: RSS {rss:.0f} / USS {uss:.0f} MiB")
        lines.append(f"- {r['rows']:,} rows, n_boot {r['n_boot']}: " + "; ".join(parts))
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
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--n-boot", type=int, default=0, help="AUC bootstrap replicates of the --sizes runs")
    parser.add_argument(
        "--boot-run",
        type=int,
        nargs=2,
        action="append",
        metavar=("ROWS", "N_BOOT"),
        help="one more run with a bootstrap",
    )
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--actor-cpus", type=float, default=0.5)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=1, help="blocks queued per scoring actor (0: Ray's default)")
    parser.add_argument("--note", action="append", default=[], help="a line added to SCALE.md")
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    parser.add_argument(
        "--render", metavar="JSON", help="re-write SCALE.md from a scale.json (with --note lines added)"
    )
    args = parser.parse_args()
    if args.render:
        result = json.loads(Path(args.render).read_text())
        result["notes"] = result["notes"] + args.note
        Path(args.render).write_text(json.dumps(result, indent=1) + "\n")
        (Path(args.render).parent / "SCALE.md").write_text(markdown(result))
        return

    import os
    import platform

    from pipeline.config import EngineSettings
    from pipeline.scale import cluster

    runs = []
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        cluster.connected(EngineSettings(kind="ray", num_cpus=args.num_cpus)) as ray,
    ):
        ray_start = time.perf_counter() - start
        write_model(Path(tmp), args.features, 0)
        plan = [(n, args.n_boot) for n in args.sizes] + [(n, b) for n, b in (args.boot_run or [])]
        for n, n_boot in plan:
            runs.append(run_size(ray, n, n_boot, args, Path(tmp)))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "workers"}), flush=True)
        version = ray.__version__
    result = {
        "args": vars(args),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores (shared with other sessions), "
            f"Python {platform.python_version()}"
        ),
        "ray": version,
        "ray_start_s": ray_start,
        "runs": runs,
        "driver_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "notes": args.note,
        "adult_auc": adult_auc_difference(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "SCALE.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
