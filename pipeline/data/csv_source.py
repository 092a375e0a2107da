"""A user's own CSV file (``data.source: csv``), read once and never modified.

Every cell is read as text with ``keep_default_na=False`` so that a literal ``NA`` (a real
category in many tables) stays a value; only empty fields count as missing. Types are decided
after validation: columns declared numeric, plus undeclared ones whose every value is a number.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from pipeline.config import DataSettings
from pipeline.data import validate
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError

MISSING_LEVEL = "<missing>"


def rename_duplicates(header: list[str]) -> tuple[list[str], list[str]]:
    """Second and later copies of a name become ``name.1``, ``name.2`` (pandas' convention)."""
    seen: dict[str, int] = {}
    out, renamed = [], []
    for name in header:
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            while new in header:
                seen[name] += 1
                new = f"{name}.{seen[name]}"
            out.append(new)
            renamed.append(f"duplicate column '{name}' renamed to '{new}' (data.csv.duplicate_columns: rename)")
        else:
            seen[name] = 0
            out.append(name)
    return out, renamed


#: Rows parsed at a time. The C parser makes a Python string per cell before a column becomes a
#: compact Arrow string column; reading in chunks bounds those to one chunk.
READ_CHUNK_ROWS = 50_000


def read_options(delimiter: str, encoding: str) -> dict:
    """``pd.read_csv`` arguments every reader of a user's file uses (whole or in blocks): text cells,
    only empty fields missing, blank lines kept as empty records (so row numbers stay record numbers)."""
    return {
        "sep": delimiter,
        "header": None,
        "dtype": str,
        "keep_default_na": False,
        "na_values": [""],
        "skip_blank_lines": False,
        "engine": "c",
        "encoding": encoding,
    }


def _read_chunks(path: Path, delimiter: str, encoding: str) -> pd.DataFrame:
    """Every cell as text, read from the path in chunks (the index continues across chunks)."""
    with pd.read_csv(path, chunksize=READ_CHUNK_ROWS, **read_options(delimiter, encoding)) as reader:
        chunks = list(reader)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks)


def parse_error(err: Exception, path: Path, delimiter: str, encoding: str) -> validate.Problem:
    """A parser error worded with the physical line where the bad record starts."""
    detail = _physical_line(re.sub(r"\s+", " ", str(err)).strip(), path, delimiter, encoding)
    return validate.Problem(str(path), f"cannot be parsed with delimiter {delimiter!r}: {detail}")


def tidy(data: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """Data records (index: data row numbers) without blank lines, named ``header``, cells stripped."""
    filled = data.notna().any(axis=1)
    if not filled.all():  # a boolean selection copies the table: only when there are blank lines
        data = data[filled]
    data.columns = header
    for column in range(data.shape[1]):  # one column at a time: ``apply`` would build a second table
        data.isetitem(column, data.iloc[:, column].str.strip())
    return data


def read_frame(path: Path, delimiter: str, encoding: str, duplicates: str = "error") -> pd.DataFrame:
    """The raw table as strings (NaN only for empty fields), header validated.

    Renamed duplicate columns are listed in ``frame.attrs["renamed_columns"]``.
    """
    validate.raise_if_any(validate.inside_project(path))
    validate.check_text(path, encoding)
    try:
        frame = _read_chunks(path, delimiter, encoding)
    except pd.errors.ParserError as err:
        validate.raise_if_any([parse_error(err, path, delimiter, encoding)])
    header = [str(c).strip() if pd.notna(c) else "" for c in frame.iloc[0]]
    problems = validate.structure(path, header, delimiter, duplicates)
    if len(frame) < 2 or frame.iloc[1:].isna().all(axis=None):
        problems.append(validate.Problem(str(path), NO_DATA_ROWS))
    validate.raise_if_any(problems)
    # Blank lines are read as empty rows and dropped here, keeping each row's index tied to its
    # record number (row r is record r + 1), from which messages find the record's first line.
    data = frame.iloc[1:]
    del frame
    data.index = data.index - 1
    header, renamed = rename_duplicates(header)
    data = tidy(data, header)
    data.attrs["renamed_columns"] = renamed
    return data


NO_DATA_ROWS = "has a header but no data rows"


def _physical_line(detail: str, path: Path, delimiter: str, encoding: str) -> str:
    """pandas counts records in "Expected 3 fields in line 5": name the line where it starts instead."""
    found = re.search(r"in line (\d+)", detail)
    if not found:
        return detail
    row = int(found.group(1)) - 1 - validate.HEADER_LINES  # pandas' 1-based record -> data row
    line = validate.record_start_lines(path, delimiter, encoding, [row])[0]
    return detail[: found.start(1)] + str(line) + detail[found.end(1) :]


def sort_labels(labels: list[str]) -> list[str]:
    """Numeric-aware order ('2' before '10'), else lexical: the model's output order."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _same_number(label: str, classes: list[str]) -> str:
    """The one class equal to ``label`` as a number (``1.0`` for ``1``), else ``label`` unchanged."""
    try:
        value = float(label)
    except ValueError:
        return label
    matches = []
    for c in classes:
        try:
            if float(c) == value:
                matches.append(c)
        except ValueError:
            continue
    return matches[0] if len(matches) == 1 else label


def decide_classes(target: pd.Series, settings: DataSettings) -> tuple[list[str], str, list[str]]:
    """Class order and the favourable class; default favourable is the last class in that order."""
    csv = settings.csv
    classes = list(csv.classes) if csv.classes else sort_labels([str(v) for v in target.dropna().unique()])
    wanted = csv.positive_label or settings.favourable_label
    notes = []
    if wanted is None:
        wanted = classes[-1]
        notes.append(f"favourable class not configured (data.csv.positive_label): using the last class '{wanted}'")
    if wanted not in classes:
        wanted = _same_number(wanted, classes)
    if wanted not in classes:
        raise BadInputError(f"{csv.path}: data.csv.positive_label {wanted!r} is not one of the classes {classes}")
    return classes, wanted, notes


def column_types(frame: pd.DataFrame, declared: dict[str, str], skip: set[str]) -> tuple[list[str], list[str]]:
    """Declared types win; an undeclared column is numeric when every non-empty value is a number
    or a missing-value token (``NaN``, ``NA``, ``null``, ...) and at least one is a number."""
    numeric, categorical = [], []
    for name in frame.columns:
        if name in skip:
            continue
        kind = declared.get(name)
        if kind is None:
            values = frame[name].dropna()
            values = values[~values.isin(validate.MISSING_TOKENS)]
            kind = "numeric" if len(values) and values.str.fullmatch(validate.NUMBER).all() else "categorical"
        (numeric if kind == "numeric" else categorical).append(name)
    return numeric, categorical


def blank_missing_tokens(frame: pd.DataFrame, numeric: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Missing-value tokens in numeric columns become empty cells, with a note per column saying so."""
    notes = []
    for name in numeric:
        tokens = frame[name].isin(validate.MISSING_TOKENS)
        if tokens.any():
            found = sorted(frame.loc[tokens, name].unique())
            notes.append(
                f"'{name}': {int(tokens.sum())} cells holding {', '.join(map(repr, found))} read as missing "
                "numbers (the column stays numeric)"
            )
            frame[name] = frame[name].mask(tokens)
    return frame, notes


def sensitive_columns(settings: DataSettings) -> list[str]:
    """The file's columns behind the sensitive attributes (a one-hot attribute is its columns)."""
    out = []
    for name in settings.sensitive or []:
        out += list(settings.sensitive_onehot[name]) if name in settings.sensitive_onehot else [name]
    return out


def codes_as_text(settings: DataSettings) -> dict[str, str]:
    """Plain sensitive columns are categorical whatever their values look like: ``01``, ``1`` and
    ``1.0`` are three codes in a file, and read as numbers they became one group ``1.0``. A column
    to be banded (``data.sensitive_bins``) or in a one-hot group stays as inferred."""
    return {
        name: "categorical"
        for name in settings.sensitive or []
        if name not in settings.sensitive_onehot and name not in settings.sensitive_bins
    }


def configured_columns(settings: DataSettings) -> dict[str, list[str]]:
    csv = settings.csv
    plain = [s for s in settings.sensitive or [] if s not in settings.sensitive_onehot]
    wanted = {"data.csv.target": [csv.target], "data.sensitive": plain}
    for name, columns in settings.sensitive_onehot.items():
        wanted[f"data.sensitive_onehot.{name}"] = list(columns)
    wanted["data.csv.column_types"] = list(csv.column_types)
    wanted["data.csv.drop"] = list(csv.drop)
    for role in ("score", "decision", "decision_date"):
        if getattr(csv, role):
            wanted[f"data.csv.{role}"] = [getattr(csv, role)]
    return wanted


def match_case(frame: pd.DataFrame, wanted: dict[str, list[str]]) -> tuple[pd.DataFrame, list[str]]:
    """Columns named in another case than the settings (``SEX`` for ``sex``) take the settings'
    spelling, when exactly one column matches; the rest stay for :func:`validate.columns_exist`."""
    columns = list(frame.columns)
    by_key: dict[str, list[str]] = {}
    for column in columns:
        by_key.setdefault(column.strip().lower(), []).append(column)
    mapping, notes = {}, []
    for names in wanted.values():
        for name in names:
            matches = by_key.get(name.strip().lower(), [])
            if name in columns or len(matches) != 1 or matches[0] in mapping:
                continue
            mapping[matches[0]] = name
            notes.append(f"column '{matches[0]}' matched the setting '{name}' ignoring case")
    return (frame.rename(columns=mapping), notes) if mapping else (frame, [])


def load(settings: DataSettings, val_size: float, test_size: float) -> RawTable:
    """Read, validate (all problems at once) and type the user's table."""
    csv = settings.csv
    path = Path(csv.path)
    frame = read_frame(path, csv.delimiter, csv.encoding, csv.duplicate_columns)
    renamed = list(frame.attrs.get("renamed_columns", []))
    frame, case_notes = match_case(frame, configured_columns(settings))
    renamed += case_notes
    validate.raise_if_any(validate.columns_exist(path, list(frame.columns), configured_columns(settings)))
    frame = frame.drop(columns=list(csv.drop))
    roles = {r: getattr(csv, r) for r in ("score", "decision") if getattr(csv, r)}
    skip = {csv.target, *roles.values()}
    numeric, categorical = column_types(frame, {**codes_as_text(settings), **csv.column_types}, skip)
    # Inferred numerics only: in a column declared numeric a token is refused with its lines.
    frame, token_notes = blank_missing_tokens(frame, [c for c in numeric if c not in csv.column_types])
    sensitive = sensitive_columns(settings)
    problems = validate.row_rules(
        path,
        frame,
        target=csv.target,
        numeric=numeric,
        sensitive=sensitive,
        fail_on_missing_sensitive=settings.missing_sensitive == "fail",
        classes=list(csv.classes) if csv.classes else None,
        locate=functools.partial(validate.record_start_lines, path, csv.delimiter, csv.encoding),
    )
    if not any(p.column == csv.target for p in problems):
        problems += validate.label_rules(path, frame[csv.target], csv.target, val_size, test_size)
    validate.raise_if_any(problems)
    table = _to_table(frame, settings, numeric, categorical, roles)
    table.notes[:0] = renamed + token_notes
    return table


def gap_note(gaps: int, policy: str) -> list[str]:
    if not gaps:
        return []
    if policy == "drop":
        return [f"dropped {gaps} rows with a missing sensitive value (data.missing_sensitive=drop)"]
    return [f"{gaps} rows with a missing sensitive value kept as the group '{MISSING_LEVEL}'"]


def fill_notes(filled: dict[str, int]) -> list[str]:
    return [f"'{name}': {n} missing numbers filled with the column median" for name, n in filled.items()]


def apply_types(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], medians: dict[str, float] | None = None
) -> dict[str, int]:
    """Type ``frame``'s columns in place: categories with missing values as the level ``<missing>``,
    float64 numbers with missing ones filled with the column median (``medians``: the medians of the
    whole file, when ``frame`` is a block of it; else each column's own). Returns the filled cells per column."""
    filled = {}
    for name in categorical:  # as categories: a code per row instead of a string per row
        frame[name] = frame[name].fillna(MISSING_LEVEL).astype("category")
    for name in numeric:
        values = pd.to_numeric(frame[name]).astype("float64")
        gaps = int(values.isna().sum())
        if gaps:
            filled[name] = gaps
            values = values.fillna(values.median() if medians is None else medians[name])
        frame[name] = values
    return filled


def extras(frame: pd.DataFrame, roles: dict[str, str]) -> dict[str, pd.Series]:
    """An existing system's score (a number, or NaN) and decision (as text), by role."""
    extra = {}
    if "score" in roles:
        extra["score"] = pd.to_numeric(frame[roles["score"]], errors="coerce")
    if "decision" in roles:
        extra["decision"] = frame[roles["decision"]].astype(str)
    return extra


def _to_table(
    frame: pd.DataFrame, settings: DataSettings, numeric: list[str], categorical: list[str], roles: dict[str, str]
) -> RawTable:
    """Apply the missing-value policy and build the :class:`RawTable`."""
    csv = settings.csv
    missing = {c: int(frame[c].isna().sum()) for c in frame.columns}
    gaps = frame[sensitive_columns(settings)].isna().any(axis=1)
    notes = gap_note(int(gaps.sum()), settings.missing_sensitive)
    if gaps.any() and settings.missing_sensitive == "drop":
        frame = frame[~gaps].reset_index(drop=True)
    classes, favourable, class_notes = decide_classes(frame[csv.target], settings)
    notes += class_notes
    notes += fill_notes(apply_types(frame, numeric, categorical))
    extra = extras(frame, roles)
    from pipeline.io import sha256_file

    return RawTable(
        features=frame[numeric + categorical].reset_index(drop=True),
        target=frame[csv.target].astype(str).reset_index(drop=True),
        classes=classes,
        favourable=favourable,
        numeric=numeric,
        categorical=categorical,
        provenance={Path(csv.path).name: sha256_file(csv.path)},
        extra=extra,
        notes=notes,
        missing=missing,
    )


def source(settings: DataSettings, raw_dir: Path) -> RawTable:
    """The loader of ``data.source: csv`` (pipeline/tables/data_sources.py): ``data.csv.path`` names the file."""
    return load(settings, settings.val_size, settings.test_size)
