"""GPU check: train through our stage's code path on CUDA (fp32 and bf16-mixed) and on CPU.

For a machine with an NVIDIA GPU. Reports per configuration: wall time, samples/s, test
accuracy, peak GPU memory and the energy record (CodeCarbon reads NVML there). Writes JSON to
``$OUT/gpu_check.json`` when ``$OUT`` is set, else to ``--out``.

    python benchmarks/gpu_check.py [--epochs 10] [--batch-size 512] [--out benchmarks/gpu_check.json]

Needs ``data/prepared`` (``dvc repro prepare``); with ``--synthetic N`` it uses N random rows of
Adult's width instead (for a bare machine without the data). Without CUDA the CUDA rows are
recorded as skipped with the reason (never faked), so the script can be dry-run on a CPU box.
NOT RUN in the session that wrote it: that session had no GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data(synthetic: int | None, seed: int):
    if synthetic:
        rng = np.random.default_rng(seed)
        w = rng.normal(size=108).astype(np.float32)

        def split(n):
            X = rng.normal(size=(n, 108)).astype(np.float32)
            return {"X": X, "y": (X @ w + rng.normal(size=n) > 0).astype(np.int64)}

        return {"train": split(synthetic), "val": split(synthetic // 10), "test": split(synthetic // 5)}, 2
    from pipeline import contracts, paths, splits

    os.chdir(ROOT)
    return {s: splits.arrays(s) for s in paths.SPLITS}, len(contracts.read(paths.PREPARED_META).classes)


def one(arrays, n_classes, *, accelerator: str, precision: str, epochs: int, batch_size: int, seed: int) -> dict:
    from pipeline.config import TrainSettings
    from pipeline.models.predict import predict_proba
    from pipeline.training.fit import fit

    settings = TrainSettings(
        epochs=epochs, batch_size=batch_size, accelerator=accelerator, devices=1, precision=precision
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = fit(settings, seed, {s: arrays[s] for s in ("train", "val")}, n_classes, checkpoint_dir=Path(tmp))
        wall = time.perf_counter() - started
    accuracy = float((predict_proba(result.model, arrays["test"]["X"]).argmax(1) == arrays["test"]["y"]).mean())
    return {
        "status": "ran",
        "accelerator": accelerator,
        "precision": precision,
        "wall_s": wall,
        "fit_wall_time_s": result.cost["fit_wall_time_s"],
        "samples_per_s": result.cost["samples_per_s"],
        "test_accuracy": accuracy,
        "final_val_loss": result.summary["final"].get("val_loss"),
        "device": result.cost["device"],
        "memory": result.cost["memory"],
        "energy": result.cost["energy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--synthetic", type=int, default=None, help="use N random rows instead of data/prepared")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "gpu_check.json"))
    args = parser.parse_args()
    out = Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else Path(args.out)

    import torch

    arrays, n_classes = data(args.synthetic, args.seed)
    cuda = torch.cuda.is_available()
    report = {
        "torch": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "rows_train": int(len(arrays["train"]["y"])),
        "synthetic": bool(args.synthetic),
        "runs": [],
    }
    configs = [("cpu", "32-true"), ("cuda", "32-true"), ("cuda", "bf16-mixed")]
    for accelerator, precision in configs:
        if accelerator == "cuda" and not cuda:
            report["runs"].append(
                {
                    "status": "skipped",
                    "accelerator": accelerator,
                    "precision": precision,
                    "reason": "torch.cuda.is_available() is False",
                }
            )
            continue
        try:
            run = one(
                arrays,
                n_classes,
                accelerator=accelerator,
                precision=precision,
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
            )
        except Exception as err:  # record and go on: one failing configuration must not hide the others
            run = {
                "status": "failed",
                "accelerator": accelerator,
                "precision": precision,
                "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-3000:],
            }
        report["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "traceback"}, default=str), flush=True)
    cpu = next((r for r in report["runs"] if r["accelerator"] == "cpu" and r["status"] == "ran"), None)
    for run in report["runs"]:
        if cpu and run["status"] == "ran":
            run["speedup_vs_cpu"] = cpu["fit_wall_time_s"] / run["fit_wall_time_s"] if run["fit_wall_time_s"] else None
            run["accuracy_minus_cpu"] = run["test_accuracy"] - cpu["test_accuracy"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
