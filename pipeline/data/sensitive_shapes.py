"""Sensitive attributes in the shapes users have them, and every column that encodes one.

Files rarely hold ``race`` as one column: they hold ``Race_Black, Race_White, ...`` (one-hot) or a
numeric ``age``. Auditing those as eight one-vs-rest views or 56 one-year groups says nothing a
reader can use, so:

* ``data.sensitive_onehot: {race: [Race_Black, Race_White, ...]}`` collapses the columns into one
  attribute ``race`` whose groups are the column names without their shared prefix (``Black``);
* ``data.sensitive_bins: {age: [0, 25, 40, 60]}`` cuts a numeric column into bands; the attribute
  is ``age_band`` with groups such as ``[25, 40)``.

A model that reads ``Sex_2`` reads sex, whatever the card says. The columns an attribute was
built from, any other column that is a function of a sensitive attribute (a complement, a
recoding, a one-hot sibling the user did not list), and any few-levelled column from which the
attribute can be read exactly (German ``status_sex``) are its *encodings*: ``prepare`` keeps them
out of the inputs unless ``data.sensitive_as_features`` is true, and ``meta.json`` records them
so the card's statement about sensitive inputs is computed from what the model really reads.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from pipeline.config import DataSettings
from pipeline.data.table import RawTable
from pipeline.data.validate import closest
from pipeline.errors import BadInputError
from pipeline.stats.association import as_categories, determines

NO_GROUP, SEVERAL_GROUPS = "<none>", "<several>"
#: Rows per group needed before "column X is a function of the attribute" is taken as encoding it.
MIN_ROWS_PER_GROUP = 10
#: A column with at most this many levels (each with ``MIN_ROWS_PER_GROUP`` rows) from which the
#: attribute can be read exactly (``status_sex`` -> ``sex``) encodes it too; wider columns (ids,
#: names) determine anything by having a level per row, which says nothing.
MAX_ENCODING_LEVELS = 20


def _require(table: RawTable, columns: list[str], setting: str) -> None:
    have = list(map(str, table.features.columns))
    missing = [c for c in columns if c not in have]
    if missing:
        raise BadInputError(
            f"{setting} names column(s) {missing} that the data does not have; "
            + "".join(closest(c, have) for c in missing)
            + f"columns are: {', '.join(have)}"
        )


def group_labels(columns: list[str]) -> list[str]:
    """Column names without their shared prefix (``Race_Black`` -> ``Black``), else the names."""
    prefix = os.path.commonprefix(columns)
    labels = [c[len(prefix) :].lstrip("_.=- ") for c in columns]
    return labels if all(labels) and len(set(labels)) == len(labels) else list(columns)


def collapse_onehot(frame: pd.DataFrame, columns: list[str], attribute: str) -> pd.Series:
    """One attribute from indicator columns; rows with no or several 1s get their own group."""
    block = frame[columns].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in columns if not block[c].dropna().isin([0, 1]).all()]
    if bad:
        raise BadInputError(f"data.sensitive_onehot.{attribute}: column(s) {bad} hold values other than 0 and 1")
    hot = block.fillna(0).to_numpy() == 1
    labels = np.asarray(group_labels(columns), dtype=object)
    out = labels[hot.argmax(axis=1)]
    out = np.where(hot.sum(axis=1) == 0, NO_GROUP, out)
    out = np.where(hot.sum(axis=1) > 1, SEVERAL_GROUPS, out)
    return pd.Series(out, index=frame.index, dtype=object)


def band(values: pd.Series, edges: list[float]) -> pd.Series:
    """Numeric values as readable bands ``[a, b)``; values outside the edges get open bands."""

    def edge(x: float) -> str:
        return f"{x:g}"

    bounds = [-np.inf, *edges, np.inf]
    names = [f"under {edge(edges[0])}"]
    names += [f"[{edge(a)}, {edge(b)})" for a, b in zip(edges, edges[1:])]
    names += [f"{edge(edges[-1])} and over"]
    cut = pd.cut(values.astype("float64"), bins=bounds, labels=names, right=False)
    cut = cut.cat.remove_unused_categories() if hasattr(cut, "cat") else cut
    return cut.astype(str)


def derive(table: RawTable, settings: DataSettings) -> tuple[RawTable, DataSettings, dict[str, list[str]]]:
    """Add collapsed/banded attributes; return the table, settings naming the derived attributes,
    and ``{attribute: [columns encoding it]}``."""
    features = table.features.copy(deep=False)  # new columns only; the table's own stay shared
    categorical, notes = list(table.categorical), list(table.notes)
    encodings: dict[str, list[str]] = {}
    names = []
    for name in settings.sensitive:
        if name in settings.sensitive_onehot:
            columns = list(settings.sensitive_onehot[name])
            _require(table, columns, f"data.sensitive_onehot.{name}")
            if name in features.columns and name not in columns:
                raise BadInputError(
                    f"data.sensitive_onehot.{name}: the data already has a column '{name}'; "
                    "name the collapsed attribute differently"
                )
            features[name] = collapse_onehot(features, columns, name)
            encodings[name] = columns
            notes.append(f"sensitive attribute '{name}' collapsed from one-hot columns {columns}")
        elif name in settings.sensitive_bins:
            _require(table, [name], f"data.sensitive_bins.{name}")
            if name not in table.numeric:
                raise BadInputError(
                    f"data.sensitive_bins.{name}: column '{name}' is not numeric, so it cannot be banded"
                )
            derived = f"{name}_band"
            features[derived] = band(features[name], settings.sensitive_bins[name])
            encodings[derived] = [name]
            notes.append(f"sensitive attribute '{derived}' banded from '{name}' at {settings.sensitive_bins[name]}")
            name = derived
        else:
            encodings[name] = [c for c in table.derived_from.get(name, []) if c in features.columns]
        if name not in categorical and name not in table.numeric:
            categorical.append(name)
        names.append(name)
    refuse_single_group(features, names)
    new_table = dataclasses.replace(table, features=features, categorical=categorical, notes=notes)
    new_settings = settings.model_copy(update={"sensitive": names})
    add_dependent_columns(new_table, encodings)
    return new_table, new_settings, encodings


def refuse_single_group(features: pd.DataFrame, attributes: list[str]) -> None:
    """A sensitive attribute with one group has nothing to compare, and every other column would
    look like a function of it: refused (exit 2) naming the attribute and its one value."""
    for name in attributes:
        values = features[name].astype(str)
        if values.nunique(dropna=False) < 2:
            raise BadInputError(
                f"sensitive attribute '{name}' has a single group ('{values.iloc[0] if len(values) else ''}') "
                "in every row, so there is nothing to compare; check data.sensitive (and data.sensitive_onehot / "
                "data.sensitive_bins) names the column holding the groups"
            )


def _well_populated(values: np.ndarray) -> bool:
    counts = pd.Series(values).value_counts(dropna=False)
    return 1 < len(counts) <= MAX_ENCODING_LEVELS and counts.min() >= MIN_ROWS_PER_GROUP


def add_dependent_columns(table: RawTable, encodings: dict[str, list[str]]) -> None:
    """Other columns that encode a sensitive attribute: a function of it (a complement, a recoding,
    a one-hot sibling), or a few-levelled column the attribute can be read from exactly.

    Columns are compared as integer codes (equal values, equal codes), one column at a time:
    holding every column as an array of Python strings cost more memory than the table itself.
    """
    numeric = set(table.numeric)
    candidates = [c for c in table.features.columns if c not in encodings]
    attributes = {}
    for attribute in list(encodings):
        groups = _codes(table.features[attribute].astype(str))
        if groups.max(initial=-1) < 1:
            continue  # one group: any column "determines" a constant, which says nothing
        if (groups.max(initial=-1) + 1) * MIN_ROWS_PER_GROUP > len(groups):
            continue  # too few rows per group: a column could look like a function of it by chance
        attributes[attribute] = groups
    if not attributes:
        return
    for column in candidates:
        if all(column in encodings[a] for a in attributes):
            continue
        values = _codes(as_categories(table.features[column], column in numeric))
        if values.max(initial=-1) < 1:
            continue
        for attribute, groups in attributes.items():
            if column in encodings[attribute]:
                continue
            if determines(groups, values) or (_well_populated(values) and determines(values, groups)):
                encodings[attribute].append(str(column))


def _codes(values: pd.Series) -> np.ndarray:
    """One integer per distinct value (a missing value is a value of its own)."""
    return pd.factorize(values, use_na_sentinel=False)[0]
