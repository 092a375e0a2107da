"""Turn a :class:`RawTable` into encoded, split arrays plus the raw sensitive columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import DataSettings
from pipeline.data import encode, split
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError


@dataclass(frozen=True)
class PreparedSplit:
    X: np.ndarray
    y: np.ndarray
    groups: pd.DataFrame


@dataclass(frozen=True)
class Prepared:
    splits: dict[str, PreparedSplit]
    meta: dict


def model_inputs(
    table: RawTable, settings: DataSettings, excluded: list[str], encodings: dict[str, list[str]] | None = None
) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns the model sees: sensitive ones, and every column that
    encodes one (``encodings``), only if asked for."""
    drop = set(excluded)
    if not settings.sensitive_as_features:
        drop |= set(settings.sensitive)
        drop |= {c for columns in (encodings or {}).values() for c in columns}
    numeric = [c for c in table.numeric if c not in drop]
    categorical = [c for c in table.categorical if c not in drop]
    if not numeric and not categorical:
        raise BadInputError("no input columns are left after removing sensitive and excluded columns")
    return numeric, categorical


def check_sensitive(table: RawTable, sensitive: list[str]) -> None:
    missing = [c for c in sensitive if c not in table.features.columns]
    if missing:
        import difflib

        hints = {c: difflib.get_close_matches(c, list(table.features.columns), n=1) for c in missing}
        detail = ", ".join(f"'{c}'" + (f" (closest: '{hints[c][0]}')" if hints[c] else "") for c in missing)
        raise BadInputError(
            f"data.sensitive names column(s) {detail} that the data does not have; "
            f"columns are: {', '.join(map(str, table.features.columns))}"
        )


def split_labels(table: RawTable, settings: DataSettings, seed: int) -> pd.Series:
    """``train``/``val``/``test`` for each kept row (seeded: every caller gets the same rows)."""
    rows = split.subsample(table, settings.max_rows, seed)
    return split.assign(table, rows, val_size=settings.val_size, test_size=settings.test_size, seed=seed)


def check_finite(X: np.ndarray, feature_names: list[str], split_name: str) -> None:
    """Refuse a non-finite encoded matrix (exit 2) naming the columns, before anything is written."""
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        names = [feature_names[i] for i in np.flatnonzero(bad)[:10]]
        raise BadInputError(
            f"encoding the {split_name} split produced non-finite values (NaN or infinity) in column(s) {names}; "
            "the input holds numbers too large to scale"
        )


def prepare(
    table: RawTable,
    settings: DataSettings,
    seed: int,
    excluded: list[str] = (),
    *,
    encodings: dict[str, list[str]] | None = None,
    preflight=None,
) -> Prepared:
    """Split, fit encoders on the training rows, check the size (``preflight(n_rows, encoding)``),
    encode every split and refuse non-finite values."""
    from pipeline.data.sources import resolve

    settings = resolve(settings)
    check_sensitive(table, settings.sensitive)
    labels = split_labels(table, settings, seed)
    numeric, categorical = model_inputs(table, settings, list(excluded), encodings)
    class_index = {c: i for i, c in enumerate(table.classes)}
    train_rows = labels.index[labels == "train"].to_numpy()
    # Only the input columns, and rows picked chunk by chunk in ``transform``: a split's rows of the
    # whole table would be a copy of most of it.
    inputs = table.features[numeric + categorical]
    encoding = encode.fit(inputs.iloc[train_rows], numeric, categorical, settings.max_categories)
    if preflight is not None:
        preflight(len(labels), encoding)
    splits = {}
    for name in ("train", "val", "test"):
        idx = labels.index[labels == name].to_numpy()
        groups = table.features[settings.sensitive].iloc[idx].astype(str).reset_index(drop=True)
        for role, series in table.extra.items():
            groups[f"__{role}"] = series.iloc[idx].to_numpy()
        X = encode.transform(encoding, inputs, rows=idx)
        check_finite(X, encoding.feature_names, name)
        splits[name] = PreparedSplit(
            X=X,
            y=table.target.iloc[idx].map(class_index).to_numpy(dtype=np.int64),
            groups=groups,
        )
    rows = {name: int(len(s.y)) for name, s in splits.items()}
    meta = describe(table, settings, encoding, encodings=encodings, excluded=excluded, rows=rows)
    return Prepared(splits, meta)


def describe(
    table: RawTable,
    settings: DataSettings,
    encoding: encode.Encoding,
    *,
    encodings: dict[str, list[str]] | None,
    excluded,
    rows: dict[str, int],
) -> dict:
    """``meta.json``: what every later stage needs to know about the encoded data (both engines write it)."""
    class_index = {c: i for i, c in enumerate(table.classes)}
    encoded_by = {c for columns in (encodings or {}).values() for c in columns} | set(settings.sensitive)
    sensitive_inputs = sorted(c for c in encoding.numeric + encoding.categorical if c in encoded_by)
    return {
        "classes": table.classes,
        "favourable": table.favourable,
        "favourable_index": class_index[table.favourable],
        "feature_names": encoding.feature_names,
        "feature_groups": encoding.feature_groups,
        "encoder_state": encoding.state,
        "input_columns": encoding.numeric + encoding.categorical,
        "sensitive": list(settings.sensitive),
        # Computed from what the model reads, so the card's sentence about it cannot be wrong.
        "sensitive_as_features": bool(sensitive_inputs),
        "sensitive_as_features_setting": settings.sensitive_as_features,
        "sensitive_encodings": {k: list(v) for k, v in (encodings or {}).items()},
        "sensitive_inputs": sensitive_inputs,
        "capped_columns": list(encoding.capped),
        "excluded_columns": sorted(excluded),
        "source": settings.source,
        "provenance": table.provenance,
        "notes": table.notes,
        "rows": dict(rows),
    }
