"""The column screen: input columns that cannot inform a model honestly, excluded with a reason.

Real files carry columns no model should read, and none of them is an error in the file:

* ``empty``: no value in any row; ``constant``: one value in every row (nothing to learn);
* ``mostly_empty``: missing in more than ``data.max_missing_share`` of the rows (a date filled
  only for people who had a later event says *who had the event*, and its median-filled values
  are mostly invented);
* ``copy``: the same values as an earlier column, or a one-to-one recoding of it (``x.1`` after
  ``duplicate_columns: rename``, ``decile_score.1`` beside the audited ``decile_score``). A copy
  of the existing system's score or decision would let the network imitate the system it is
  compared with; a copy of the target is the plainest leak (the leakage check names it too).

Identifiers (unique among non-empty values) are the PII scan's business (:mod:`pipeline.data.pii`).
Every finding is written to ``data.json`` (``screen``) and printed; a column listed in
``data.keep_columns`` stays an input, still named.

Two columns are one-to-one exactly when their integer codes in order of first appearance are
equal, so columns are grouped by a hash of those codes: one pass, no pairwise comparison. A
one-to-one map between two columns with a level in almost every row is no evidence (any two
distinct-valued columns map one-to-one), so a recoding that is not an exact copy counts only when
the column has at most half as many levels as rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from pipeline.data.table import RawTable

MISSING_LEVEL = "<missing>"
#: Share of missing rows above which a column is mostly empty (``data.max_missing_share``).
DEFAULT_MAX_MISSING_SHARE = 0.5
#: A recoding (not an exact copy) counts only when levels <= rows * this share.
MAX_RECODING_LEVEL_SHARE = 0.5


def _codes_and_levels(values: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes in order of first appearance (a missing value is a level) and the levels as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, order = pd.factorize(values.cat.codes.to_numpy(), use_na_sentinel=False)
        categories = np.append(values.cat.categories.astype(str).to_numpy(dtype=object), "nan")
        return codes.astype(np.int64), tuple(categories[order])
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")  # an int score and its float copy are the same numbers
    codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=False)
    return codes.astype(np.int64), tuple(str(u) for u in uniques)


def _missing_share(table: RawTable, column: str) -> float:
    n = len(table.features)
    if not n:
        return 0.0
    if column in table.missing:
        return table.missing[column] / n
    values = table.features[column]
    return float((values.isna() | (values.astype(str) == MISSING_LEVEL)).mean())


def _references(table: RawTable) -> dict[str, pd.Series]:
    """Columns a copy is compared with before any input: the target and the existing system."""
    refs = {"target": table.target}
    for role, series in table.extra.items():
        refs[role] = series
    return refs


def copies(table: RawTable, columns: list[str], reference_names: dict[str, str] | None = None) -> dict[str, dict]:
    """``{copy: {"reason", "of"}}``; the first column of a group (the target and the existing
    system's outputs first, then file order) is the original, ``of`` names it (a role or a column)."""
    n = len(table.features)
    first: dict[bytes, list[tuple[str, str, tuple[str, ...]]]] = {}
    found = {}
    named = reference_names or {}
    candidates = [(role, f"the {named.get(role, role)}", series) for role, series in _references(table).items()]
    candidates += [(c, f"'{c}'", table.features[c]) for c in columns]
    for key_name, words, values in candidates:
        codes, levels = _codes_and_levels(values.reset_index(drop=True))
        if len(levels) < 2:
            continue
        key = hashlib.sha256(codes.tobytes()).digest()
        earlier = first.setdefault(key, [])
        for original, original_words, original_levels in earlier:
            exact = levels == original_levels
            if exact or len(levels) <= MAX_RECODING_LEVEL_SHARE * n:
                kind = "an exact copy" if exact else "a one-to-one recoding"
                found[key_name] = {"reason": f"{kind} of {original_words}", "of": original}
                break
        else:
            earlier.append((key_name, words, levels))
    wanted = set(columns)
    return {c: why for c, why in found.items() if c in wanted}


def screen(
    table: RawTable,
    columns: list[str],
    *,
    max_missing_share: float | None = DEFAULT_MAX_MISSING_SHARE,
    keep: list[str] = (),
    reference_names: dict[str, str] | None = None,
) -> dict:
    """``{"findings": [{"column", "kind", "reason", "excluded"}], "excluded": [...], ...}`` over ``columns``.

    ``reference_names`` words the target and existing-system columns (``{"score": "score
    'decile_score'"}``) in a copy's reason.
    """
    findings = []
    copied = copies(table, columns, reference_names)
    for column in columns:
        values = table.features[column]
        share = _missing_share(table, column)
        distinct = values[~(values.isna() | (values.astype(str) == MISSING_LEVEL))].nunique()
        if share >= 1.0:
            kind, reason = "empty", "empty in every row"
        elif distinct <= 1 and share == 0:
            kind, reason = "constant", f"the same value in every row ('{values.iloc[0]}')"
        elif max_missing_share is not None and share > max_missing_share:
            kind, reason = "mostly_empty", f"empty in {share:.0%} of rows (data.max_missing_share {max_missing_share})"
        elif column in copied:
            kind, reason = "copy", copied[column]["reason"]
        else:
            continue
        finding = {"column": column, "kind": kind, "reason": reason, "excluded": column not in set(keep)}
        if kind == "copy":
            finding["copy_of"] = copied[column]["of"]
        findings.append(finding)
    return {
        "findings": findings,
        "excluded": [f["column"] for f in findings if f["excluded"]],
        "max_missing_share": max_missing_share,
        "keep_columns": list(keep),
    }
