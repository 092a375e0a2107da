"""A user's CSV file read block-wise on Ray: the loader's whole-file decisions from merged block evidence.

The driver reads the header and plans the blocks (:mod:`pipeline.data.csv_blocks`); a Ray task per
block reports typing evidence (pass 1); the driver merges it into the local loader's decisions; a
task per block validates against them, collects the values of the buckets that hold each median and
the rows a hash-stratified sample may take (pass 2); the driver raises every problem at once (exit 2,
nothing written), computes the exact medians and types the sample. The blocks themselves are typed
later, inside the tasks that compute the encoder's statistics and write the shards
(:func:`items`). The driver holds one block's results at a time, merged as they come, and the sample.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DataSettings
from pipeline.data import csv_blocks, csv_source, validate
from pipeline.data.table import RawTable


@dataclass(frozen=True)
class Scanned:
    """What the driver knows after both passes: the plan of blocks, the decisions and the typed sample."""

    layout: csv_blocks.Layout
    decisions: csv_blocks.Decisions
    parts: Callable[[], Iterable[csv_blocks.Part]]
    sample: RawTable  # the hash-stratified sample, typed as the whole table would be
    sample_row_id: np.ndarray
    rows: int  # every kept row
    mode: str  # how blocks are read: "byte ranges read by the workers" or "chunks parsed by the driver"


@dataclass(frozen=True)
class CsvItem:
    """One block to type inside a task: the part, the file's layout and decisions."""

    part: csv_blocks.Part
    layout: csv_blocks.Layout
    decisions: csv_blocks.Decisions
    sensitive: list[str]


def layout_of(settings: DataSettings) -> tuple[csv_blocks.Layout, list[str]]:
    """The file's layout from its header and the settings (refused like the whole-file loader refuses)."""
    csv = settings.csv
    path = Path(csv.path)
    validate.raise_if_any(validate.inside_project(path))
    validate.check_text(path, csv.encoding)
    head = csv_blocks.header(path, csv.delimiter, csv.encoding)
    validate.raise_if_any(validate.structure(path, head, csv.delimiter, csv.duplicate_columns))
    names, renamed = csv_source.rename_duplicates(head)
    configured = csv_source.configured_columns(settings)
    named, case_notes = csv_source.match_case(pd.DataFrame(columns=names), configured)
    columns = list(named.columns)
    validate.raise_if_any(validate.columns_exist(path, columns, configured))
    roles = {r: getattr(csv, r) for r in ("score", "decision") if getattr(csv, r)}
    layout = csv_blocks.Layout(
        path=str(path.resolve()),
        shown=str(path),
        delimiter=csv.delimiter,
        encoding=csv.encoding,
        columns=columns,
        dropped=list(csv.drop),
        target=csv.target,
        roles=roles,
        sensitive=csv_source.sensitive_columns(settings),
        declared={**csv_source.codes_as_text(settings), **csv.column_types},
        missing_policy=settings.missing_sensitive,
    )
    return layout, renamed + case_notes


def planned(layout: csv_blocks.Layout, block_rows: int) -> tuple[Callable[[], Iterable[csv_blocks.Part]], str]:
    path = Path(layout.path)
    ranges = csv_blocks.line_ranges(path, layout.encoding, block_rows)
    if ranges is not None:
        return (lambda: iter(ranges)), "byte ranges read by the workers"
    return (
        lambda: csv_blocks.driver_parts(path, layout.delimiter, layout.encoding, block_rows)
    ), "chunks parsed by the driver (the file has quoted fields, lone carriage returns or a multi-byte encoding)"


def serial(fn, parts: Iterable, merge: Callable, *args):
    """``fn(part, *args)`` on every part in this process, merged in block order (what :func:`on_ray` does
    in Ray tasks; for small files and for tests of the decisions without a cluster)."""
    merged = None
    for part in parts:
        merged = _fold(merge, merged, fn(part, *args))
    return merged


def on_ray(ray) -> Callable:
    """A runner for :func:`scan`: ``fn`` in Ray tasks of one CPU (:func:`run_reduced`)."""
    return functools.partial(run_reduced, ray)


def run_reduced(ray, fn, parts: Iterable, merge: Callable, *args):
    """``fn(part, *args)`` in a Ray task per part, at most two per cluster CPU in flight, results merged as
    they come in block order (the driver holds the merged result and the blocks in flight, never every result)."""
    from pipeline.scale.cluster import gather

    task = ray.remote(num_cpus=1)(fn)
    window = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending: list = []
    merged = None
    shared = [ray.put(a) for a in args]
    for part in parts:
        if len(pending) >= window:
            merged = _fold(merge, merged, gather(ray, [pending.pop(0)])[0])
        pending.append(task.remote(part, *shared))
    for ref in pending:
        merged = _fold(merge, merged, gather(ray, [ref])[0])
    return merged


def _fold(merge, merged, result):
    return result if merged is None else merge(merged, result)


def sample_bound(n: int, rows: int) -> float:
    """The hash below which a row is a sample candidate: n plus 8 standard deviations in expectation."""
    return 1.0 if n >= rows else min(1.0, (n + 8 * math.sqrt(n) + 64) / rows)


def problems_of(settings: DataSettings, ev: csv_blocks.Evidence, checked: csv_blocks.Check, line_mode: bool) -> list:
    csv = settings.csv
    path = Path(csv.path)
    locate = None if line_mode else functools.partial(validate.record_start_lines, path, csv.delimiter, csv.encoding)
    failures = validate.merge_failures(checked.failures)
    problems = validate.word_failures(
        path,
        failures,
        target=csv.target,
        classes=list(csv.classes) if csv.classes else None,
        found=dict(sorted(ev.labels.items(), key=lambda kv: -kv[1])),  # value_counts' order
        locate=locate,
    )
    if not any(p.column == csv.target for p in problems):
        counts = pd.Series(ev.labels, dtype="int64").sort_values(ascending=False, kind="stable")
        problems += validate.label_count_rules(path, counts, csv.target, settings.val_size, settings.test_size)
    return problems


def medians(ev: csv_blocks.Evidence, decisions: csv_blocks.Decisions, wanted: dict, checked) -> tuple[dict, dict]:
    """The exact median of every numeric column with a missing value, and the filled cells per column."""
    found, filled = {}, {}
    for name in decisions.numeric:
        present = sum(ev.buckets.get(name, {}).values())
        if present < ev.kept:
            filled[name] = ev.kept - present
            found[name] = (
                csv_blocks.median_from(checked.middle.get(name, {}), wanted[name]["spots"]) if present else math.nan
            )
    return found, filled


def sample_table(frame: pd.DataFrame, layout, decisions, notes: list[str], missing: dict, path: Path) -> RawTable:
    from pipeline.io import sha256_file

    typed = csv_blocks.typed(frame, layout, decisions).reset_index(drop=True)
    extra = {k: v.reset_index(drop=True) for k, v in csv_source.extras(typed, layout.roles).items()}
    return RawTable(
        features=typed[decisions.numeric + decisions.categorical],
        target=typed[layout.target].astype(str),
        classes=decisions.classes,
        favourable=decisions.favourable,
        numeric=decisions.numeric,
        categorical=decisions.categorical,
        provenance={path.name: sha256_file(path)},
        extra=extra,
        notes=notes,
        missing=missing,
    )


def scan(run: Callable, settings: DataSettings, seed: int, sample_rows: int, block_rows: int) -> Scanned:
    """Both passes, each block through ``run`` (:func:`on_ray` or :func:`serial`); refuses bad input (exit 2)
    before anything is written, like the whole-file loader."""
    csv = settings.csv
    layout, renamed = layout_of(settings)
    parts, mode = planned(layout, block_rows)
    ev = run(csv_blocks.evidence, parts(), csv_blocks.merge, layout)
    if ev is None or ev.rows == 0:
        validate.raise_if_any([validate.Problem(csv.path, csv_source.NO_DATA_ROWS)])
    kept_columns = [c for c in layout.columns if c not in set(layout.dropped)]
    decisions, wanted = csv_blocks.decide(ev, layout, settings, kept_columns)
    classes = list(csv.classes) if csv.classes else None
    bound = sample_bound(sample_rows, ev.kept)
    checked = run(check_part, parts(), csv_blocks.merge_checks, layout, decisions, classes, wanted, (seed, bound))
    validate.raise_if_any(problems_of(settings, ev, checked, mode.startswith("byte")))
    found, filled = medians(ev, decisions, wanted, checked)
    notes = renamed + decisions.notes + csv_source.fill_notes(filled)
    decisions = dataclasses.replace(decisions, medians=found, notes=notes)
    candidates = pd.concat(checked.sample) if checked.sample else pd.DataFrame({csv_blocks.UNDER_BOUND: []})
    while candidates[csv_blocks.UNDER_BOUND].sum() < min(sample_rows, ev.kept):  # 8 standard deviations short
        bound = min(1.0, 4 * bound)
        checked = run(check_part, parts(), csv_blocks.merge_checks, layout, decisions, classes, {}, (seed, bound))
        candidates = pd.concat(checked.sample)
    chosen = csv_blocks.pick_sample(candidates, sample_rows)
    sample = sample_table(chosen, layout, decisions, notes, checked.missing, Path(csv.path))
    return Scanned(layout, decisions, parts, sample, chosen[csv_blocks.ROW_ID].to_numpy(dtype=np.int64), ev.kept, mode)


def check_part(part, layout, decisions, classes, wanted, sample) -> csv_blocks.Check:
    """Pass 2 on one block, with the row ids the decisions give it."""
    seed, bound = sample
    return csv_blocks.check(
        part,
        layout,
        decisions.numeric,
        decisions.inferred,
        classes,
        wanted,
        (decisions.offsets.get(part.index, 0), seed, bound),
    )


def items(scanned: Scanned, sensitive: list[str]) -> Callable[[], Iterable[CsvItem]]:
    """The blocks to encode and write, each typed inside its task (:func:`pipeline.scale.prepare.as_block`)."""
    return lambda: (CsvItem(p, scanned.layout, scanned.decisions, list(sensitive)) for p in scanned.parts())
