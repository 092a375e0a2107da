"""Training speed as the user meets it: the train stage as a whole process, and the fit itself.

Two comparisons, both on the same prepared Adult arrays (``data/prepared`` from ``dvc repro
prepare``), MLP 64-64, the same epochs, batch size and thread count:

* **Whole process.** ``python -m pipeline train`` (imports, config, Lightning, validation and an
  atomic checkpoint every epoch, writing the model and metrics) against a plain PyTorch script
  doing the same fit in a fresh process (imports torch, loads the arrays, trains with autograd
  and fused Adam, validates every epoch, saves the state_dict and a metrics file). Target:
  stage / script <= 1.5 at the default batch size.
* **Mini-batch grouping.** The same train stage process with several mini-batches per
  Lightning batch (``datamodule.ROWS_PER_ITEM``, as shipped) and with one mini-batch per
  Lightning batch. The grouping stays only while the whole process is measurably faster with it.
* **The fit**, for information (no target: no user meets the fit alone).
  :func:`pipeline.training.fit.fit` exactly as the stage calls it against plain autograd loops
  in the same process (torch's default Adam and the fused Adam), and scikit-learn's
  MLPClassifier.

Medians of ``--repeats`` interleaved runs, wall clock and CPU time (CPU time is less disturbed
by other processes on a shared machine), test accuracy beside each. Writes
``benchmarks/TRAINING.md`` and ``benchmarks/training.json``.

    python benchmarks/bench_training.py [--epochs 10] [--repeats 5] [--batch-sizes 64 256 512] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load():
    from pipeline import contracts, paths, splits

    os.chdir(ROOT)
    return {s: splits.arrays(s) for s in paths.SPLITS}, len(contracts.read(paths.PREPARED_META).classes)


def accuracy(model, X, y) -> float:
    from pipeline.models.predict import predict_proba

    return float((predict_proba(model, X).argmax(1) == y).mean())


def run_ours(arrays, n_classes, bs, epochs, seed, threads):
    from pipeline.config import TrainSettings
    from pipeline.training.fit import fit

    settings = TrainSettings(epochs=epochs, batch_size=bs, accelerator="cpu", devices=1, num_threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fit(settings, seed, {s: arrays[s] for s in ("train", "val")}, n_classes, checkpoint_dir=Path(tmp))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, accuracy(result.model, arrays["test"]["X"], arrays["test"]["y"])


def timed_plain_loop(arrays, n_classes, epochs, seed, threads, make_epoch):
    """What every plain loop shares: seeded model, a reshuffle per epoch, timing, test accuracy.

    ``make_epoch(model)`` sets up the optimiser and returns ``run_epoch(x, y)``, which trains
    one epoch on the shuffled rows.
    """
    import torch

    from pipeline.models.mlp import MLP, MlpSpec
    from pipeline.training.threads import thread_scope

    torch.manual_seed(seed)
    X, Y = torch.from_numpy(arrays["train"]["X"]), torch.from_numpy(arrays["train"]["y"])
    model = MLP(MlpSpec(X.shape[1], (64, 64), n_classes))
    run_epoch = make_epoch(model)
    gen = torch.Generator().manual_seed(seed)
    with thread_scope(threads):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(epochs):
            order = torch.randperm(len(Y), generator=gen)
            run_epoch(X[order], Y[order])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, accuracy(model.eval(), arrays["test"]["X"], arrays["test"]["y"])


def run_plain(arrays, n_classes, bs, epochs, seed, threads, fused=None):
    """Autograd and torch.optim.Adam: the loop a user writes."""
    import torch
    from torch import nn

    def make_epoch(model):
        opt, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused), nn.CrossEntropyLoss()

        def run_epoch(x, y):
            for s in range(0, len(y), bs):
                opt.zero_grad()
                loss_fn(model(x[s : s + bs]), y[s : s + bs]).backward()
                opt.step()

        return run_epoch

    return timed_plain_loop(arrays, n_classes, epochs, seed, threads, make_epoch)


def run_sklearn(arrays, n_classes, bs, epochs, seed, threads):
    """MLPClassifier with its BLAS limited to the torch methods' thread count, for that run only.

    The limit is not held around the torch runs: threadpoolctl also resets torch's own OpenMP
    and MKL pools while it is active, and the training stage never runs under it (measured:
    ours/plain 1.01x without it, 1.18x inside it, at batch 512).
    """
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    clf = MLPClassifier((64, 64), batch_size=bs, max_iter=epochs, learning_rate_init=1e-3, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(limits=threads or torch.get_num_threads()):
        warnings.simplefilter("ignore", ConvergenceWarning)
        wall, cpu = time.perf_counter(), time.process_time()
        clf.fit(arrays["train"]["X"], arrays["train"]["y"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, float(clf.score(arrays["test"]["X"], arrays["test"]["y"]))


def run_plain_fused(arrays, n_classes, bs, epochs, seed, threads):
    return run_plain(arrays, n_classes, bs, epochs, seed, threads, fused=True)


OURS = "ours (stage code path: Lightning)"
SKLEARN = "sklearn MLPClassifier"
METHODS = {
    OURS: run_ours,
    "plain PyTorch loop, autograd, default Adam": run_plain,
    "plain PyTorch loop, autograd, fused Adam": run_plain_fused,
    SKLEARN: run_sklearn,
}


def summarise(rows: list[dict], default_batch: int) -> dict:
    """Per batch size: ours over the fastest autograd plain loop (wall and CPU medians, and
    between fastest runs: noise on a shared machine only adds time), ours over MLPClassifier
    and the accuracy difference; the target figure is the one at the default batch size."""
    per_batch = {}
    for bs in sorted({r["batch_size"] for r in rows}):
        at = {r["method"]: r for r in rows if r["batch_size"] == bs}
        autograd = [r for name, r in at.items() if name.startswith("plain")]
        plain = min(autograd, key=lambda r: r["wall_s_median"])
        ours, sk = at[OURS], at[SKLEARN]
        per_batch[str(bs)] = {
            "fastest_autograd_plain": plain["method"],
            "ours_over_autograd_plain_ratio": ours["wall_s_median"] / plain["wall_s_median"],
            "ours_over_autograd_plain_cpu_ratio": ours["cpu_s_median"] / plain["cpu_s_median"],
            "fastest_runs_ours_over_autograd_plain": ours["wall_s_min"] / min(r["wall_s_min"] for r in autograd),
            "ours_over_sklearn_ratio": ours["wall_s_median"] / sk["wall_s_median"],
            "accuracy_points_ours_minus_sklearn": 100 * (ours["test_accuracy_median"] - sk["test_accuracy_median"]),
        }
    out = {"per_batch": per_batch, "default_batch_size": default_batch}
    if str(default_batch) in per_batch:
        out["default_batch"] = {k: v for k, v in per_batch[str(default_batch)].items() if k != "fastest_autograd_plain"}
    return out


PLAIN_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from torch import nn
from torch.nn import functional as F

epochs, bs, threads, seed = (int(v) for v in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(seed)
train, val = (np.load(f"data/prepared/{s}.npz") for s in ("train", "val"))
x, y = torch.from_numpy(train["X"]), torch.from_numpy(train["y"])
xv, yv = torch.from_numpy(val["X"]), torch.from_numpy(val["y"])
n_classes = int(max(y.max(), yv.max())) + 1
model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, n_classes))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
gen = torch.Generator().manual_seed(seed)
history = []
for epoch in range(epochs):
    order = torch.randperm(len(y), generator=gen)
    xs, ys = x[order], y[order]
    for s in range(0, len(y), bs):
        opt.zero_grad()
        F.cross_entropy(model(xs[s : s + bs]), ys[s : s + bs]).backward()
        opt.step()
    with torch.no_grad():
        logits = model(xv)
    history.append({"epoch": epoch, "val_loss": float(F.cross_entropy(logits, yv)),
                    "val_accuracy": float((logits.argmax(1) == yv).float().mean())})
torch.save(model.state_dict(), "plain_model.pt")
with open("plain_metrics.json", "w") as fh:
    json.dump({"final": history[-1]}, fh)
"""


def timed_process(command: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child) of one process run.

    CPU time is reported beside wall time because on a machine shared with other work the wall
    clock of a process also counts the time it waited for a core."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_processes(bs: int, epochs: int, repeats: int, seed: int, threads: int) -> dict:
    """The train stage against the plain script, each a fresh process on the same arrays."""
    import shutil

    import yaml

    from pipeline import paths

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / paths.PREPARED_DIR, work / paths.PREPARED_DIR)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"].update(
            {
                "epochs": epochs,
                "batch_size": bs,
                "accelerator": "cpu",
                "devices": 1,
                "num_threads": threads,
                "resume": False,
            }
        )
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        (work / "plain_train.py").write_text(PLAIN_SCRIPT)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
        commands = {
            "train stage (python -m pipeline train)": [sys.executable, "-m", "pipeline", "train"],
            "plain PyTorch script, same fit": [
                sys.executable,
                "plain_train.py",
                str(epochs),
                str(bs),
                str(threads),
                str(seed),
            ],
        }
        walls = {name: [] for name in commands}
        cpus = {name: [] for name in commands}
        for rep in range(repeats):
            for name in list(commands)[rep % 2 :] + list(commands)[: rep % 2]:
                wall, cpu = timed_process(commands[name], work, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(f"process batch {bs} {name}: {wall:.2f}s wall, {cpu:.2f}s CPU", flush=True)
    stage, plain = (statistics.median(v) for v in walls.values())
    stage_cpu, plain_cpu = (statistics.median(v) for v in cpus.values())
    return {
        "batch_size": bs,
        "threads": threads,
        "wall_s_runs": walls,
        "cpu_s_runs": cpus,
        "stage_cpu_s_median": stage_cpu,
        "plain_script_cpu_s_median": plain_cpu,
        "stage_over_plain_script_cpu_ratio": stage_cpu / plain_cpu,
        "stage_s_median": stage,
        "plain_script_s_median": plain,
        "stage_over_plain_script_ratio": stage / plain,
        "fastest_runs_stage_over_plain_script": min(walls[next(iter(walls))]) / min(list(walls.values())[1]),
    }


GROUPING_DRIVER = r"""
import gc, sys
from pipeline.training import datamodule
if sys.argv[1] == "ungrouped":
    datamodule.ROWS_PER_ITEM = 1  # one mini-batch per Lightning batch
from pipeline.cli import run
code = run(["train"])
gc.freeze()
raise SystemExit(code)
"""


def measure_grouping(bs: int, epochs: int, repeats: int, threads: int) -> dict:
    """The train stage as a whole process with and without grouping mini-batches, interleaved.

    The driver runs the stage exactly as ``python -m pipeline train`` does; the ungrouped run
    only lowers ``ROWS_PER_ITEM`` so that every Lightning batch is one mini-batch.
    """
    import shutil

    import yaml

    from pipeline import paths

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / paths.PREPARED_DIR, work / paths.PREPARED_DIR)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"].update(
            {"epochs": epochs, "batch_size": bs, "accelerator": "cpu", "devices": 1, "num_threads": threads}
        )
        params["train"]["resume"] = False
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        (work / "driver.py").write_text(GROUPING_DRIVER)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
        walls = {"grouped": [], "ungrouped": []}
        cpus = {"grouped": [], "ungrouped": []}
        for rep in range(repeats):
            for mode in list(walls)[rep % 2 :] + list(walls)[: rep % 2]:
                wall, cpu = timed_process([sys.executable, "driver.py", mode], work, env)
                walls[mode].append(wall)
                cpus[mode].append(cpu)
                print(f"grouping batch {bs} {mode}: {wall:.2f}s wall, {cpu:.2f}s CPU", flush=True)
    grouped, ungrouped = statistics.median(walls["grouped"]), statistics.median(walls["ungrouped"])
    return {
        "batch_size": bs,
        "wall_s_runs": walls,
        "cpu_s_runs": cpus,
        "grouped_cpu_s_median": statistics.median(cpus["grouped"]),
        "ungrouped_cpu_s_median": statistics.median(cpus["ungrouped"]),
        "saved_cpu_s_median": statistics.median(cpus["ungrouped"]) - statistics.median(cpus["grouped"]),
        "grouped_s_median": grouped,
        "ungrouped_s_median": ungrouped,
        "saved_s_median": ungrouped - grouped,
        "saved_s_fastest_runs": min(walls["ungrouped"]) - min(walls["grouped"]),
    }


EXIT_PROBE = r"""
import sys, time
started = time.perf_counter()
import pytorch_lightning
sys.stderr.write(f"\n{time.perf_counter() - started}\n")
if sys.argv[1] == "freeze":
    import gc
    gc.freeze()
"""


def measure_exit(repeats: int) -> dict:
    """Start-up and shutdown of a process that imports Lightning (its wall time minus the import),
    as Python leaves it and with ``gc.freeze()`` before exit, as ``python -m pipeline`` does."""
    import subprocess

    runs = {"as Python leaves it": [], "gc.freeze() before exit": []}
    for _ in range(repeats):
        for mode, name in zip(("plain", "freeze"), runs):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", EXIT_PROBE, mode], capture_output=True, text=True, check=True)
            runs[name].append(time.perf_counter() - started - float(done.stderr.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in runs.items()}


def threads_for(arrays, n_classes, bs, requested):
    """The thread count our stage uses at this batch size (None: torch's default)."""
    from pipeline.models.mlp import MlpSpec
    from pipeline.training.threads import step_threads

    return step_threads(MlpSpec(arrays["train"]["X"].shape[1], (64, 64), n_classes), bs, "cpu", requested)


def measure(arrays, n_classes, batch_sizes, epochs, repeats, seed, requested_threads) -> list[dict]:
    import torch

    rows = []
    for bs in batch_sizes:
        threads = threads_for(arrays, n_classes, bs, requested_threads)
        runs = {name: [] for name in METHODS}
        names = list(METHODS)
        for rep in range(repeats):  # interleaved, so drifting load hits every method alike;
            for name in (
                names[rep % len(names) :] + names[: rep % len(names)]
            ):  # rotated, so no method always goes first
                fn = METHODS[name]
                runs[name].append(fn(arrays, n_classes, bs, epochs, seed, threads))
                print(
                    f"batch {bs} {name}: wall {runs[name][-1][0]:.3f}s cpu {runs[name][-1][1]:.3f}s "
                    f"acc {runs[name][-1][2]:.4f}",
                    flush=True,
                )
        for name, values in runs.items():
            walls, cpus, accs = zip(*values)
            rows.append(
                {
                    "batch_size": bs,
                    "threads": threads or torch.get_num_threads(),
                    "method": name,
                    "wall_s_median": statistics.median(walls),
                    "wall_s_min": min(walls),
                    "cpu_s_median": statistics.median(cpus),
                    "wall_s_runs": list(walls),
                    "cpu_s_runs": list(cpus),
                    "test_accuracy_median": statistics.median(accs),
                }
            )
    return rows


def markdown(rows, meta, summary, process) -> str:
    grouping = summary["grouping"]
    default = summary["default_batch_size"]
    exit_s = summary["exit_s"]
    lines = [
        "# Training speed (written by benchmarks/bench_training.py)",
        "",
        f"Command: `{meta['command']}`  ",
        f"When: {meta['when']} UTC; machine: {meta['cpu']}, {meta['logical_cpus']} logical CPUs, "
        f"torch's default threads {meta['threads']}; "
        f"load average before/after: {meta['load_before']} / {meta['load_after']}.  ",
        f"Data: Adult `data/prepared` ({meta['rows_train']} training rows), MLP 64-64, {meta['epochs']} epochs, "
        f"median of {meta['repeats']} runs; default batch size {default}.",
        "",
        "## The train stage as a whole process (target: stage / plain script <= 1.5 at the default batch)",
        "",
        "| batch | threads | train stage s (median) | plain script s (median) | stage / script "
        "| between fastest runs | CPU s, stage / script (median) |",
        "|---|---|---|---|---|---|---|",
        f"| {process['batch_size']} | {process['threads']} | {process['stage_s_median']:.2f} "
        f"| {process['plain_script_s_median']:.2f} | "
        f"{process['stage_over_plain_script_ratio']:.2f}x | {process['fastest_runs_stage_over_plain_script']:.2f}x "
        f"| {process['stage_cpu_s_median']:.2f} / {process['plain_script_cpu_s_median']:.2f} = "
        f"{process['stage_over_plain_script_cpu_ratio']:.2f}x |",
        "",
        f"`import pytorch_lightning` took {meta['lightning_import_s']:.2f} s in the benchmark process "
        "(part of the stage's time above).",
        "",
        "Start-up and exit of a process that imports Lightning (its wall time minus the import, median of "
        f"{meta['repeats']}): {exit_s['as Python leaves it']:.2f} s as Python leaves it, "
        f"{exit_s['gc.freeze() before exit']:.2f} s with `gc.freeze()` before exit, as `python -m pipeline` does "
        "(the interpreter's last collection otherwise walks every object torch and Lightning created).",
        "",
        "## Mini-batch grouping, the train stage as a whole process",
        "",
        "| batch | grouped s (median) | one mini-batch per Lightning batch s (median) | saved (median) "
        "| saved (fastest runs) | CPU s grouped / ungrouped (median) |",
        "|---|---|---|---|---|---|",
        f"| {grouping['batch_size']} | {grouping['grouped_s_median']:.2f} | {grouping['ungrouped_s_median']:.2f} "
        f"| {grouping['saved_s_median']:+.2f} s | {grouping['saved_s_fastest_runs']:+.2f} s "
        f"| {grouping['grouped_cpu_s_median']:.2f} / {grouping['ungrouped_cpu_s_median']:.2f} |",
        "",
        "## The fit, for information (no target: no user meets the fit alone)",
        "",
        "| batch | threads | method | wall s (median) | CPU s (median) | test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['batch_size']} | {row['threads']} | {row['method']} | {row['wall_s_median']:.3f} | "
            f"{row['cpu_s_median']:.3f} | {row['test_accuracy_median']:.4f} |"
        )
    lines += [
        "",
        "| batch | ours / fastest autograd plain loop: wall [CPU] (fastest runs) | ours / MLPClassifier "
        "| accuracy, ours minus MLPClassifier |",
        "|---|---|---|---|",
    ]
    for bs, b in summary["per_batch"].items():
        mark = " (default)" if int(bs) == default else ""
        lines.append(
            f"| {bs}{mark} | {b['ours_over_autograd_plain_ratio']:.2f}x "
            f"[{b['ours_over_autograd_plain_cpu_ratio']:.2f}x] "
            f"({b['fastest_runs_ours_over_autograd_plain']:.2f}x; {b['fastest_autograd_plain']}) | "
            f"{b['ours_over_sklearn_ratio']:.2f}x | {b['accuracy_points_ours_minus_sklearn']:+.2f} points |"
        )
    lines += [
        "",
        "Ours is the stage's fit: Lightning Trainer, autograd through Lightning's optimiser wrapper "
        "(every step counted in `global_step`), validation every epoch, train metrics, an atomic checkpoint "
        "every epoch, the data fingerprint that guards resumption, and reading the final weights back; "
        "the plain loops do none of these but the training steps.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for every method (default: what our stage picks)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    args = parser.parse_args()

    started = time.perf_counter()
    import pytorch_lightning  # noqa: F401  (timed: a process pays it once)

    lightning_import = time.perf_counter() - started
    import torch

    arrays, n_classes = load()
    load_before = os.getloadavg()
    from pipeline.config import TrainSettings
    from pipeline.training.cost import cpu_name

    default_batch = TrainSettings().batch_size
    rows = measure(arrays, n_classes, args.batch_sizes, args.epochs, args.repeats, args.seed, args.threads)
    threads = threads_for(arrays, n_classes, default_batch, args.threads) or torch.get_num_threads()
    process = measure_processes(default_batch, args.epochs, args.repeats, args.seed, threads)

    meta = {
        "command": "python benchmarks/bench_training.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_before": [round(v, 1) for v in load_before],
        "load_after": [round(v, 1) for v in os.getloadavg()],
        "epochs": args.epochs,
        "repeats": args.repeats,
        "rows_train": int(len(arrays["train"]["y"])),
        "lightning_import_s": lightning_import,
    }
    grouping = measure_grouping(default_batch, args.epochs, args.repeats, threads)
    summary = {
        **summarise(rows, default_batch),
        "process": process,
        "grouping": grouping,
        "exit_s": measure_exit(args.repeats),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "summary": summary, "rows": rows}
    (out / "training.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    (out / "TRAINING.md").write_text(markdown(rows, meta, summary, process))
    print(markdown(rows, meta, summary, process))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
