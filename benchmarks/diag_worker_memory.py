"""What grows in a Ray task worker that runs block after block (issue 28: the workers that read and count
blocks grew from 386 MiB USS at 2M rows to 899 MiB at 10M).

One CSV file of synthetic Adult-like rows is cut into blocks (pipeline/data/csv_blocks.py) and the
typing-evidence pass runs over it ``--passes`` times in Ray tasks on a fresh local cluster: each task
reports, after its block, its process id, USS and RSS (psutil), the bytes Arrow's default memory pool
holds and its backend, and the live Python objects (``gc``). Variants: the default, ``MALLOC_ARENA_MAX``
set for every worker, Arrow's pool set to the system allocator (``ARROW_DEFAULT_MEMORY_POOL``), and
``max_calls`` (Ray's documented option that ends a worker after that many calls of the function).

Usage: python benchmarks/diag_worker_memory.py [--rows 1000000] [--block-rows 100000] [--passes 8]
``--mode data`` runs Ray Data instead: ``read_parquet`` of prepare-like shards and a ``map_batches`` probe.
Writes benchmarks/worker_memory_<mode>.json and prints a summary; the CSV is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))
MIB = 2**20

VARIANTS = {
    "default": ({}, None),
    "MALLOC_ARENA_MAX=2": ({"MALLOC_ARENA_MAX": "2"}, None),
    "ARROW_DEFAULT_MEMORY_POOL=system": ({"ARROW_DEFAULT_MEMORY_POOL": "system"}, None),
    "max_calls=10": ({}, 10),
}


def probe(part, layout) -> dict:
    """The evidence pass on one block, then this worker's memory."""
    import gc
    import os

    import psutil
    import pyarrow as pa

    from pipeline.data import csv_blocks

    csv_blocks.evidence(part, layout)
    mem = psutil.Process().memory_full_info()
    pool = pa.default_memory_pool()
    return {
        "pid": os.getpid(),
        "uss_mib": mem.uss / MIB,
        "rss_mib": mem.rss / MIB,
        "arrow_mib": pool.bytes_allocated() / MIB,
        "arrow_max_mib": pool.max_memory() / MIB if pool.max_memory() else None,
        "arrow_backend": pool.backend_name,
        "python_objects": len(gc.get_objects()),
    }


def probe_batch(batch) -> dict:
    """A ``map_batches`` function: this worker's memory after receiving one block of the shards."""
    import gc
    import os

    import numpy as np
    import psutil
    import pyarrow as pa

    mem = psutil.Process().memory_full_info()
    pool = pa.default_memory_pool()
    return {
        "pid": np.array([os.getpid()]),
        "uss_mib": np.array([mem.uss / MIB]),
        "arrow_mib": np.array([pool.bytes_allocated() / MIB]),
        "arrow_backend": np.array([pool.backend_name]),
        "python_objects": np.array([len(gc.get_objects())]),
        "rows": np.array([len(batch)]),
    }


def write_shards(folder: Path, rows: int, block_rows: int, features: int = 85) -> list[str]:
    """Parquet files shaped like prepare's shards (row_id, y, float32 features, two group columns)."""
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for i, start in enumerate(range(0, rows, block_rows)):
        n = min(block_rows, rows - start)
        frame = pd.DataFrame(
            rng.normal(size=(n, features)).astype(np.float32), columns=[f"f{j:04d}" for j in range(features)]
        )
        frame.insert(0, "row_id", np.arange(start, start + n))
        frame.insert(1, "y", rng.integers(0, 2, n))
        frame["group:sex"] = rng.choice(["Male", "Female"], n)
        frame["group:race"] = rng.choice(["White", "Black", "Other"], n)
        files.append(str(folder / f"part-{i:05d}.parquet"))
        frame.to_parquet(files[-1])
    return files


def data_passes(ray, files: list[str], passes: int, block_rows: int, max_calls) -> list[list[dict]]:
    """``read_parquet(files).map_batches(probe_batch)`` run ``passes`` times (Ray Data tasks)."""
    extra = {} if max_calls is None else {"max_calls": max_calls}
    out = []
    for _ in range(passes):
        ds = ray.data.read_parquet(files).map_batches(probe_batch, batch_size=block_rows, **extra)
        out.append([{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in ds.iter_rows()])
    return out


READS = {
    "read_parquet": {},
    "read_parquet, counting tasks max_calls=5": "count_max_calls",
    "read_parquet, counted in an actor": "actor",
    "read_parquet override_num_blocks=files": "files",
    "read_parquet max_calls=1": {"max_calls": 1},
}


def count_rows(batch) -> dict:
    """The lightest reduction after the scoring actors: the rows of the batch, and which task counted them."""
    import numpy as np
    import ray

    return {"rows": np.array([len(batch)]), "task": np.array([ray.get_runtime_context().get_task_id()])}


class CountRows:
    """:func:`count_rows` in an actor (one batch queued at a time), as the scoring actors run."""

    def __call__(self, batch) -> dict:
        return count_rows(batch)


def read_variants(files: list[str], model_dir: Path, args) -> dict:
    """Shards read and scored as bench_scale.py does (2 scoring actors), per way of reading, each on a
    fresh cluster: peak USS per worker role (the bench's sampler)."""
    import ray
    from bench_scale import Sampler

    from pipeline.config import EngineSettings
    from pipeline.scale import cluster, scoring

    out = {}
    for name, extra in READS.items():
        if args.reads and name not in args.reads:
            continue
        ray.init(**cluster.init_kwargs(EngineSettings(kind="ray", num_cpus=2)))
        try:
            options = {"override_num_blocks": len(files)} if extra == "files" else {}
            options = dict(extra) if isinstance(extra, dict) else options
            if extra == "actor":  # 2 scoring actors of 0.5 CPU and this one of 0.25 leave a read task 0.75
                options["num_cpus"] = 0.5
            start = time.perf_counter()
            with Sampler() as sampler:
                ds = scoring.score(ray.data.read_parquet(files, **options), model_dir, 1, 0.5, args.block_rows, 2, 0.5)
                if extra == "actor":
                    pool = ray.data.ActorPoolStrategy(size=1, max_tasks_in_flight_per_actor=1)
                    counted = ds.map_batches(CountRows, batch_format="pandas", compute=pool, num_cpus=0.25)
                elif extra == "count_max_calls":
                    counted = ds.map_batches(count_rows, batch_format="pandas", max_calls=5)
                else:
                    counted = ds.map_batches(count_rows, batch_format="pandas")
                batches = list(counted.iter_rows())
                rows, tasks = sum(r["rows"] for r in batches), len({r["task"] for r in batches})
            seconds = time.perf_counter() - start
        finally:
            ray.shutdown()
        roles = sampler.summary()["roles"]
        out[name] = {"seconds": seconds, "rows": int(rows), "batches": len(batches), "tasks": tasks, "roles": roles}
        busy = {k: round(v["peak_uss_mib"]) for k, v in roles.items() if v["peak_uss_mib"] > 150}
        print(
            f"{name}: {len(files)} files, {rows:,} rows in {seconds:.1f} s, {len(batches)} batches counted by {tasks} "
            f"task(s); peak USS MiB {busy}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--block-rows", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--reads", nargs="+", choices=list(READS), help="--mode read: only these ways")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--mode",
        choices=["tasks", "data", "read"],
        default="tasks",
        help="plain tasks, Ray Data tasks, or ways to read the shards",
    )
    args = parser.parse_args()

    import ray
    from bench_scale import WORK, write_csv

    from pipeline import config
    from pipeline.config import EngineSettings
    from pipeline.data import csv_blocks
    from pipeline.scale import cluster

    csv_path = WORK / "diag" / "adult_like.csv"
    write_csv(csv_path, args.rows, seed=0)
    csv = {"path": str(csv_path), "target": "income", "positive_label": ">50K"}
    cfg = config.from_dict({"data": {"source": "csv", "dep": str(csv_path), "sensitive": ["sex", "race"], "csv": csv}})
    from pipeline.scale import csv_read

    layout, _ = csv_read.layout_of(cfg.data)
    parts = csv_blocks.line_ranges(csv_path, layout.encoding, args.block_rows)
    files = write_shards(csv_path.parent / "shards", args.rows, args.block_rows) if args.mode != "tasks" else []
    if args.mode == "read":
        from bench_scale import write_model

        write_model(csv_path.parent / "model", 85, 2)
        try:
            found = read_variants(files, csv_path.parent / "model", args)
        finally:
            shutil.rmtree(csv_path.parent, ignore_errors=True)
        (ROOT / "benchmarks" / f"worker_memory_read_{args.rows}.json").write_text(json.dumps(found, indent=1) + "\n")
        return
    results = {}
    try:
        for name in args.variants:
            env, max_calls = VARIANTS[name]
            kwargs = cluster.init_kwargs(EngineSettings(kind="ray", num_cpus=2))
            if env:
                kwargs["runtime_env"]["env_vars"] = dict(env)
            ray.init(**kwargs)
            try:
                options = {"num_cpus": 1} if max_calls is None else {"num_cpus": 1, "max_calls": max_calls}
                start = time.perf_counter()
                if args.mode == "data":
                    passes = data_passes(ray, files, args.passes, args.block_rows, max_calls)
                else:
                    task = ray.remote(**options)(probe)
                    shared = ray.put(layout)
                    passes = [ray.get([task.remote(p, shared) for p in parts]) for _ in range(args.passes)]
                seconds = time.perf_counter() - start
            finally:
                ray.shutdown()
            per_pass = [
                {
                    "max_uss_mib": max(r["uss_mib"] for r in rows),
                    "max_arrow_mib": max(r["arrow_mib"] for r in rows),
                    "max_python_objects": max(r["python_objects"] for r in rows),
                    "workers": len({r["pid"] for r in rows}),
                }
                for rows in passes
            ]
            results[name] = {"seconds": seconds, "per_pass": per_pass, "backend": passes[0][0]["arrow_backend"]}
            print(
                f"{name}: {seconds:.1f} s; max USS per pass (MiB) "
                + ", ".join(f"{p['max_uss_mib']:.0f}" for p in per_pass)
                + f"; Arrow pool ({results[name]['backend']}) MiB "
                + ", ".join(f"{p['max_arrow_mib']:.0f}" for p in per_pass)
                + "; Python objects "
                + ", ".join(str(p["max_python_objects"]) for p in per_pass),
                flush=True,
            )
    finally:
        shutil.rmtree(csv_path.parent, ignore_errors=True)
    out = {"args": vars(args), "blocks": len(parts), "variants": results}
    (ROOT / "benchmarks" / f"worker_memory_{args.mode}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
