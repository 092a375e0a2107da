"""GPU check: train the MLP on cuda in 32-true and bf16-mixed vs CPU; throughput and accuracy.

    python benchmarks/gpu_check.py OUT.json [--rows 1000000] [--epochs 3] [--batch 4096]

Uses data/prepared (Adult) when present and --rows is 0, else a seeded synthetic problem with
--rows rows (101 features, labels from a fixed random linear rule plus noise). Exits 0 with a
message when no NVIDIA GPU is visible, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic(rows: int, features: int = 101, seed: int = 0) -> dict:
    """A learnable binary problem of any size: y = [x.w + noise > 0]."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=features).astype(np.float32)
    out = {}
    for split, n in (("train", rows), ("val", max(rows // 10, 1000)), ("test", max(rows // 10, 1000))):
        x = rng.normal(size=(n, features)).astype(np.float32)
        y = ((x @ w + rng.normal(scale=2.0, size=n)) > 0).astype(np.int64)
        out[split] = {"X": x, "y": y}
    return out


def adult() -> dict:
    from pipeline import io, paths

    return {s: io.read_npz(ROOT / paths.split_arrays(s)) for s in ("train", "val", "test")}


def one(data, accelerator: str, precision: str, epochs: int, batch: int) -> dict:
    import torch

    from pipeline.config import TrainSettings
    from pipeline.training.fit import fit

    settings = TrainSettings(epochs=epochs, batch_size=batch, accelerator=accelerator, devices=1, precision=precision)
    start = time.perf_counter()
    result = fit(settings, 0, {"train": data["train"], "val": data["val"]}, n_classes=2)
    wall = time.perf_counter() - start
    with torch.no_grad():
        pred = result.model(torch.from_numpy(data["test"]["X"])).argmax(1).numpy()
    return {"accelerator": accelerator, "precision": precision, "wall_s": wall,
            "samples_per_s": len(data["train"]["y"]) * epochs / wall, "test_accuracy": float((pred == data["test"]["y"]).mean()),
            "device_name": result.cost.get("device_name"), "cuda_peak_memory_mb": result.cost.get("cuda_peak_memory_mb"),
            "energy": {k: v for k, v in result.cost.items() if k.startswith(("energy", "co2"))}}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows; 0 = Adult from data/prepared")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4096)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no NVIDIA GPU visible to torch (torch.cuda.is_available() is False); nothing to measure.")
        return 0
    data = adult() if args.rows == 0 else synthetic(args.rows)
    one(data, "cuda", "32-true", 1, args.batch)  # warm-up: CUDA context, kernels
    results = [one(data, "cuda", p, args.epochs, args.batch) for p in ("32-true", "bf16-mixed")]
    results.append(one(data, "cpu", "32-true", args.epochs, args.batch))
    payload = {"command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]), "rows_train": int(len(data["train"]["y"])),
               "epochs": args.epochs, "batch": args.batch, "torch": torch.__version__, "results": results}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    for r in results:
        print(f"{r['accelerator']:5s} {r['precision']:11s} {r['samples_per_s']:12.0f} samples/s  acc {r['test_accuracy']:.4f}  {r['device_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
