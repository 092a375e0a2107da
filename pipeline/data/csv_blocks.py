"""A user's CSV file read in blocks of records, typed exactly as :mod:`pipeline.data.csv_source` types it whole.

Why: the local loader's typing rules are whole-file decisions (a column is numeric when *every*
value is a number; classes come from every label; a missing number is filled with the median of
the whole column). Here each block reports mergeable evidence instead — per column the non-empty
cells, the missing-value tokens and the cells that are numbers, the labels with their rows, a
histogram of each numeric column's values — and the driver merges it into the same decisions
(:func:`decide`). A second look at the blocks validates them against those decisions, finds the exact
median inside the histogram bucket that holds it, counts the missing cells and offers the rows of a
hash-stratified sample; the blocks are then typed (:func:`typed_block`) with the decisions alone.

Blocks are byte ranges a worker reads itself when records are lines (no quote character, ``\\n`` or
``\\r\\n`` line ends, a single-byte or UTF-8 encoding); otherwise the driver parses the file chunk by chunk
and sends each chunk (a quoted field may hold a line break, so a byte offset is no record boundary).
Nothing here needs Ray: :mod:`pipeline.scale.csv_read` runs these functions in Ray tasks.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DataSettings
from pipeline.data import csv_source, hash_split, validate
from pipeline.errors import BadInputError

#: Encodings in which byte 0x0A is always a line feed and 0x22 always a quote (record = line holds).
LINE_SAFE = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "latin-1", "cp1252", "iso8859-15"}
SCAN_BYTES = 1 << 26
#: Bits of a number's order key that pick its histogram bucket (the top 16 of 64).
BUCKET_SHIFT = 48


@dataclass(frozen=True)
class Layout:
    """The file's shape, decided on the driver from its header and the settings."""

    path: str  # absolute: workers run in other folders
    shown: str  # as data.csv.path names it, for messages
    delimiter: str
    encoding: str
    columns: list[str]  # one final name per field (duplicates renamed, case matched)
    dropped: list[str]  # data.csv.drop
    target: str
    roles: dict[str, str]  # an existing system's score / decision column, by role
    sensitive: list[str]
    declared: dict[str, str]  # column -> numeric | categorical (settings and the sensitive codes)
    missing_policy: str


@dataclass(frozen=True)
class Part:
    """One block of data records: a byte range (read by the worker) or records the driver parsed."""

    index: int
    first_record: int  # data row number (0: the record after the header) of its first record
    start: int = 0
    end: int = 0
    first_line: int = 0  # file line (1-based) of its first byte
    frame: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------- reading
def header(path: Path, delimiter: str, encoding: str) -> list[str]:
    """The header's fields, as the whole-file reader reads them."""
    try:
        first = pd.read_csv(path, nrows=1, **csv_source.read_options(delimiter, encoding))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        validate.raise_if_any([csv_source.parse_error(err, path, delimiter, encoding)])
    return [str(c).strip() if pd.notna(c) else "" for c in first.iloc[0]]


def line_ranges(path: Path, encoding: str, block_rows: int) -> list[Part] | None:
    """Byte ranges of ``block_rows`` data lines each, or None when a record need not be a line."""
    if codecs.lookup(encoding).name not in LINE_SAFE:
        return None
    starts: list[int] = []
    newlines, offset = 0, 0
    with open(path, "rb") as fh:
        while chunk := fh.read(SCAN_BYTES):
            while chunk.endswith(b"\r") and (more := fh.read(1)):
                chunk += more
            if b'"' in chunk or chunk.count(b"\r") != chunk.count(b"\r\n"):
                return None
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            numbers = newlines + np.arange(len(ends))  # newline j ends line j (0: the header)
            starts += (offset + ends[numbers % block_rows == 0] + 1).tolist()
            newlines += len(ends)
            offset += len(chunk)
    starts = [s for s in starts if s < offset]
    bounds = [*starts, offset]
    return [
        Part(i, i * block_rows, bounds[i], bounds[i + 1], first_line=2 + i * block_rows) for i in range(len(starts))
    ]


def driver_parts(path: Path, delimiter: str, encoding: str, block_rows: int) -> Iterator[Part]:
    """The records after the header, parsed here chunk by chunk (quoted fields may span lines)."""
    options = csv_source.read_options(delimiter, encoding)
    try:
        with pd.read_csv(path, chunksize=block_rows, **options) as reader:
            for i, chunk in enumerate(reader):
                data = chunk.iloc[1:] if i == 0 else chunk
                data.index = data.index - 1
                if len(data):
                    yield Part(i, int(data.index[0]), frame=data)
    except pd.errors.ParserError as err:
        validate.raise_if_any([csv_source.parse_error(err, path, delimiter, encoding)])


def _read_range(part: Part, layout: Layout) -> pd.DataFrame:
    with open(layout.path, "rb") as fh:
        fh.seek(part.start)
        raw = fh.read(part.end - part.start)
    options = csv_source.read_options(layout.delimiter, layout.encoding)
    try:
        data = pd.read_csv(io.BytesIO(raw), names=list(range(len(layout.columns))), index_col=False, **options)
    except pd.errors.ParserError as err:
        detail = re.sub(r"\s+", " ", str(err)).strip()
        found = re.search(r"in line (\d+)", detail)
        if found:  # the block's line -> the file's line
            line = int(found.group(1)) + part.first_line - 1
            detail = detail[: found.start(1)] + str(line) + detail[found.end(1) :]
        raise BadInputError(f"{layout.shown}: cannot be parsed with delimiter {layout.delimiter!r}: {detail}") from None
    data.index = pd.RangeIndex(part.first_record, part.first_record + len(data))
    return data


def records(part: Part, layout: Layout) -> pd.DataFrame:
    """The block's records as the whole-file reader holds them: text, stripped, blank lines left out,
    index the data row numbers, columns named, ``data.csv.drop`` removed."""
    data = _read_range(part, layout) if part.frame is None else part.frame.copy()
    data = csv_source.tidy(data, list(layout.columns))
    return data.drop(columns=layout.dropped) if layout.dropped else data


# ------------------------------------------------------------------------- pass 1: typing evidence
@dataclass
class Evidence:
    """What one block (or the merge of several) says about the file's typing decisions."""

    rows: int = 0
    kept: int = 0  # rows kept by data.missing_sensitive
    gaps: int = 0  # rows with a missing sensitive value
    nonnull: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # the target's labels, every row
    kept_labels: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, dict[int, int]] = field(default_factory=dict)  # numbers of kept rows per bucket
    kept_per_part: dict[int, int] = field(default_factory=dict)


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b), key=str)}


def merge(a: Evidence, b: Evidence) -> Evidence:
    columns = sorted(set(a.tokens) | set(b.tokens))
    return Evidence(
        rows=a.rows + b.rows,
        kept=a.kept + b.kept,
        gaps=a.gaps + b.gaps,
        nonnull=_add(a.nonnull, b.nonnull),
        tokens={c: _add(a.tokens.get(c, {}), b.tokens.get(c, {})) for c in columns},
        numbers=_add(a.numbers, b.numbers),
        labels=_add(a.labels, b.labels),
        kept_labels=_add(a.kept_labels, b.kept_labels),
        buckets={c: _add(a.buckets.get(c, {}), b.buckets.get(c, {})) for c in sorted(set(a.buckets) | set(b.buckets))},
        kept_per_part={**a.kept_per_part, **b.kept_per_part},
    )


def typed_columns(layout: Layout, columns) -> list[str]:
    """Columns that get a type (every one but the target and an existing system's columns)."""
    skip = {layout.target, *layout.roles.values()}
    return [c for c in columns if c not in skip]


def order_keys(values: np.ndarray) -> np.ndarray:
    """int64 keys in the order of the float64 ``values`` (the sign-magnitude bits made two's complement)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))


def _gaps(frame: pd.DataFrame, layout: Layout) -> pd.Series:
    return frame[layout.sensitive].isna().any(axis=1)


def _kept(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    return frame[~_gaps(frame, layout)] if layout.missing_policy == "drop" else frame


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts(dropna=True).items()}


def evidence(part: Part, layout: Layout) -> Evidence:
    """Pass 1 on one block: the counts the typing decisions are made from."""
    frame = records(part, layout)
    kept = _kept(frame, layout)
    out = Evidence(rows=len(frame), kept=len(kept), gaps=int(_gaps(frame, layout).sum()))
    out.kept_per_part = {part.index: len(kept)}
    out.labels, out.kept_labels = _counts(frame[layout.target]), _counts(kept[layout.target])
    for name in typed_columns(layout, frame.columns):
        values = frame[name].dropna()
        tokens = values.isin(validate.MISSING_TOKENS)
        rest = values[~tokens]
        out.nonnull[name] = len(values)
        out.tokens[name] = _counts(values[tokens])
        out.numbers[name] = int(rest.str.fullmatch(validate.NUMBER).sum())
        if out.numbers[name] == len(rest) or layout.declared.get(name) == "numeric":  # can still be numeric
            numbers = pd.to_numeric(kept[name].where(~kept[name].isin(validate.MISSING_TOKENS)), errors="coerce")
            keys = order_keys(numbers.dropna().to_numpy(dtype=np.float64)) >> BUCKET_SHIFT
            found, rows = np.unique(keys, return_counts=True)
            out.buckets[name] = {int(k): int(n) for k, n in zip(found, rows)}
    return out


# --------------------------------------------------------------------------------- the decisions
@dataclass(frozen=True)
class Decisions:
    """Everything a block needs to be typed as the whole file would be."""

    numeric: list[str]
    categorical: list[str]
    inferred: list[str]  # numeric columns whose type was inferred (their missing-value tokens become empty)
    classes: list[str]
    favourable: str
    medians: dict[str, float]  # numeric columns with a missing value -> the whole column's median
    notes: list[str]
    offsets: dict[int, int]  # part index -> row_id of its first kept row


def column_types(ev: Evidence, layout: Layout, columns: list[str]) -> tuple[list[str], list[str], list[str]]:
    """:func:`pipeline.data.csv_source.column_types` from the merged counts: ``(numeric, categorical, inferred)``."""
    numeric, categorical, inferred = [], [], []
    for name in typed_columns(layout, columns):
        kind = layout.declared.get(name)
        if kind is None:
            valid = ev.nonnull.get(name, 0) - sum(ev.tokens.get(name, {}).values())
            kind = "numeric" if valid and ev.numbers.get(name, 0) == valid else "categorical"
            if kind == "numeric":
                inferred.append(name)
        (numeric if kind == "numeric" else categorical).append(name)
    return numeric, categorical, inferred


def token_notes(ev: Evidence, inferred: list[str]) -> list[str]:
    notes = []
    for name in inferred:
        found = {k: n for k, n in ev.tokens.get(name, {}).items() if n}
        if found:
            notes.append(
                f"'{name}': {sum(found.values())} cells holding {', '.join(map(repr, sorted(found)))} read as "
                "missing numbers (the column stays numeric)"
            )
    return notes


def median_ranks(ev: Evidence, numeric: list[str]) -> dict[str, dict]:
    """Per numeric column with a missing value among the kept rows: the buckets holding the middle
    value(s) and the middle values' ranks inside them (``(n - 1) // 2`` and ``n // 2`` over the column)."""
    wanted = {}
    for name in numeric:
        buckets = ev.buckets.get(name, {})
        n = sum(buckets.values())
        if n == ev.kept or n == 0:
            continue  # nothing to fill (or nothing to take a median of: pandas gives NaN)
        keys = sorted(buckets)
        ends = np.cumsum([buckets[k] for k in keys])
        spots = []
        for rank in ((n - 1) // 2, n // 2):
            i = int(np.searchsorted(ends, rank, side="right"))
            spots.append((keys[i], rank - (int(ends[i - 1]) if i else 0)))
        wanted[name] = {"spots": spots, "empty": n == 0}
    return wanted


def median_from(values: dict[float, int], spots: list[tuple[int, int]]) -> float:
    """The median from the exact values (with their rows) of the buckets that hold the middle ranks."""
    ordered = sorted(values)
    keys = order_keys(np.asarray(ordered, dtype=np.float64)) >> BUCKET_SHIFT if ordered else np.zeros(0, np.int64)
    middle = []
    for bucket, rank in spots:
        inside = [(v, values[v]) for v, k in zip(ordered, keys) if k == bucket]
        ends = np.cumsum([n for _, n in inside])
        middle.append(inside[int(np.searchsorted(ends, rank, side="right"))][0])
    return float(np.mean(middle))  # np.median's mean of the two middle values


# ------------------------------------------------------------------ pass 2: validation and sample
def blank_tokens(frame: pd.DataFrame, inferred: list[str]) -> pd.DataFrame:
    for name in inferred:
        tokens = frame[name].isin(validate.MISSING_TOKENS)
        if tokens.any():
            frame[name] = frame[name].mask(tokens)
    return frame


@dataclass
class Check:
    """Pass 2 of one block (or the merge of several)."""

    failures: list[list[dict]] = field(default_factory=list)  # per block, in block order
    missing: dict[str, int] = field(default_factory=dict)
    middle: dict[str, dict[float, int]] = field(default_factory=dict)  # column -> value -> rows
    sample: list[pd.DataFrame] = field(default_factory=list)  # candidate rows: text, row_id and hash


def merge_checks(a: Check, b: Check) -> Check:
    middle = {c: _add(a.middle.get(c, {}), b.middle.get(c, {})) for c in sorted(set(a.middle) | set(b.middle))}
    candidates = a.sample + b.sample
    sample = [prune(pd.concat(candidates, ignore_index=True))] if candidates else []
    return Check(a.failures + b.failures, _add(a.missing, b.missing), middle, sample)


SAMPLE_HASH = "__sample_hash"
ROW_ID = "__row_id"
STRATUM = "__stratum"
UNDER_BOUND = "__under_bound"


def prune(candidates: pd.DataFrame) -> pd.DataFrame:
    """The candidates that can still be picked: those under the hash bound, and each stratum's
    :data:`pipeline.data.hash_split.STRATUM_FLOOR` of smallest hash (so the driver holds about the
    sample's size, never every block's candidates)."""
    ranks = hash_split.stratum_ranks(
        candidates[STRATUM].to_numpy(), candidates[SAMPLE_HASH].to_numpy(), candidates[ROW_ID].to_numpy()
    )
    return candidates[candidates[UNDER_BOUND].to_numpy() | (ranks < hash_split.STRATUM_FLOOR)]


def check(
    part: Part, layout: Layout, numeric: list[str], inferred: list[str], classes_setting, wanted: dict, sample: tuple
) -> Check:
    """Pass 2 on one block: validation failures, missing cells, the middle buckets' values and the sample's
    candidate rows (``sample``: ``(offset, seed, bound)``: rows whose sample hash is below ``bound``)."""
    frame = blank_tokens(records(part, layout), inferred)
    failures = validate.row_failures(
        frame,
        target=layout.target,
        numeric=numeric,
        sensitive=layout.sensitive,
        fail_on_missing_sensitive=layout.missing_policy == "fail",
        classes=classes_setting,
    )
    out = Check([failures], {c: int(frame[c].isna().sum()) for c in frame.columns})
    kept = _kept(frame, layout)
    for name, spec in wanted.items():
        values = pd.to_numeric(kept[name], errors="coerce").dropna().to_numpy(dtype=np.float64)
        buckets = {b for b, _ in spec["spots"]}
        inside = values[np.isin(order_keys(values) >> BUCKET_SHIFT, list(buckets))]
        found, rows = np.unique(inside, return_counts=True)
        out.middle[name] = {float(v): int(n) for v, n in zip(found, rows)}
    offset, seed, bound = sample
    row_id = np.arange(offset, offset + len(kept), dtype=np.int64)
    u = hash_split.uniform(row_id, seed, hash_split.SAMPLE_SALT)
    strata = hash_split.strata_of(kept[layout.target], kept[layout.sensitive])
    under = u < bound
    chosen = under | (hash_split.stratum_ranks(strata, u, row_id) < hash_split.STRATUM_FLOOR)
    candidates = kept[chosen].copy()
    candidates[ROW_ID], candidates[SAMPLE_HASH], candidates[STRATUM] = row_id[chosen], u[chosen], strata[chosen]
    candidates[UNDER_BOUND] = under[chosen]
    out.sample = [candidates]
    return out


def pick_sample(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows :func:`pipeline.data.hash_split.stratified_sample` picks among all rows, in row_id order:
    the ``n`` candidates with the smallest sample hash (ties: the smaller row_id) and each stratum's
    smallest up to its floor."""
    row_id, u = candidates[ROW_ID].to_numpy(), candidates[SAMPLE_HASH].to_numpy()
    keep = np.zeros(len(candidates), dtype=bool)
    keep[np.lexsort((row_id, u))[:n]] = True
    strata = candidates[STRATUM].to_numpy()
    _, codes = np.unique(strata, return_inverse=True)
    floor = hash_split.stratum_floor(n, int(codes.max()) + 1 if len(codes) else 0)
    keep |= hash_split.stratum_ranks(codes, u, row_id) < floor
    return candidates.iloc[np.flatnonzero(keep)]


# ------------------------------------------------------------------------------- typing a block
def typed(frame: pd.DataFrame, layout: Layout, decisions: Decisions) -> pd.DataFrame:
    """Records (:func:`records`) typed with the whole file's decisions, rows of data.missing_sensitive:
    drop left out; the frame the local loader builds, restricted to these rows."""
    frame = _kept(blank_tokens(frame, decisions.inferred), layout).copy()
    csv_source.apply_types(frame, decisions.numeric, decisions.categorical, decisions.medians)
    return frame


def typed_block(part: Part, layout: Layout, decisions: Decisions) -> tuple[np.ndarray, pd.DataFrame]:
    """``(row_id, typed frame)`` of one block: row_id counts kept rows across the file, as the local
    table's positions do."""
    frame = typed(records(part, layout), layout, decisions)
    start = decisions.offsets[part.index]
    return np.arange(start, start + len(frame), dtype=np.int64), frame


def decide(ev: Evidence, layout: Layout, settings: DataSettings, columns: list[str]) -> tuple[Decisions, dict]:
    """The decisions the whole-file loader makes, from the merged evidence (before the second pass
    finds the medians), and which middle buckets to collect."""
    numeric, categorical, inferred = column_types(ev, layout, columns)
    labels = pd.Series(list(ev.kept_labels), dtype=object)
    classes, favourable, class_notes = csv_source.decide_classes(labels, settings)
    offsets, running = {}, 0
    for index in sorted(ev.kept_per_part):
        offsets[index], running = running, running + ev.kept_per_part[index]
    notes = token_notes(ev, inferred) + csv_source.gap_note(ev.gaps, layout.missing_policy) + class_notes
    decisions = Decisions(numeric, categorical, inferred, classes, favourable, {}, notes, offsets)
    return decisions, median_ranks(ev, numeric)
