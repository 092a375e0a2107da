"""Validation of a user's table: every problem collected first, then one error listing them all.

Structural problems (the file, its delimiter, its header) are checked by hand because they decide
whether there is a table at all; row-level rules (numeric values, allowed labels, missing
sensitive values) are a pandera schema validated lazily, so one run
reports all failures. Each problem names the file, the column, how many rows fail and one example
value, and says how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import BadInputError

NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
OTHER_DELIMITERS = (",", ";", "\t", "|")
#: Largest magnitude accepted in a numeric cell: standardising squares values, and beyond about
#: 1e154 a square overflows float64, turning the whole column into NaN. Real measurements stay
#: far below this bound; bigger values are refused with their line.
MAX_MAGNITUDE = 1e100
#: Cells that mean "no number here" in a numeric column; read as missing (and said so in a note).
MISSING_TOKENS = frozenset({"nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "none", "?"})
#: Lines of a CSV file: the header is line 1, so data row ``i`` (0-based) is line ``i + 2``.
HEADER_LINES = 1
MAX_LINES_SHOWN = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, worded for the person who owns the file."""

    file: str
    message: str
    column: str | None = None
    rows: int | None = None
    example: str | None = None
    lines: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.file}: column '{self.column}'" if self.column is not None else self.file
        detail = []
        if self.rows is not None:
            detail.append(f"{self.rows} row{'s' if self.rows != 1 else ''}")
        if self.example is not None:
            detail.append(f"e.g. {self.example!r}")
        if self.lines:
            more = "" if (self.rows or 0) <= len(self.lines) else ", ..."
            detail.append(f"line{'s' if len(self.lines) > 1 else ''} {', '.join(map(str, self.lines))}{more}")
        suffix = f" [{'; '.join(detail)}]" if detail else ""
        return f"{where}: {self.message}{suffix}"


def raise_if_any(problems: list[Problem]) -> None:
    """One :class:`BadInputError` listing every problem (nothing is written before this)."""
    if not problems:
        return
    if len(problems) == 1:
        raise BadInputError(str(problems[0]))
    lines = "\n".join(f"  - {p}" for p in problems)
    raise BadInputError(f"{len(problems)} problems with the input data:\n{lines}")


def line_numbers(index: pd.Index | list[int], locate: Callable[[list[int]], list[int]] | None = None) -> list[int]:
    """File line numbers of data rows (header is line 1), the first few only.

    ``locate`` maps data row numbers to the physical lines where those records start (see
    :func:`record_start_lines`); without it each record is assumed to take one line.
    """
    rows = [int(i) for i in list(index)[:MAX_LINES_SHOWN]]
    if locate is not None:
        return locate(rows)
    return [i + HEADER_LINES + 1 for i in rows]


def record_start_lines(path: Path, delimiter: str, encoding: str, rows: list[int]) -> list[int]:
    """The physical line (as an editor numbers it) where each data row in ``rows`` starts.

    A quoted field may hold line breaks, so record ``r`` need not sit on line ``r + 2``. The file
    is read again with the csv module, which counts lines (``line_num``) as it parses records the
    way pandas' C parser does (blank lines included, ``\r``, ``\n`` and ``\r\n`` ending a line);
    it stops after the last row asked for. Called only when a problem is reported, so a valid file
    is parsed once. Should the csv module refuse the file, rows are assumed to be one line each.
    """
    import csv

    wanted = {HEADER_LINES + r: r for r in rows}  # record number (header = 0) -> data row
    found: dict[int, int] = {}
    last = max(wanted, default=-1)
    try:
        with open(path, encoding=encoding, newline=None) as fh:  # universal newlines: \r, \r\n, \n
            reader = csv.reader(fh, delimiter=delimiter)
            start = 1
            for record, _ in enumerate(reader):
                if record in wanted:
                    found[wanted[record]] = start
                if record >= last:
                    break
                start = reader.line_num + 1
    except (csv.Error, OSError, UnicodeError, ValueError):
        return [r + HEADER_LINES + 1 for r in rows]
    return [found.get(r, r + HEADER_LINES + 1) for r in rows]


def closest(name: str, columns: list[str]) -> str:
    """'closest match: x' for a misspelt column name, or nothing when none is close."""
    match = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    if not match:
        lowered = {c.lower(): c for c in columns}
        match = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"closest match: '{match[0]}'; " if match else ""


def inside_project(path: Path, root: Path | None = None) -> list[Problem]:
    """A relative ``data.csv.path`` must stay inside the project: ``../../etc/shadow`` is refused
    before a byte is read, so no message can echo another file's contents."""
    root = (root or Path.cwd()).resolve()
    if path.is_absolute():
        return []
    resolved = (root / path).resolve()
    if resolved == root or root in resolved.parents:
        return []
    return [
        Problem(
            str(path),
            "data.csv.path leads outside the project folder; copy the file into the project "
            "(e.g. data/raw/) or give an absolute path",
        )
    ]


def finite_numbers(values: pd.Series) -> pd.Series:
    """True where a numeric cell is a finite number of magnitude at most :data:`MAX_MAGNITUDE`."""
    as_float = pd.to_numeric(values, errors="coerce").astype("float64")
    return as_float.isna() | as_float.abs().le(MAX_MAGNITUDE)  # non-numbers have their own rule


def check_text(path: Path, encoding: str, block: int = 1 << 24) -> None:
    """What :func:`read_text` checks (the file exists, is readable, not empty, valid in
    ``encoding``), decoding block by block so a large file is never held whole in memory.

    Any failure is reported by :func:`read_text` itself, so the message is the same either way.
    """
    import codecs

    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        blank, nul = True, False
        with open(path, "rb") as fh:
            while not nul and (chunk := fh.read(block)):
                nul = "\x00" in decoder.decode(chunk)  # valid UTF-8, but NULs mean UTF-16 read as something else
                blank = blank and not chunk.strip()
            if not nul:
                decoder.decode(b"", final=True)
        if not (blank or nul):
            return
    except (OSError, LookupError, UnicodeDecodeError):
        pass
    read_text(path, encoding)  # raises the precise error (or, should the file have changed, passes)


def encoding_hint(raw: bytes) -> str:
    """What the bytes say about the encoding: a UTF-16/32 byte-order mark or NUL bytes between characters
    mean UTF-16 or UTF-32, where the usual latin-1 advice would decode the file into nonsense."""
    import codecs

    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "the file starts with a UTF-32 byte-order mark: set data.csv.encoding: utf-32 (or save it as UTF-8)"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "the file starts with a UTF-16 byte-order mark: set data.csv.encoding: utf-16 (or save it as UTF-8)"
    if b"\x00" in raw[:4096]:
        return (
            "the file holds NUL bytes between characters, as UTF-16 text without a byte-order mark does: set "
            "data.csv.encoding: utf-16-le (or utf-16-be), or save it as UTF-8"
        )
    return "set data.csv.encoding (e.g. latin-1 or cp1252) to the file's encoding"


def read_text(path: Path, encoding: str) -> str:
    """The file's text; missing, unreadable, empty or wrongly encoded files are named errors."""
    if not path.exists():
        raise_if_any([Problem(str(path), "file not found (data.csv.path)")])
    if not path.is_file():
        raise_if_any([Problem(str(path), "is not a regular file (data.csv.path must name a CSV file)")])
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise_if_any([Problem(str(path), f"cannot be read ({err.strerror or err})")])
    if not raw.strip():
        raise_if_any([Problem(str(path), "file is empty: expected a header line and data rows")])
    try:
        text = raw.decode(encoding)
        if "\x00" in text:
            raise_if_any([Problem(str(path), f"holds NUL characters once read as {encoding}; {encoding_hint(raw)}")])
        return text
    except LookupError:
        raise_if_any([Problem(str(path), f"unknown encoding {encoding!r} (data.csv.encoding)")])
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.end + 3]
        raise_if_any(
            [
                Problem(
                    str(path),
                    f"is not valid {encoding} text ({err.reason} at byte {err.start}); {encoding_hint(raw)}",
                    example=repr(bad),
                    lines=[line],
                )
            ]
        )
    raise AssertionError("unreachable")  # pragma: no cover - every branch above returns or raises


def structure(path: Path, header: list[str], delimiter: str, duplicates: str = "error") -> list[Problem]:
    """Problems with the header itself: one column (wrong delimiter) or duplicate names
    (unless ``data.csv.duplicate_columns`` is ``rename``)."""
    problems = []
    if len(header) == 1:
        found = [d for d in OTHER_DELIMITERS if d != delimiter and d in header[0]]
        if found:
            problems.append(
                Problem(
                    str(path),
                    f"the header splits into one column with delimiter {delimiter!r} but contains {found[0]!r}: "
                    f"set data.csv.delimiter to {found[0]!r}",
                    column=header[0],
                )
            )
    counts = pd.Series(header).value_counts()
    for name, n in counts[counts > 1].items() if duplicates == "error" else ():
        problems.append(
            Problem(
                str(path),
                f"duplicate column name, appears {n} times in the header; rename all but one "
                "or set data.csv.duplicate_columns: rename",
                column=name,
            )
        )
    return problems


def columns_exist(path: Path, columns: list[str], wanted: dict[str, list[str]]) -> list[Problem]:
    """Every configured column must exist; name the closest match and list what exists."""
    problems = []
    if len(columns) == 1:  # not a table (or the wrong delimiter): never echo what the line holds
        missing = [f"{setting} ('{n}')" for setting, names in wanted.items() for n in names if n not in columns]
        if missing:
            return [
                Problem(
                    str(path),
                    f"the file reads as a single column, so {', '.join(missing)} cannot be found; "
                    "is it a CSV file, and is data.csv.delimiter right?",
                )
            ]
    for setting, names in wanted.items():
        for name in names:
            if name not in columns:
                hint = onehot_hint(name, columns) if setting == "data.sensitive" else ""
                problems.append(
                    Problem(
                        str(path),
                        f"{setting} names column '{name}', which the file does not have; "
                        f"{hint or closest(name, columns)}columns are: {', '.join(columns)}",
                        column=name,
                    )
                )
    return problems


def onehot_hint(name: str, columns: list[str]) -> str:
    """When the attribute is spread over one-hot columns (``race`` -> ``Race_Black``, ``race_white``),
    the setting that audits them as one attribute, in YAML and as a ``dvc exp run -S`` line."""
    key = name.strip().lower()
    matches = [
        c for c in columns if c.lower().startswith(key) and c[len(key) : len(key) + 1] in ("_", ".", "=", "-", " ")
    ]
    if len(matches) < 2:
        return ""
    listed = ", ".join(matches)
    return (
        f"the file has one-hot columns {listed}: audit them as one attribute with "
        f"data.sensitive_onehot: {{{name}: [{listed}]}} (or dvc exp run -S '++data.sensitive_onehot.{name}="
        f"[{listed}]'); "
    )


def _rule_messages(target: str, classes: list[str] | None, found: dict[str, int]) -> dict[str, str]:
    """The user-facing wording of each named pandera check."""
    mapping = ", ".join(f"{c!r} -> {i}" for i, c in enumerate(classes or []))
    seen = ", ".join(f"{k!r}: {v}" for k, v in found.items())
    return {
        "numeric": "non-numeric values in a column declared numeric (data.csv.column_types)",
        "finite": (
            f"numbers that are infinite or larger than {MAX_MAGNITUDE:g} in magnitude, which cannot be scaled "
            "without overflowing; fix or remove those rows"
        ),
        "allowed_labels": (
            f"labels outside data.csv.classes (configured mapping: {mapping}; labels found with counts: {seen})"
        ),
        "not_nullable": "missing values (empty fields)",
        "target_missing": f"missing values in the target column '{target}'; fill or remove those rows",
        "sensitive_missing": (
            "missing values in a sensitive column and data.missing_sensitive is 'fail' "
            "(use 'drop' to drop those rows or 'group' to keep them as the group '<missing>')"
        ),
    }


def _schema(
    frame: pd.DataFrame,
    *,
    target: str,
    numeric: list[str],
    sensitive: list[str],
    fail_on_missing_sensitive: bool,
    classes: list[str] | None,
):
    """A pandera schema of the raw string table: one named check per rule."""
    import pandera.pandas as pa

    columns = {}
    for name in frame.columns:
        # Empty and constant input columns are not errors: prepare's column screen excludes them
        # with a warning (pipeline.data.screen). A sensitive attribute with one group is refused there.
        checks = []
        if name in numeric:
            checks.append(pa.Check(lambda s: s.str.fullmatch(NUMBER), name="numeric", ignore_na=True))
            checks.append(pa.Check(finite_numbers, name="finite", ignore_na=True))
        if name == target and classes:
            checks.append(pa.Check(lambda s: s.isin(classes), name="allowed_labels", ignore_na=True))
        if name == target:
            checks.append(pa.Check(lambda s: s.notna(), name="target_missing", ignore_na=False))
        if name in sensitive and fail_on_missing_sensitive:
            checks.append(pa.Check(lambda s: s.notna(), name="sensitive_missing", ignore_na=False))
        columns[name] = pa.Column(None, checks=checks, nullable=True)  # every cell is text; no dtype rule
    return pa.DataFrameSchema(columns, strict=False)


def row_failures(
    frame: pd.DataFrame,
    *,
    target: str,
    numeric: list[str],
    sensitive: list[str],
    fail_on_missing_sensitive: bool,
    classes: list[str] | None,
) -> list[dict]:
    """Each failing (column, check) of the string table, validated with pandera (lazily: all failures):
    rows failing, the first few data row numbers and the first failing row's value. Mergeable over
    blocks of rows (:func:`merge_failures`)."""
    import pandera.errors as pe

    schema = _schema(
        frame,
        target=target,
        numeric=numeric,
        sensitive=sensitive,
        fail_on_missing_sensitive=fail_on_missing_sensitive,
        classes=classes,
    )
    try:
        schema.validate(frame, lazy=True)
        return []
    except pe.SchemaErrors as err:
        cases = err.failure_cases
    failures = []
    for (column, check), part in cases.groupby(["column", "check"], sort=False, dropna=False):
        column = str(column)
        rows = part[part["index"].notna()]
        index = sorted(int(i) for i in rows["index"])
        example_rows = frame.loc[index[:1], column] if index else pd.Series(dtype=object)
        example = None if example_rows.empty or pd.isna(example_rows.iloc[0]) else str(example_rows.iloc[0])
        failures.append(
            {
                "column": column,
                "check": str(check),
                "rows": len(index),
                "first": index[:MAX_LINES_SHOWN],
                "example": example,
            }
        )
    return failures


def merge_failures(parts: list[list[dict]]) -> list[dict]:
    """The failures of consecutive blocks of rows as one table's: rows summed, the earliest rows and example kept."""
    merged: dict[tuple[str, str], dict] = {}
    for part in parts:
        for failure in part:
            key = (failure["column"], failure["check"])
            if key not in merged:
                merged[key] = dict(failure)
                continue
            seen = merged[key]
            first = sorted(seen["first"] + failure["first"])
            if failure["first"] and (not seen["first"] or failure["first"][0] < seen["first"][0]):
                seen["example"] = failure["example"]
            seen.update(rows=seen["rows"] + failure["rows"], first=first[:MAX_LINES_SHOWN])
    return list(merged.values())


def word_failures(
    path: Path,
    failures: list[dict],
    *,
    target: str,
    classes: list[str] | None,
    found: dict[str, int],
    locate: Callable[[list[int]], list[int]] | None = None,
) -> list[Problem]:
    """One :class:`Problem` per failing (column, check); ``found``: the target's labels with their rows."""
    words = _rule_messages(target, classes, found)
    return [
        Problem(
            str(path),
            words.get(f["check"].split("(")[0], f"failed check {f['check']}"),
            column=f["column"],
            rows=f["rows"],
            example=f["example"],
            lines=line_numbers(f["first"], locate),
        )
        for f in failures
    ]


def row_rules(
    path: Path,
    frame: pd.DataFrame,
    *,
    target: str,
    numeric: list[str],
    sensitive: list[str],
    fail_on_missing_sensitive: bool,
    classes: list[str] | None,
    locate: Callable[[list[int]], list[int]] | None = None,
) -> list[Problem]:
    """Validate the string table with pandera (lazily: all failures) and word each failure.

    ``locate`` turns data row numbers into file lines (:func:`line_numbers`)."""
    failures = row_failures(
        frame,
        target=target,
        numeric=numeric,
        sensitive=sensitive,
        fail_on_missing_sensitive=fail_on_missing_sensitive,
        classes=classes,
    )
    if not failures:
        return []
    found = frame[target].value_counts(dropna=True).to_dict() if target in frame else {}
    found = {str(k): int(v) for k, v in found.items()}
    return word_failures(path, failures, target=target, classes=classes, found=found, locate=locate)


def label_rules(path: Path, target: pd.Series, column: str, val_size: float, test_size: float) -> list[Problem]:
    """A target needs two classes, and each class enough rows for a stratified split."""
    return label_count_rules(path, target.dropna().value_counts(), column, val_size, test_size)


def label_count_rules(path: Path, counts: pd.Series, column: str, val_size: float, test_size: float) -> list[Problem]:
    """:func:`label_rules` from the labels' row counts (``value_counts`` order: most rows first)."""
    if len(counts) < 2:
        example = None if counts.empty else str(counts.index[0])
        return [
            Problem(
                str(path),
                "the target has a single class; a classifier needs at least two",
                column=column,
                rows=int(counts.sum()),
                example=example,
            )
        ]
    n = int(counts.sum())
    n_classes = len(counts)
    test_rows = int(n * test_size)
    val_rows = int((n - test_rows) * val_size)
    smallest = counts.idxmin()
    if counts.min() < 3 or test_rows < n_classes or val_rows < n_classes:
        return [
            Problem(
                str(path),
                f"too few rows for the splits: {n} rows in {n_classes} classes (smallest '{smallest}' has "
                f"{int(counts.min())}) give {test_rows} test and {val_rows} validation rows with data.test_size="
                f"{test_size}, data.val_size={val_size}; every class needs at least 3 rows and each split one "
                "row per class",
                column=column,
                rows=n,
                example=str(smallest),
            )
        ]
    return []
