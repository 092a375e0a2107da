"""Training speed: our stage's code path vs a plain PyTorch loop vs sklearn MLPClassifier.

Same data (data/prepared, from ``dvc repro prepare``), same MLP (64, 64), same epochs and batch
size; median wall time of N runs with test accuracy beside each. Writes benchmarks/training.json
and benchmarks/TRAINING.md.

    python benchmarks/bench_training.py [--repeats 3] [--epochs 10] [--batches 64 512]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load():
    from pipeline import io, paths

    return {s: io.read_npz(ROOT / paths.split_arrays(s)) for s in ("train", "val", "test")}


def accuracy_torch(model, data) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(data["test"]["X"])).argmax(1).numpy()
    return float((pred == data["test"]["y"]).mean())


def run_ours(data, epochs: int, batch: int) -> tuple[float, float]:
    """pipeline.training.fit.fit exactly as the train stage calls it (validation each epoch included)."""
    from pipeline.config import TrainSettings
    from pipeline.training.fit import fit

    settings = TrainSettings(epochs=epochs, batch_size=batch, accelerator="cpu", devices=1)
    start = time.perf_counter()
    result = fit(settings, 0, {"train": data["train"], "val": data["val"]}, n_classes=2)
    return time.perf_counter() - start, accuracy_torch(result.model, data)


def run_plain(data, epochs: int, batch: int) -> tuple[float, float]:
    """Hand-written loop over pre-sliced shuffled tensors, Adam, cross-entropy; no validation."""
    import torch

    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(0)
    x, y = torch.from_numpy(data["train"]["X"]), torch.from_numpy(data["train"]["y"])
    model = MLP(MlpSpec(x.shape[1], (64, 64), 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y))
        xs, ys = x[order], y[order]
        for i in range(0, len(y), batch):
            opt.zero_grad()
            loss_fn(model(xs[i : i + batch]), ys[i : i + batch]).backward()
            opt.step()
    wall = time.perf_counter() - start
    return wall, accuracy_torch(model.eval(), data)


def run_sklearn(data, epochs: int, batch: int) -> tuple[float, float]:
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((64, 64), max_iter=epochs, batch_size=batch, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(data["train"]["X"], data["train"]["y"])
    wall = time.perf_counter() - start
    return wall, float(clf.score(data["test"]["X"], data["test"]["y"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 512])
    args = parser.parse_args()
    import torch

    data = load()
    run_ours(data, 1, 512)  # warm up imports (Lightning's import is paid once per process, reported apart)
    rows = []
    for batch in args.batches:
        for name, fn in (("ours (Lightning, fit.fit)", run_ours), ("plain PyTorch loop", run_plain), ("sklearn MLPClassifier", run_sklearn)):
            runs = [fn(data, args.epochs, batch) for _ in range(args.repeats)]
            rows.append({"batch_size": batch, "method": name, "median_s": statistics.median(r[0] for r in runs),
                         "runs_s": [r[0] for r in runs], "test_accuracy": statistics.median(r[1] for r in runs)})  # fmt: skip
            print(rows[-1], flush=True)
    for row in rows:
        plain = next(r for r in rows if r["batch_size"] == row["batch_size"] and r["method"].startswith("plain"))
        row["vs_plain"] = row["median_s"] / plain["median_s"]
    command = "python benchmarks/bench_training.py " + " ".join(sys.argv[1:])
    env = {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows_train": int(len(data["train"]["y"])), "epochs": args.epochs, "repeats": args.repeats}
    (ROOT / "benchmarks" / "training.json").write_text(json.dumps({"command": command.strip(), "env": env, "rows": rows}, indent=2, sort_keys=True) + "\n")
    lines = ["# Training speed benchmark", "", f"Command: `{command.strip()}`", "",
             f"Adult train split ({env['rows_train']} rows), MLP (64, 64), {args.epochs} epochs, median of {args.repeats}, "
             f"torch {env['torch']} on {env['threads']} CPU threads. Ours includes a validation pass each epoch; the plain loop does not. "
             "The machine was shared with other jobs, so figures are noisy.", "",
             "| batch | method | median s | vs plain loop | test accuracy |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['batch_size']} | {r['method']} | {r['median_s']:.2f} | {r['vs_plain']:.2f}x | {r['test_accuracy']:.4f} |" for r in rows]
    (ROOT / "benchmarks" / "TRAINING.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
