"""The targets of issue 9, checked against the measured figures: met, not met, or not measured.

The fit's ratio to a plain autograd loop in the same process is no target any more (issue
27): no user meets the fit alone, and chasing it bent Lightning's contract. The training
targets are the train stage as a whole process against a plain PyTorch script, and a cold
``dvc repro``. bench_training.py still reports the fit's figures for information.

Figures from the other helpers' scripts are found by key name in the JSON they write (their
format is theirs); when no matching number is found the target is 'not measured', never guessed.
"""

from __future__ import annotations

from typing import Any

COLD_REPRO_MAX_S = 45.0
#: issue 27 ("the house, one step further") may not slow the pipeline down: the median cold
#: `dvc repro` measured before it (benchmarks/results.json of 2026-12-01, commit 976931b)
COLD_REPRO_BEFORE_27_S = 48.6
#: The commit that figure was measured on: make bench runs it alternately with HEAD, on the same
#: machine under the same load, which is what "no slower" needs (the 48.6 s was another day's machine).
COLD_REPRO_BASE_COMMIT = "976931b"
NOOP_MAX_S = 3.0
TRAIN_PROCESS_MAX_RATIO = 1.5  # the train stage as a process vs a plain PyTorch script (issue 18)
TRAINING_VS_SKLEARN_MAX_RATIO = 1.0  # "faster than MLPClassifier"
FAIRNESS_MAX_S = 3.0
EXPLAIN_MAX_RATIO = 2.0
LINEAR_MAX_RATIO = 1.5
MEMORY_MAX_MULTIPLE = 3.0

# Key fragments that identify a figure in a helper's JSON (all fragments must occur in the
# dotted key path, case-insensitive); the first match wins, in this order.
SUB_FIGURES = {
    "training_process": [("process", "stage_over_plain_script_ratio")],
    "training_vs_sklearn": [("default_batch", "ours_over_sklearn")],
    "fairness": [
        ("ours", "1000", "median"),
        ("ours", "median"),
        ("pipeline", "median"),
        ("ours", "wall"),
        ("ours", "seconds"),
    ],
    "explain": [("ratio", "hand"), ("over_hand",), ("stage", "hand", "ratio")],
}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def find_figure(data: dict, patterns: list[tuple[str, ...]]) -> tuple[str, float] | None:
    """The first numeric leaf whose key path holds every fragment of a pattern."""
    flat = {k: v for k, v in flatten(data).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for pattern in patterns:
        for key, value in flat.items():
            if all(fragment in key.lower() for fragment in pattern):
                return key, float(value)
    return None


def _row(
    name: str, target: str, value: float | None, limit: float, unit: str, detail: str = "", strict: bool = False
) -> dict:
    """``strict``: the limit itself fails (a "< limit" target)."""
    met = None if value is None else (value < limit if strict else value <= limit)
    return {"target": name, "limit": target, "value": value, "unit": unit, "met": met, "detail": detail}


def dvc_targets(results: dict) -> list[dict]:
    dvc = results.get("dvc") or {}
    cores = results["machine"].get("usable_cores")
    note = f"measured on {cores} usable cores"
    cold = (dvc.get("cold") or {}).get("wall_s", {}).get("median")
    noop = (dvc.get("noop") or {}).get("wall_s", {}).get("median")
    return [
        _row("cold `dvc repro` on Adult", f"<= {COLD_REPRO_MAX_S:g} s on 2 cores", cold, COLD_REPRO_MAX_S, "s", note),
        _row(
            "cold `dvc repro` no slower than before issue 27",
            f"<= {COLD_REPRO_BEFORE_27_S:g} s on 2 cores",
            cold,
            COLD_REPRO_BEFORE_27_S,
            "s",
            note,
        ),
        *_same_machine_row(dvc, cold),
        _row("no-op `dvc repro`", f"<= {NOOP_MAX_S:g} s", noop, NOOP_MAX_S, "s"),
    ]


def _same_machine_row(dvc: dict, cold: float | None) -> list[dict]:
    """HEAD's median cold run against the base commit's, run alternately in the same invocation."""
    base = dvc.get("cold_base")
    if not base or cold is None:
        return []
    before = base["wall_s"]["median"]
    pairs = ", ".join(f"{d:+.1f}" for d in base["head_minus_base_s"])
    return [
        _row(
            f"cold `dvc repro` no slower than commit {base['commit'][:7]} (before issue 27), same machine",
            "<= 1x its median, runs alternating",
            cold / before,
            1.0,
            "x",
            f"{cold:.2f} s vs {before:.2f} s; HEAD minus base per pair: {pairs} s",
        )
    ]


def sub_targets(results: dict) -> list[dict]:
    subs = results.get("subs") or {}
    # target key: (sub-benchmark it reads, name, limit as text, limit, unit, whether the limit itself fails)
    spec = {
        "training_process": (
            "training",
            "train stage process vs plain PyTorch script, same fit",
            f"<= {TRAIN_PROCESS_MAX_RATIO:g}x",
            TRAIN_PROCESS_MAX_RATIO,
            "x",
            False,
        ),
        "training_vs_sklearn": (
            "training",
            "training time vs sklearn MLPClassifier",
            f"< {TRAINING_VS_SKLEARN_MAX_RATIO:g}x",
            TRAINING_VS_SKLEARN_MAX_RATIO,
            "x",
            True,
        ),
        "fairness": (
            "fairness",
            "fairness, 1,000 bootstrap resamples",
            f"<= {FAIRNESS_MAX_S:g} s",
            FAIRNESS_MAX_S,
            "s",
            False,
        ),
        "explain": (
            "explain",
            "explain stage vs hand-written IG",
            f"<= {EXPLAIN_MAX_RATIO:g}x",
            EXPLAIN_MAX_RATIO,
            "x",
            False,
        ),
    }
    rows = []
    for key, (sub, name, text, limit, unit, strict) in spec.items():
        block = subs.get(sub) or {}
        found = find_figure(block.get("data") or {}, SUB_FIGURES[key]) if block.get("status") == "ok" else None
        if found is None:
            status = block.get("status", "not run")
            rows.append(_row(name, text, None, limit, unit, f"not measured: {status}", strict))
        else:
            detail = f"from {', '.join(block['json_files'])}: {found[0]}"
            rows.append(_row(name, text, found[1], limit, unit, detail, strict))
    return rows


def per_row(run: dict, stage: str) -> float | None:
    stage_run = run["stages"].get(stage)
    if not stage_run or stage_run["rc"] != 0:
        return None
    return stage_run["wall_s"] / run["rows"]


def net_per_row(run: dict, base: dict, stage: str) -> float | None:
    """Time per row above the fixed start-up cost (the same stage on the baseline size)."""
    if per_row(run, stage) is None or per_row(base, stage) is None:
        return None
    return (run["stages"][stage]["wall_s"] - base["stages"][stage]["wall_s"]) / (run["rows"] - base["rows"])


def scaling_table(scaling: dict) -> list[dict]:
    """Per stage: time per row at the smallest and largest size, and peak memory vs the data."""
    runs, sizes = scaling["runs"], scaling["sizes"]
    base, small, large = runs[str(scaling["baseline_rows"])], runs[str(sizes[0])], runs[str(sizes[-1])]
    table = []
    for stage in scaling["stages"]:
        small_pr, large_pr = per_row(small, stage), per_row(large, stage)
        small_net, large_net = net_per_row(small, base, stage), net_per_row(large, base, stage)
        entry = {
            "stage": stage,
            "small_rows": small["rows"],
            "large_rows": large["rows"],
            "per_row_small_s": small_pr,
            "per_row_large_s": large_pr,
            "ratio": large_pr / small_pr if small_pr and large_pr else None,
            "net_ratio": large_net / small_net if small_net and large_net and small_net > 0 else None,
        }
        data_mib = large.get("float32_data_mib")
        stage_run = large["stages"].get(stage)
        if data_mib and stage_run and stage_run["rc"] == 0:
            entry["peak_rss_mib"] = stage_run["peak_rss_mib"]
            entry["float32_data_mib"] = data_mib
            entry["memory_multiple"] = stage_run["peak_rss_mib"] / data_mib
            base_peak = (base["stages"].get(stage) or {}).get("peak_rss_mib")
            entry["net_memory_multiple"] = (stage_run["peak_rss_mib"] - base_peak) / data_mib if base_peak else None
        table.append(entry)
    return table


def scaling_targets(results: dict) -> list[dict]:
    scaling = results.get("scaling")
    if not scaling:
        return [
            _row(
                "time per row, largest vs smallest size",
                f"<= {LINEAR_MAX_RATIO:g}x",
                None,
                LINEAR_MAX_RATIO,
                "x",
                "scaling not run",
            ),
            _row(
                "peak memory at the largest size",
                f"<= {MEMORY_MAX_MULTIPLE:g}x float32 data",
                None,
                MEMORY_MAX_MULTIPLE,
                "x",
                "scaling not run",
            ),
        ]
    rows = []
    for entry in scaling_table(scaling):
        size = f"{entry['large_rows']:,} vs {entry['small_rows']:,} rows"
        net = entry.get("net_ratio")
        detail = f"{size}; net of fixed start-up cost: {net:.2f}x" if net is not None else size
        if entry["ratio"] is None:
            detail = f"{size}; stage failed or did not run at one of the sizes"
        rows.append(
            _row(
                f"{entry['stage']}: time per row",
                f"<= {LINEAR_MAX_RATIO:g}x",
                entry["ratio"],
                LINEAR_MAX_RATIO,
                "x",
                detail,
            )
        )
    for entry in scaling_table(scaling):
        multiple = entry.get("memory_multiple")
        detail = f"at {entry['large_rows']:,} rows"
        if multiple is not None:
            detail += f": peak {entry['peak_rss_mib']:.0f} MiB vs {entry['float32_data_mib']:.0f} MiB of float32 data"
        if entry.get("net_memory_multiple") is not None:
            detail += f"; above the {scaling['baseline_rows']:,}-row run's peak: {entry['net_memory_multiple']:.2f}x"
        rows.append(
            _row(
                f"{entry['stage']}: peak memory",
                f"<= {MEMORY_MAX_MULTIPLE:g}x float32 data",
                multiple,
                MEMORY_MAX_MULTIPLE,
                "x",
                detail,
            )
        )
    return rows


def evaluate(results: dict) -> list[dict]:
    """Every target row, in the order of the issue."""
    return dvc_targets(results) + sub_targets(results) + scaling_targets(results)
