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


def model_inputs(table: RawTable, settings: DataSettings, excluded: list[str]) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns the model sees: sensitive ones only if asked for."""
    drop = set(excluded)
    if not settings.sensitive_as_features:
        drop |= set(settings.sensitive)
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


def prepare(table: RawTable, settings: DataSettings, seed: int, excluded: list[str] = ()) -> Prepared:
    """Split, fit encoders on the training rows, encode every split."""
    from pipeline.data.sources import resolve

    settings = resolve(settings)
    check_sensitive(table, settings.sensitive)
    rows = split.subsample(table, settings.max_rows, seed)
    labels = split.assign(table, rows, val_size=settings.val_size, test_size=settings.test_size, seed=seed)
    numeric, categorical = model_inputs(table, settings, list(excluded))
    class_index = {c: i for i, c in enumerate(table.classes)}
    train_rows = labels.index[labels == "train"].to_numpy()
    encoding = encode.fit(table.features.iloc[train_rows], numeric, categorical)
    splits = {}
    for name in ("train", "val", "test"):
        idx = labels.index[labels == name].to_numpy()
        frame = table.features.iloc[idx]
        groups = frame[settings.sensitive].astype(str).reset_index(drop=True)
        for role, series in table.extra.items():
            groups[f"__{role}"] = series.iloc[idx].to_numpy()
        splits[name] = PreparedSplit(
            X=encode.transform(encoding, frame),
            y=table.target.iloc[idx].map(class_index).to_numpy(dtype=np.int64),
            groups=groups,
        )
    meta = {
        "classes": table.classes,
        "favourable": table.favourable,
        "favourable_index": class_index[table.favourable],
        "feature_names": encoding.feature_names,
        "feature_groups": encoding.feature_groups,
        "encoder_state": encoding.state,
        "input_columns": numeric + categorical,
        "sensitive": list(settings.sensitive),
        "sensitive_as_features": settings.sensitive_as_features,
        "excluded_columns": sorted(excluded),
        "source": settings.source,
        "provenance": table.provenance,
        "notes": table.notes,
        "rows": {name: int(len(s.y)) for name, s in splits.items()},
    }
    return Prepared(splits, meta)
