"""Pick the data source named by ``data.source`` (a row of :mod:`pipeline.tables.data_sources`)
and settle its sensitive columns and labels."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from pipeline.config import DataSettings
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError
from pipeline.paths import RAW_DIR
from pipeline.tables.data_sources import SOURCES

#: The level bundled sources give an unknown value (kept as a group, dropped or refused).
MISSING_LEVEL = "<missing>"


def resolve(settings: DataSettings) -> DataSettings:
    """``settings`` with ``sensitive`` filled in from the source's defaults when null (the config
    refuses a null for a source without defaults)."""
    if settings.sensitive is not None:
        return settings
    return settings.model_copy(update={"sensitive": list(SOURCES[settings.source].sensitive)})


def with_favourable(table: RawTable, label: str | None) -> RawTable:
    """Override the favourable class (``data.favourable_label``), refusing a label not in the data."""
    if label is None or label == table.favourable:
        return table
    if label not in table.classes:
        raise BadInputError(f"data.favourable_label {label!r} is not one of the classes {table.classes}")
    return dataclasses.replace(table, favourable=label, notes=[*table.notes, f"favourable class set to '{label}'"])


def apply_missing_policy(table: RawTable, sensitive: list[str], policy: str) -> RawTable:
    """Bundled sources mark unknown values '<missing>': keep them as a group, drop or refuse them."""
    gaps = table.features[sensitive].astype(str).eq(MISSING_LEVEL).any(axis=1)
    if not gaps.any() or policy == "group":
        return table
    if policy == "fail":
        counts = {c: int(table.features[c].astype(str).eq(MISSING_LEVEL).sum()) for c in sensitive}
        raise BadInputError(
            f"missing values in sensitive columns {counts} and data.missing_sensitive is 'fail' (use 'drop' or 'group')"
        )
    keep = (~gaps).to_numpy()

    def pick(series):
        return None if series is None else series[keep].reset_index(drop=True)

    return dataclasses.replace(
        table,
        features=table.features[keep].reset_index(drop=True),
        target=pick(table.target),
        official_split=pick(table.official_split),
        extra={k: pick(v) for k, v in table.extra.items()},
        notes=[
            *table.notes,
            f"dropped {int(gaps.sum())} rows with a missing sensitive value (data.missing_sensitive=drop)",
        ],
    )


def loader(name: str):
    """The loader function of source ``name``, imported from the path its table row names."""
    module, function = SOURCES[name].loader.split(":")
    return getattr(importlib.import_module(module), function)


def load_source(settings: DataSettings, raw_dir: Path = RAW_DIR) -> RawTable:
    """Load and validate the configured table; raise :class:`BadInputError` on bad input."""
    settings = resolve(settings)
    table = loader(settings.source)(settings, raw_dir)
    if not SOURCES[settings.source].bundled:
        return table
    table = with_favourable(table, settings.favourable_label)
    return apply_missing_policy(table, settings.sensitive, settings.missing_sensitive)
