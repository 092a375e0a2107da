"""The data checks of issue 24 on clean data: false alarms and the leakage probe's cost.

For Adult and German (bundled) and seeded honest CSV-like tables, runs what ``prepare`` runs
before encoding (sensitive shapes, PII scan, column screen, single-column leakage and the
multi-column probe) and records every flag it raises: on clean data each flag is a false alarm.
It also times the probe alone and the whole leakage check (single + probe) and, on seeded
tables with a leak spread over three columns, whether the probe names exactly those three.
Writes ``benchmarks/leakage.json`` and ``benchmarks/LEAKAGE.md``.

    python benchmarks/bench_leakage.py [--random 10] [--leaky 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import config  # noqa: E402
from pipeline.data import leakage_probe, sensitive_shapes  # noqa: E402
from pipeline.data.prepare import split_labels  # noqa: E402
from pipeline.data.sources import load_source, resolve  # noqa: E402
from pipeline.stages import prepare as stage  # noqa: E402

OUT_JSON = Path(__file__).resolve().parent / "leakage.json"
OUT_MD = Path(__file__).resolve().parent / "LEAKAGE.md"


def checks(cfg) -> dict:
    """Every flag prepare's checks raise on this data, and the time of each leakage step."""
    raw = load_source(cfg.data)
    table, settings, encodings = sensitive_shapes.derive(raw, resolve(cfg.data))
    privacy = stage.privacy_scan(table, cfg, settings)
    screened = stage.column_screen(table, settings, encodings)
    excluded = sorted(set(privacy["excluded"]) | set(screened["excluded"]))
    start = time.perf_counter()
    leaks = stage.leakage_check(table, settings, cfg, excluded, encodings)
    with_probe = time.perf_counter() - start
    labels = split_labels(table, settings, cfg.seed)
    train = labels.index[labels == "train"].to_numpy()
    numeric, categorical = stage.model_inputs(table, settings, excluded, encodings)
    positive = (table.target.iloc[train] == table.favourable).to_numpy(dtype=int)
    start = time.perf_counter()
    leakage_probe.probe(
        table.features.iloc[train].reset_index(drop=True),
        positive,
        numeric=numeric,
        columns=numeric + categorical,
        threshold=settings.leakage_auc,
        seed=cfg.seed,
    )
    probe_alone = time.perf_counter() - start
    threads = {}
    if len(train) > 20_000:  # the thread choice, measured where it matters (first X, then y: same work)
        from threadpoolctl import threadpool_limits

        X, kinds = leakage_probe._matrix(table.features.iloc[train[:20_000]], set(numeric), numeric + categorical)
        for count in (1, 2):
            with threadpool_limits(limits=count, user_api="openmp"):
                start = time.perf_counter()
                leakage_probe.out_of_fold_auc(X, kinds, positive[:20_000], cfg.seed)
                threads[f"{count}_thread"] = round(time.perf_counter() - start, 2)
    return {
        "rows": int(len(table.target)),
        "train_rows": int(len(train)),
        "inputs": len(numeric + categorical),
        "probe_auc": leaks["probe"]["auc"],
        "probe_rows": leaks["probe"]["rows"],
        "leakage_suspects": [s["column"] for s in leaks["suspected"]],
        "identifiers": [f["column"] for f in privacy["findings"] if "identifier" in f["reason"]],
        "screened": [f"{f['column']} ({f['kind']})" for f in screened["findings"]],
        "seconds_leakage_check": round(with_probe, 2),
        "seconds_probe": round(probe_alone, 2),
        "seconds_one_probe_fit_by_threads": threads,
    }


def honest_table(n: int, seed: int) -> pd.DataFrame:
    """A social-outcome-like table: the label depends on a few columns through a noisy score (ROC AUC
    of the true score about 0.8), with numeric, integer-count, categorical and wide columns."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.lognormal(10, 0.5, n).round(2)
    priors = rng.poisson(2, n)
    region = rng.choice([f"r{i}" for i in range(12)], n)
    job = rng.choice([f"job{i}" for i in range(60)], n)
    score = (np.log(income) - 10) / 0.5 - 0.3 * (priors - 2) + (age - 45) / 30 + rng.logistic(0, 1.2, n)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "priors": priors,
            "region": region,
            "job": job,
            "sex": rng.choice(["female", "male"], n),
            "days_since_start": rng.integers(0, 3000, n),
            "label": np.where(score > 0, "yes", "no"),
        }
    )


def leaky_table(n: int, seed: int) -> pd.DataFrame:
    """The honest table plus three registers each revealing a third of the 'no' rows (as the test)."""
    rng = np.random.default_rng(seed + 1000)
    frame = honest_table(n, seed)
    no = (frame["label"] == "no").to_numpy()
    register = np.where(no, rng.integers(0, 3, n), -1)
    frame["days_to_event"] = np.where(register == 0, rng.integers(1, 200, n), rng.integers(200, 1000, n))
    frame["later_fine"] = np.where(register == 1, rng.integers(700, 900, n), rng.integers(0, 600, n))
    frame["later_charge"] = np.where(register == 2, rng.choice(["F1", "F2"], n), rng.choice(["M1", "M2", "none"], n))
    return frame


def csv_cfg(path: Path):
    return config.from_dict(
        {
            "data": {
                "source": "csv",
                "dep": str(path),
                "sensitive": ["sex"],
                "csv": {"path": str(path), "target": "label", "positive_label": "yes"},
                "pii": {"quasi_identifiers": ["age", "sex"]},
            }
        }
    )


def seeded(kind, count: int, tmp: Path) -> list[dict]:
    out = []
    for seed in range(count):
        n = [500, 1000, 2000, 5000][seed % 4]
        path = tmp / f"{kind.__name__}_{seed}.csv"
        kind(n, seed).to_csv(path, index=False)
        out.append({"seed": seed, **checks(csv_cfg(path))})
    return out


def markdown(result: dict) -> str:
    lines = [
        "# Data checks of issue 24 on clean and leaky data",
        "",
        "`python benchmarks/bench_leakage.py` on this machine (2 shared cores); thresholds are the defaults",
        "(`data.leakage_auc` 0.98, `data.max_missing_share` 0.5). On clean data every flag is a false alarm.",
        "",
        "## Bundled data",
        "",
        "| data | rows (train) | inputs | probe ROC AUC (rows) | leakage suspects | identifiers | screened |"
        " probe s | leakage check s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["bundled"].items():
        lines.append(
            f"| {name} | {r['rows']} ({r['train_rows']}) | {r['inputs']} | {r['probe_auc']:.4f} ({r['probe_rows']}) | "
            f"{', '.join(r['leakage_suspects']) or 'none'} | {', '.join(r['identifiers']) or 'none'} | "
            f"{', '.join(r['screened']) or 'none'} | {r['seconds_probe']} | {r['seconds_leakage_check']} |"
        )
    for name, r in result["bundled"].items():
        if r.get("seconds_one_probe_fit_by_threads"):
            timing = ", ".join(
                f"{k.split('_')[0]} thread(s) {v} s" for k, v in r["seconds_one_probe_fit_by_threads"].items()
            )
            lines.append(f"\nOne out-of-fold probe score on {name} (20,000 training rows): {timing}.")
    for kind, title in (("honest", "Seeded honest tables"), ("leaky", "Seeded tables with a leak over three columns")):
        rows = result[kind]
        flagged = sum(bool(r["leakage_suspects"]) for r in rows)
        lines += [
            "",
            f"## {title}",
            "",
            "| seed | rows | probe ROC AUC | leakage suspects | identifiers | screened | probe s |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['seed']} | {r['rows']} | {r['probe_auc']:.4f} | {', '.join(r['leakage_suspects']) or 'none'} | "
                f"{', '.join(r['identifiers']) or 'none'} | {', '.join(r['screened']) or 'none'} | "
                f"{r['seconds_probe']} |"
            )
        if kind == "honest":
            lines.append(f"\nFalse leakage alarms: {flagged} of {len(rows)} tables.")
        else:
            exact = sum(set(r["leakage_suspects"]) == {"days_to_event", "later_fine", "later_charge"} for r in rows)
            lines.append(f"\nThe three leak columns named exactly: {exact} of {len(rows)} tables.")
    return "\n".join(lines + RULES) + "\n"


RULES = [
    "",
    "## Each rule and its false alarms",
    "",
    "- **Leakage probe** (gradient boosting out of fold, flag at ROC AUC >= 0.98): honest social outcomes",
    "  score far below (Adult and German above, the seeded honest tables 0.67-0.73), so the margin is wide;",
    "  a false flag needs an honest table predictable to 0.98, which such outcomes do not reach. Its",
    "  misses: a leak the probe cannot learn from the rows given (too few rows for the interaction).",
    "- **Identifier** (unique among the non-empty values, at least half the rows filled, numbers only as",
    "  integers): a false flag is an integer measurement distinct by chance; n values drawn from a range",
    "  R are all distinct with probability about exp(-n^2 / 2R), negligible beyond a few hundred rows",
    "  unless R is huge (amounts in cents). Adult's `fnlwgt` (integer, 28,523 levels in 48,842 rows) is",
    "  not flagged.",
    "- **Copy** (equal codes in order of first appearance; a recoding counts only with at most half as",
    "  many levels as rows): a chance one-to-one map between two columns of k levels each needs every",
    "  level pair aligned, impossible by chance once levels repeat. Adult's `education` *is* a one-to-one",
    "  recoding of `education_num` (16 levels each): a true finding, it leaves the inputs. Measured once",
    "  (prepare, train, evaluate with the default params on Adult, this machine): test accuracy 0.8580 /",
    "  balanced accuracy 0.7783 / ROC AUC 0.9105 without it, 0.8576 / 0.7770 / 0.9099 with it",
    "  (`data.keep_columns: [education]`); the network's validation ROC AUC (the `near_perfect` check)",
    "  0.920, under 0.98.",
    "- **Mostly empty** (missing in more than half the rows): not a statistical decision; a column whose",
    "  emptiness is the information (e.g. 'date of a later offense') is the case it is meant to catch;",
    "  `data.keep_columns` or `data.max_missing_share: null` keeps one.",
]


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--random", type=int, default=8)
    parser.add_argument("--leaky", type=int, default=8)
    args = parser.parse_args()
    result = {
        "bundled": {
            "adult": checks(config.from_dict({"data": {"source": "adult"}})),
            "german": checks(config.from_dict({"data": {"source": "german"}})),
        }
    }
    with tempfile.TemporaryDirectory() as tmp:  # an absolute path: allowed outside the project
        result["honest"] = seeded(honest_table, args.random, Path(tmp))
        result["leaky"] = seeded(leaky_table, args.leaky, Path(tmp))
    OUT_JSON.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    OUT_MD.write_text(markdown(result))
    print(OUT_MD.read_text())


if __name__ == "__main__":
    main()
